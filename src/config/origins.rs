//! `--allowed-origins`, parsed: which web pages besides the hub's own may use it from a
//! browser. The request-side check (comparing a request's `Origin` with this) is
//! `http::origin`'s; this is the value, so that it is parsed once, at start.

/// The pages (besides our own) that may open a WebSocket here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// Our own pages only.
    #[default]
    Own,
    /// Any page (`*`): only when configured so, explicitly.
    Any,
    /// Our own pages and these origins (`https://example.com`, lower case, no path).
    List(Vec<String>),
}

/// The flag's comma-separated value: `self` (the default), `*` alone, or origins.
impl std::str::FromStr for AllowedOrigins {
    type Err = String;

    fn from_str(list: &str) -> Result<Self, String> {
        let values: Vec<&str> =
            list.split(',').map(str::trim).filter(|v| !v.is_empty() && *v != "self").collect();
        if values.is_empty() {
            return Ok(Self::Own);
        }
        if values == ["*"] {
            return Ok(Self::Any);
        }
        let mut origins = Vec::new();
        for value in values {
            let url = url::Url::parse(value).ok().filter(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.path() == "/"
                    && u.query().is_none()
            });
            let Some(url) = url else {
                return Err(format!(
                    "{value:?} is not an origin like https://example.com (or `self`, or `*` alone)"
                ));
            };
            origins.push(url.origin().ascii_serialization());
        }
        Ok(Self::List(origins))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_any_alone_or_origins() {
        assert_eq!("self".parse(), Ok(AllowedOrigins::Own));
        assert_eq!("".parse(), Ok(AllowedOrigins::Own));
        assert_eq!("*".parse(), Ok(AllowedOrigins::Any));
        assert_eq!(
            "self, https://Site.example".parse(),
            Ok(AllowedOrigins::List(vec!["https://site.example".into()]))
        );
        assert!("https://site.example/path".parse::<AllowedOrigins>().is_err());
        assert!("*,https://a.example".parse::<AllowedOrigins>().is_err());
    }
}
