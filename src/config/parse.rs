//! Value parsers for the flags whose values have rules of their own (a lower bound, a length,
//! a list of hosts), and the one-line error a broken rule becomes.
//!
//! clap runs these as it reads each flag or variable, so a value that breaks its rule never
//! reaches a [`Config`](super::Config). clap knows which flag the value came from; the parser
//! only says what is wrong ([`Invalid`]), and [`Cli::from_env`](super::Cli::from_env) puts the
//! two together as `--db-pool (QA_HUB_DB_POOL) must be at least 1`, the way every other
//! start-up error reads.

use std::{fmt, str::FromStr};

use clap::{
    CommandFactory,
    error::{ContextKind, ContextValue},
};

/// What is wrong with a flag's value, without naming the flag (clap knows it): either
/// `must …` or the value itself, quoted, and what it is not.
#[derive(Debug)]
pub struct Invalid(String);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A number of at least `min`. A value that is not a number gets clap's own message.
pub fn at_least<T>(min: T) -> impl Fn(&str) -> Result<T, BoxError> + Clone + Send + Sync + 'static
where
    T: FromStr + PartialOrd + fmt::Display + Copy + Send + Sync + 'static,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    move |value| {
        let n: T = value.parse()?;
        if n < min {
            return Err(Invalid(format!("must be at least {min}")).into());
        }
        Ok(n)
    }
}

/// A value of a type whose `FromStr` says what is wrong with it (a list of origins, of hosts).
pub fn parsed<T: FromStr<Err = String>>(value: &str) -> Result<T, Invalid> {
    value.parse().map_err(|why| Invalid(format!(": {why}")))
}

/// `--metrics-token`: long enough that guessing it is hopeless.
pub fn metrics_token(value: &str) -> Result<String, Invalid> {
    if value.len() < 16 {
        return Err(Invalid("must be at least 16 characters".into()));
    }
    Ok(value.to_owned())
}

/// `--node-id`: it goes into connection names (Postgres' `application_name`, NATS'), so only
/// characters that need no quoting anywhere.
pub fn node_id(value: &str) -> Result<String, Invalid> {
    let ok = (1..=40).contains(&value.len())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        return Err(Invalid("must be 1 to 40 letters, digits, '.', '_' or '-'".into()));
    }
    Ok(value.to_owned())
}

/// The start-up error for a clap error that an [`Invalid`] caused: `--flag (ENV) what`.
/// `None` for every other clap error (usage mistakes, `--help`), which clap reports itself.
pub(super) fn one_line(error: &clap::Error) -> Option<String> {
    let invalid = std::error::Error::source(error)?.downcast_ref::<Invalid>()?;
    // clap names the argument as in the usage line: `--db-pool <DB_POOL>`.
    let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) else { return None };
    let flag = arg.split_whitespace().next()?;
    let command = super::Cli::command();
    let env = command
        .get_arguments()
        .find(|a| a.get_long().is_some_and(|long| flag.strip_prefix("--") == Some(long)))
        .and_then(|a| a.get_env())
        .map(|env| format!(" ({})", env.to_string_lossy()))
        .unwrap_or_default();
    let space = if invalid.0.starts_with(':') { "" } else { " " };
    Some(format!("{flag}{env}{space}{invalid}"))
}
