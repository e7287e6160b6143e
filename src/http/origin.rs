//! Which web pages may use the hub from a browser. A browser attaches the page's `Origin`
//! (and `Sec-Fetch-Site`) to a WebSocket upgrade and to a form POST, and a page on any site can
//! make either: without a check, any site could open sockets in its visitors' names or post
//! forms as them. Clients that are not browsers send no `Origin` and are not cross-site
//! requests at all, so a missing header passes.
//!
//! "Our own origin" is the request's `Host`: the browser sets it to the server it talks to,
//! which a page cannot change, so comparing `Origin`'s host with it needs no configuration,
//! behind a TLS-terminating proxy too (the scheme is not compared).

use actix_web::{HttpRequest, http::header};

pub use crate::config::AllowedOrigins;

// The value is parsed with the other settings (`config::origins`); what it means for a request
// is said here.
impl AllowedOrigins {
    /// Whether the request's page may open a WebSocket here.
    pub fn allow(&self, req: &HttpRequest) -> bool {
        let Some(origin) = origin(req) else { return true };
        match self {
            Self::Any => true,
            Self::Own => is_own(req, origin),
            Self::List(list) => is_own(req, origin) || list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        }
    }
}

/// Whether a form POST comes from another site's page: by `Sec-Fetch-Site` where the browser
/// sends it (every current one does), else by `Origin`.
pub fn is_cross_site(req: &HttpRequest) -> bool {
    match req.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        // `none`: the user typed the URL or used a bookmark.
        Some(site) => !(site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none")),
        None => origin(req).is_some_and(|origin| !is_own(req, origin)),
    }
}

fn origin(req: &HttpRequest) -> Option<&str> {
    req.headers().get(header::ORIGIN).map(|v| v.to_str().unwrap_or("null"))
}

/// Whether `origin` (`scheme://host[:port]`) names the host the request was sent to.
fn is_own(req: &HttpRequest, origin: &str) -> bool {
    let Some(host) = req.headers().get(header::HOST).and_then(|v| v.to_str().ok()) else { return false };
    let Some((scheme, authority)) = origin.split_once("://") else { return false };
    // A default port may be written in Host and left out of Origin, or the other way round.
    let default_port = match scheme {
        "https" => ":443",
        _ => ":80",
    };
    let strip = |a: &str| a.strip_suffix(default_port).unwrap_or(a).to_ascii_lowercase();
    strip(authority) == strip(host)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn req(headers: &[(&'static str, &'static str)]) -> HttpRequest {
        let mut req = TestRequest::default().insert_header((header::HOST, "hub.example:8080"));
        for h in headers {
            req = req.insert_header(*h);
        }
        req.to_http_request()
    }

    #[test]
    fn own_origin_by_host_and_others_only_when_listed() {
        let own = AllowedOrigins::default();
        assert!(own.allow(&req(&[])), "no Origin: not a browser");
        assert!(own.allow(&req(&[("origin", "http://hub.example:8080")])));
        assert!(
            own.allow(&req(&[("origin", "https://HUB.example:8080")])),
            "scheme and case are not compared"
        );
        assert!(!own.allow(&req(&[("origin", "http://evil.example")])));
        assert!(!own.allow(&req(&[("origin", "null")])), "sandboxed pages");
        let listed = "https://site.example".parse::<AllowedOrigins>().unwrap();
        assert!(listed.allow(&req(&[("origin", "https://site.example")])));
        assert!(listed.allow(&req(&[("origin", "http://hub.example:8080")])));
        assert!(
            !listed.allow(&req(&[("origin", "http://site.example")])),
            "another scheme is another origin"
        );
        assert!(AllowedOrigins::Any.allow(&req(&[("origin", "http://evil.example")])));
    }

    #[test]
    fn cross_site_forms_by_fetch_metadata_then_origin() {
        assert!(!is_cross_site(&req(&[])), "no headers: not a browser");
        assert!(!is_cross_site(&req(&[("sec-fetch-site", "same-origin")])));
        assert!(!is_cross_site(&req(&[("sec-fetch-site", "none")])));
        assert!(
            is_cross_site(&req(&[("sec-fetch-site", "same-site")])),
            "a sibling subdomain is another site's page"
        );
        assert!(is_cross_site(&req(&[("sec-fetch-site", "cross-site")])));
        assert!(is_cross_site(&req(&[("origin", "http://evil.example")])));
        assert!(!is_cross_site(&req(&[("origin", "http://hub.example:8080")])));
    }
}
