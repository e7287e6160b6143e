//! Connection caps: how many WebSocket connections this node holds in total and per client
//! IP, and a way to wait until they are all gone (graceful shutdown).
//!
//! A connection holds a [`Slot`] from before its upgrade until its task has finished closing;
//! dropping the slot gives the place back.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::Notify;

/// Which cap refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Node,
    Ip,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

#[derive(Debug)]
pub struct Connections {
    max_total: usize,
    max_per_ip: usize,
    counts: Mutex<Counts>,
    /// Signalled whenever the total drops to zero.
    emptied: Notify,
}

impl Connections {
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(Self { max_total, max_per_ip, counts: Mutex::default(), emptied: Notify::new() })
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a place for a connection from `ip`, or says which cap is full.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refused> {
        let mut counts = self.counts();
        if counts.total >= self.max_total {
            return Err(Refused::Node);
        }
        let from_ip = counts.per_ip.entry(ip).or_default();
        if *from_ip >= self.max_per_ip {
            return Err(Refused::Ip);
        }
        *from_ip += 1;
        counts.total += 1;
        Ok(Slot { conns: Arc::clone(self), ip })
    }

    pub fn open(&self) -> usize {
        self.counts().total
    }

    /// Resolves when no connection is open, or after `deadline`; true if none is open.
    pub async fn wait_until_empty(&self, deadline: Duration) -> bool {
        let waiting = async {
            loop {
                let emptied = self.emptied.notified();
                if self.open() == 0 {
                    return;
                }
                emptied.await;
            }
        };
        tokio::time::timeout(deadline, waiting).await.is_ok()
    }
}

/// Set on a TCP connection that came over its client's cap: every request on it is refused
/// and the connection closed.
#[derive(Debug, Clone, Copy)]
pub struct OverCap;

/// One connection's place under the caps; released on drop.
#[derive(Debug)]
pub struct Slot {
    conns: Arc<Connections>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.conns.counts();
        counts.total -= 1;
        if let Some(n) = counts.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
        if counts.total == 0 {
            self.conns.emptied.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn caps_hold_and_places_come_back() {
        let conns = Connections::new(3, 2);
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let a1 = conns.admit(a).unwrap();
        let _a2 = conns.admit(a).unwrap();
        assert_eq!(conns.admit(a).unwrap_err(), Refused::Ip);
        let _b1 = conns.admit(b).unwrap();
        assert_eq!(conns.admit(b).unwrap_err(), Refused::Node);
        drop(a1);
        assert!(conns.admit(b).is_ok());
        assert_eq!(conns.open(), 3 - 1);
    }

    #[tokio::test]
    async fn waiting_ends_when_the_last_connection_goes() {
        let conns = Connections::new(10, 10);
        let slot = conns.admit("127.0.0.1".parse().unwrap()).unwrap();
        let waiter = tokio::spawn({
            let conns = conns.clone();
            async move { conns.wait_until_empty(Duration::from_secs(30)).await }
        });
        drop(slot);
        assert!(waiter.await.unwrap());
        // Nothing open: no waiting at all.
        assert!(Connections::new(1, 1).wait_until_empty(Duration::ZERO).await);
    }
}
