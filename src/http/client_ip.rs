//! Who the client is, by address: the peer of the TCP connection, or, when that peer is one of
//! the `--trusted-proxies`, the client it names in `Forwarded` or `X-Forwarded-For`. Headers
//! from any other peer are ignored, or anyone could pick the address they are counted under.
//! The connection caps (and the rate limits to come) count a client by [`ClientIp::key`]:
//! an IPv6 client by its /64, since one host usually holds a whole /64.

use std::net::{IpAddr, Ipv6Addr};

use actix_web::HttpRequest;
use ipnet::IpNet;

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpNet>);

impl TrustedProxies {
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether the request's TCP peer is one of our proxies, so its forwarding headers count.
    pub fn trusts_peer(&self, req: &HttpRequest) -> bool {
        self.trusts(peer_of(req))
    }

    /// The client's address. Forwarding headers list the hops left to right, each proxy
    /// appending the peer it heard from; walking them from the right, the first address that
    /// is not one of our proxies is the client (anything left of it the client could have
    /// written itself).
    pub fn client(&self, req: &HttpRequest) -> ClientIp {
        let peer = peer_of(req);
        if !self.trusts(peer) {
            return ClientIp(peer);
        }
        let hops = forwarded_for(req);
        let client = hops.into_iter().rev().map(canonical).find(|ip| !self.trusts(*ip));
        ClientIp(client.unwrap_or(peer))
    }
}

/// The span each request is logged under (tracing-actix-web's), with the client address as
/// [`TrustedProxies::client`] resolves it: the default span would take it from `Forwarded`
/// whoever sent that, so any client could write any address into our logs. The target is
/// logged without its query string, where tokens may travel.
pub struct RequestSpan;

impl tracing_actix_web::RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        let client = client_of(request.request());
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %request.match_pattern().unwrap_or_else(|| "unmatched".into()),
            http.target = %request.path(),
            http.client_ip = %client.0,
            http.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// The request's client, by the app's `--trusted-proxies` (none configured: its TCP peer).
pub fn client_of(req: &HttpRequest) -> ClientIp {
    match req.app_data::<TrustedProxies>() {
        Some(trusted) => trusted.client(req),
        None => TrustedProxies::default().client(req),
    }
}

/// A client's address, as the server counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// A TCP peer's address, as a client.
    pub fn of_peer(ip: IpAddr) -> Self {
        Self(canonical(ip))
    }

    /// What caps and limits count by: the address, or for IPv6 its /64 network.
    pub fn key(self) -> IpAddr {
        match self.0 {
            IpAddr::V4(_) => self.0,
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        }
    }
}

/// The request's TCP peer, canonical.
fn peer_of(req: &HttpRequest) -> IpAddr {
    canonical(req.peer_addr().map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip()))
}

/// An IPv4 address written as IPv6 (`::ffff:a.b.c.d`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The `for=` addresses of `Forwarded` (RFC 7239) if the request has that header, else those
/// of `X-Forwarded-For`, in order; what does not parse as an address (`unknown`, obfuscated
/// names) is skipped.
fn forwarded_for(req: &HttpRequest) -> Vec<IpAddr> {
    let headers = req.headers();
    let forwarded: Vec<_> = headers.get_all("forwarded").filter_map(|v| v.to_str().ok()).collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .flat_map(|element| element.split(';'))
            .filter_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                name.trim().eq_ignore_ascii_case("for").then(|| parse_node(value.trim()))?
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| parse_node(hop.trim()))
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:4711`, `"[2001:db8::1]:4711"`, `2001:db8::1`.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim_matches('"');
    if let Ok(ip) = raw.parse() {
        return Some(ip);
    }
    if let Some(rest) = raw.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    raw.rsplit_once(':').and_then(|(host, _port)| host.parse().ok())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies(nets.iter().map(|n| n.parse().unwrap()).collect())
    }

    fn client(trusted: &TrustedProxies, peer: &str, headers: &[(&str, &str)]) -> IpAddr {
        let peer = std::net::SocketAddr::new(peer.parse().unwrap(), 1234);
        let mut req = TestRequest::default().peer_addr(peer);
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        trusted.client(&req.to_http_request()).0
    }

    #[test]
    fn headers_count_only_from_trusted_proxies() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let xff = [("x-forwarded-for", "203.0.113.9, 198.51.100.7")];
        assert_eq!(
            client(&trusted, "192.0.2.1", &xff),
            "192.0.2.1".parse::<IpAddr>().unwrap(),
            "untrusted peer"
        );
        assert_eq!(
            client(&trusted, "10.1.2.3", &xff),
            "198.51.100.7".parse::<IpAddr>().unwrap(),
            "rightmost untrusted hop"
        );
        let chain = [("x-forwarded-for", "203.0.113.9, 10.9.9.9")];
        assert_eq!(
            client(&trusted, "10.1.2.3", &chain),
            "203.0.113.9".parse::<IpAddr>().unwrap(),
            "skips our own proxies"
        );
        assert_eq!(
            client(&trusted, "10.1.2.3", &[]),
            "10.1.2.3".parse::<IpAddr>().unwrap(),
            "no header: the peer"
        );
        let fwd = [
            ("forwarded", r#"for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711""#),
            ("x-forwarded-for", "1.2.3.4"),
        ];
        assert_eq!(
            client(&trusted, "10.1.2.3", &fwd),
            "2001:db8:cafe::17".parse::<IpAddr>().unwrap(),
            "Forwarded wins"
        );
        assert_eq!(client(&proxies(&[]), "::ffff:192.0.2.1", &[]), "192.0.2.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn ipv6_clients_count_per_64() {
        let key = |s: &str| ClientIp(s.parse().unwrap()).key();
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::2"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("192.0.2.1"), "192.0.2.1".parse::<IpAddr>().unwrap());
    }
}
