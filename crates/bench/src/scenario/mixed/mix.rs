//! The ratio of a `mixed` run (`--mix answers=1,votes=10,edits=1`) and the order in which each
//! question gets the kinds.

use std::{fmt, str::FromStr};

use serde::{Serialize, Serializer};

use crate::messages::Kind;

/// The relative weights of answers, votes and edits: `answers=1,votes=10,edits=1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    weights: [u32; 3],
}

impl Mix {
    fn weight(&self, kind: Kind) -> u32 {
        self.weights[kind as usize]
    }
}

impl FromStr for Mix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut weights = [0u32; 3];
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) =
                part.split_once('=').ok_or_else(|| format!("{part:?}: expected kind=weight"))?;
            let kind = Kind::ALL
                .into_iter()
                .find(|k| k.plural() == name.trim())
                .ok_or_else(|| format!("{name:?}: the kinds are answers, votes and edits"))?;
            weights[kind as usize] = weight.trim().parse().map_err(|e| format!("{part:?}: {e}"))?;
        }
        if weights.iter().all(|&w| w == 0) {
            return Err("give at least one kind a weight above 0".into());
        }
        Ok(Self { weights })
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> =
            Kind::ALL.iter().map(|k| format!("{}={}", k.plural(), self.weight(*k))).collect();
        f.write_str(&parts.join(","))
    }
}

impl Serialize for Mix {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Smooth weighted round-robin (as nginx balances upstreams): over every `sum of weights`
/// picks each kind exactly its weight's times, spread out rather than in runs.
#[derive(Debug, Default)]
pub struct Schedule {
    current: [i64; 3],
}

impl Schedule {
    pub fn next(&mut self, mix: &Mix) -> Kind {
        let total: i64 = mix.weights.iter().map(|&w| i64::from(w)).sum();
        for kind in Kind::ALL {
            self.current[kind as usize] += i64::from(mix.weight(kind));
        }
        let pick = Kind::ALL
            .into_iter()
            .filter(|k| mix.weight(*k) > 0)
            .max_by_key(|k| (self.current[*k as usize], std::cmp::Reverse(*k as usize)))
            .unwrap_or(Kind::Answer);
        self.current[pick as usize] -= total;
        pick
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_parses_and_prints() {
        let mix: Mix = "answers=1, votes=10,edits=1".parse().unwrap();
        assert_eq!(mix.weights, [1, 10, 1]);
        assert_eq!(mix.to_string(), "answers=1,votes=10,edits=1");
        assert_eq!("votes=3".parse::<Mix>().unwrap().weights, [0, 3, 0]);
        assert!("answers=0".parse::<Mix>().is_err());
        assert!("likes=1".parse::<Mix>().is_err());
        assert!("answers".parse::<Mix>().is_err());
        assert!("answers=-1".parse::<Mix>().is_err());
    }

    #[test]
    fn schedule_keeps_the_ratio_and_spreads_the_kinds() {
        let mix: Mix = "answers=1,votes=10,edits=1".parse().unwrap();
        let mut schedule = Schedule::default();
        let picks: Vec<Kind> = (0..24).map(|_| schedule.next(&mix)).collect();
        for round in picks.chunks(12) {
            let count = |k| round.iter().filter(|&&p| p == k).count();
            assert_eq!((count(Kind::Answer), count(Kind::Vote), count(Kind::Edit)), (1, 10, 1));
        }
        // Never two answers or two edits in a row; the votes come in runs of at most six.
        assert!(picks.windows(2).all(|w| w[0] != w[1] || w[0] == Kind::Vote));
        assert!(picks.windows(7).all(|w| w.iter().any(|&p| p != Kind::Vote)));
        let only_votes: Mix = "votes=1".parse().unwrap();
        assert!((0..5).all(|_| schedule.next(&only_votes) == Kind::Vote));
    }
}
