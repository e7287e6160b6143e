//! Webhooks: a URL that gets every event of one topic as a signed POST, in seq order.
//!
//! The rules that hold wherever a webhook is registered or sent: which URLs may be called
//! (the operator's `--webhook-allow` list: the hub must not become a way to reach addresses
//! on its own network), which addresses a URL's host may resolve to, how a body is signed,
//! and how long a failing endpoint waits before the next try.

use std::{
    net::{IpAddr, SocketAddr},
    sync::LazyLock,
    time::Duration,
};

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use ipnet::IpNet;
use sha2::Sha256;
use uuid::Uuid;

use super::{DomainError, Topic};

/// Webhooks one user may have.
pub const MAX_WEBHOOKS_PER_USER: i64 = 10;

/// The header that carries the signature: `t=<unix seconds>,v1=<hex HMAC-SHA256>`.
pub const SIGNATURE_HEADER: &str = "QA-Hub-Signature";

/// A stored webhook (its secret is never read back out of the hub after registration).
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub url: String,
    pub topic: Topic,
    /// The last seq delivered (acknowledged with a 2xx): the next POST carries the one after.
    pub position: i64,
    /// Failed attempts in a row at the seq after `position`.
    pub failures: i64,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When the next attempt may start; `None`: at once.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A webhook with its signing secret: what the sender needs.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    pub hook: Webhook,
    pub secret: String,
}

/// A webhook to register, already checked.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub owner_id: Uuid,
    pub url: WebhookUrl,
    pub topic: Topic,
    pub secret: String,
}

/// An `http` or `https` URL whose host the operator allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(url::Url);

impl WebhookUrl {
    /// Parses `raw` and checks it against `allow`. Refused: anything but http(s), a URL with
    /// credentials or a fragment, a host not on the list.
    pub fn parse(raw: &str, allow: &WebhookAllow) -> Result<Self, DomainError> {
        let invalid =
            |why: &str| DomainError::invalid("url", format!("{raw:?} is not a webhook URL: {why}."));
        if raw.len() > 2000 {
            return Err(DomainError::invalid("url", "The URL is over 2,000 characters."));
        }
        let url = url::Url::parse(raw.trim()).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("only http and https URLs are called"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("credentials in the URL would be logged; check the signature instead"));
        }
        if url.fragment().is_some() {
            return Err(invalid("a fragment is never sent"));
        }
        let url = Self(url);
        allow.check(&url)?;
        Ok(url)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    fn host(&self) -> String {
        // `url` lowercases host names and brackets IPv6 addresses.
        self.0.host_str().unwrap_or_default().to_owned()
    }

    fn port(&self) -> u16 {
        self.0.port_or_known_default().unwrap_or(0)
    }

    /// Where to connect: the host (a name to resolve, or an address) and the port.
    pub fn endpoint(&self) -> (url::Host<&str>, u16) {
        // `parse` refused URLs without a host: http(s) URLs always have one.
        (self.0.host().unwrap_or(url::Host::Domain("")), self.port())
    }
}

/// The hosts webhooks may call (`--webhook-allow`): `example.com` (that host, any port),
/// `example.com:8443` (that port only), `*.example.com` (its subdomains), IP addresses the
/// same way (`127.0.0.1`, `[::1]:9000`). Empty: webhooks are off.
///
/// A name is checked twice: the URL's host against the list, and each address it resolves
/// to at sending time against [`WebhookAllow::check_address`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookAllow(Vec<AllowedHost>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    /// Lowercase; `*.` kept as the prefix of a wildcard.
    host: String,
    /// The address, when the entry is one (IPv4-mapped IPv6 as IPv4).
    ip: Option<IpAddr>,
    port: Option<u16>,
}

/// Addresses a webhook reaches only when `--webhook-allow` names them: the hub's machine and
/// the networks around it (loopback, private, link-local, shared), and what is nobody's
/// unicast address (unspecified, multicast, reserved and broadcast).
static INTERNAL: LazyLock<Vec<(IpNet, &'static str)>> = LazyLock::new(|| {
    [
        ("0.0.0.0/8", "an unspecified address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address"),
        ("192.168.0.0/16", "a private address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved or broadcast address"),
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("fc00::/7", "a private (unique local) address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a private (site-local) address"),
        ("ff00::/8", "a multicast address"),
    ]
    .into_iter()
    .map(|(net, what)| (net.parse().expect("a valid network"), what))
    .collect()
});

/// A comma-separated list, as `--webhook-allow` takes it.
impl std::str::FromStr for WebhookAllow {
    type Err = String;

    fn from_str(list: &str) -> Result<Self, String> {
        Self::parse(&list.split(',').map(str::to_owned).collect::<Vec<_>>())
    }
}

impl WebhookAllow {
    /// Empty entries are skipped; the error names the entry that is not a host.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut hosts = Vec::new();
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            let bad = || format!("{entry:?} is not a host, host:port or *.domain");
            // Parse through a URL so that hosts are spelled as the URLs they are checked against.
            let wildcard = entry.starts_with("*.");
            let bare = entry.trim_start_matches("*.");
            let url = url::Url::parse(&format!("http://{bare}/")).map_err(|_| bad())?;
            let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(bad)?;
            if url.path() != "/" || !url.username().is_empty() {
                return Err(bad());
            }
            // An explicit :80 is dropped by the URL parser as http's default; keep what was said.
            let port = url.port().or_else(|| bare.ends_with(":80").then_some(80));
            let ip = match url.host() {
                Some(url::Host::Ipv4(ip)) if !wildcard => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) if !wildcard => Some(IpAddr::V6(ip).to_canonical()),
                _ => None,
            };
            let host = if wildcard { format!("*.{host}") } else { host.to_owned() };
            hosts.push(AllowedHost { host, ip, port });
        }
        Ok(Self(hosts))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the operator allowed `url`'s host (and port).
    pub fn check(&self, url: &WebhookUrl) -> Result<(), DomainError> {
        let (host, port) = (url.host(), url.port());
        let allowed = self.0.iter().any(|a| {
            let host_ok = match a.host.strip_prefix("*.") {
                Some(domain) => {
                    host.strip_suffix(domain).is_some_and(|sub| sub.ends_with('.') && sub.len() > 1)
                }
                None => a.host == host,
            };
            host_ok && a.port.is_none_or(|p| p == port)
        });
        if allowed {
            return Ok(());
        }
        Err(DomainError::Forbidden {
            code: "webhook_host_not_allowed",
            message: if self.is_empty() {
                "Webhooks are off on this hub: its operator has allowed no host (--webhook-allow).".into()
            } else {
                format!(
                    "This hub does not call {host}:{port}: its operator has not allowed that host (--webhook-allow)."
                )
            },
        })
    }
}

impl WebhookAllow {
    /// Whether a webhook may connect to `addr`, an address its URL's host resolved to (or the
    /// URL's own address). Naming a host is not naming every address it may resolve to (a
    /// wildcard domain, a rebinding DNS server): an address of the hub's machine or the
    /// networks around it ([`INTERNAL`]), or one of `own`, the hub's own addresses, is refused
    /// unless an entry names that address itself, on that port if the entry has one. `Err`
    /// says why.
    pub fn check_address(&self, addr: SocketAddr, own: &[IpAddr]) -> Result<(), String> {
        let ip = addr.ip().to_canonical();
        let named = self.0.iter().any(|a| a.ip == Some(ip) && a.port.is_none_or(|p| p == addr.port()));
        if named {
            return Ok(());
        }
        let what = INTERNAL
            .iter()
            .find(|(net, _)| net.contains(&ip))
            .map(|(_, what)| *what)
            .or_else(|| own.iter().any(|o| o.to_canonical() == ip).then_some("the hub's own address"));
        match what {
            Some(what) => Err(format!("{ip} is {what}, which --webhook-allow does not name")),
            None => Ok(()),
        }
    }
}

/// A new signing secret: `whsec_` and 32 random bytes, base64url.
pub fn new_secret() -> Result<String, DomainError> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| DomainError::internal(format!("no randomness: {e}")))?;
    Ok(format!("whsec_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
}

/// The value of [`SIGNATURE_HEADER`] for `body` sent at `timestamp` (unix seconds): the hex
/// HMAC-SHA256, keyed with the secret, of `"{timestamp}.{body}"`. Signing the time too lets a
/// receiver refuse an old body replayed by whoever captured it.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// How long to wait after the `failures`-th failure in a row: 1 s, 2 s, 4 s, … up to `max`.
pub fn backoff(failures: i64, max: Duration) -> Duration {
    let exponent = failures.clamp(1, 32) as u32 - 1;
    Duration::from_secs(1u64 << exponent.min(20)).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(entries: &[&str]) -> WebhookAllow {
        WebhookAllow::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn ok(raw: &str, a: &WebhookAllow) -> bool {
        WebhookUrl::parse(raw, a).is_ok()
    }

    #[test]
    fn only_allowed_hosts_and_ports_pass() {
        let a = allow(&["127.0.0.1", "hooks.example.com:8443", "*.example.org", "[::1]:9000"]);
        assert!(ok("http://127.0.0.1:4000/hook", &a));
        assert!(ok("https://hooks.example.com:8443/x", &a));
        assert!(!ok("https://hooks.example.com/x", &a), "port 443 is not 8443");
        assert!(ok("https://a.example.org/x", &a));
        assert!(ok("https://a.b.example.org/x", &a));
        assert!(!ok("https://example.org/x", &a), "the wildcard is for subdomains");
        assert!(!ok("https://evilexample.org/x", &a));
        assert!(ok("http://[::1]:9000/", &a));
        assert!(!ok("http://[::1]:9001/", &a));
        assert!(!ok("http://127.0.0.2/", &a));
        // Other spellings of an address are that address, checked as such.
        assert!(ok("http://2130706433/", &allow(&["127.0.0.1"])));
        assert!(!ok("http://0x7f.0.0.2/", &allow(&["127.0.0.1"])));
        assert!(!ok("http://169.254.169.254/latest/meta-data", &a));
        assert!(!ok("ftp://127.0.0.1/", &a));
        assert!(!ok("http://user:pw@127.0.0.1/", &a));
        assert!(!ok("not a url", &a));
        assert!(!ok("http://127.0.0.1/", &WebhookAllow::default()), "an empty list allows nothing");
    }

    #[test]
    fn internal_addresses_are_refused_unless_named() {
        let a = allow(&["*.example.org", "127.0.0.1", "[fd00::1]:9000"]);
        let own: [IpAddr; 2] = ["203.0.113.7".parse().unwrap(), "2001:db8::7".parse().unwrap()];
        let check = |addr: &str| a.check_address(addr.parse().unwrap(), &own);
        for public in ["93.184.215.14:443", "[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:443", "100.128.0.1:80"]
        {
            assert_eq!(check(public), Ok(()), "{public}");
        }
        for (internal, what) in [
            ("127.0.0.2:80", "loopback"),
            ("[::1]:80", "loopback"),
            ("[::ffff:127.0.0.2]:80", "loopback"),
            ("10.1.2.3:80", "private"),
            ("172.31.255.255:80", "private"),
            ("192.168.0.1:80", "private"),
            ("100.64.0.1:80", "shared"),
            ("[fd00::2]:80", "private"),
            ("169.254.169.254:80", "link-local"),
            ("[fe80::1]:80", "link-local"),
            ("0.0.0.0:80", "unspecified"),
            ("[::]:80", "unspecified"),
            ("224.0.0.1:80", "multicast"),
            ("255.255.255.255:80", "broadcast"),
            ("203.0.113.7:80", "own"),
            ("[::ffff:203.0.113.7]:80", "own"),
            ("[2001:db8::7]:80", "own"),
        ] {
            let why = check(internal).expect_err(internal);
            assert!(why.contains(what), "{internal}: {why}");
        }
        // Named addresses pass, on the named port only.
        assert_eq!(check("127.0.0.1:4000"), Ok(()));
        assert_eq!(check("[::ffff:127.0.0.1]:4000"), Ok(()));
        assert_eq!(check("[fd00::1]:9000"), Ok(()));
        assert!(check("[fd00::1]:9001").is_err());
        assert!(check("127.0.0.2:4000").is_err(), "127.0.0.1 is named, not 127/8");
    }

    #[test]
    fn a_bad_allow_entry_is_refused() {
        assert!(WebhookAllow::parse(&["http://x/".into()]).is_err());
        assert!(WebhookAllow::parse(&["x/y".into()]).is_err());
        assert!(WebhookAllow::parse(&["".into(), " ".into()]).unwrap().is_empty());
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_time_dot_body() {
        // Reference value: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            signature("whsec_test", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let max = Duration::from_secs(300);
        let waits: Vec<u64> = (1..=10).map(|f| backoff(f, max).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
        assert_eq!(backoff(1000, max), max);
    }
}
