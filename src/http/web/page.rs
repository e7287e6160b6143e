//! What every page shares: the error a page answers with ([`PageError`], the HTML error page,
//! or the way to the log-in page for an anonymous visitor on a signed-in page), rendering with
//! the security headers ([`html`]), redirects that stay on this site ([`see_other`],
//! [`local_path`], [`login_url`]), and the small helpers that put domain values on a page.
//!
//! [`Viewer`] is what a page's header shows about the person looking.
//!
//! Nothing here knows a particular page or imports another module of `web`; the extractors
//! and the page modules build on it.

use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    error::UrlencodedError,
    http::{StatusCode, header},
};
use askama::Template;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    domain::{DomainError, TagName},
    http::{
        auth::{self, Writer},
        rate,
    },
};

/// Scripts only from this origin; `connect-src 'self'` also covers this origin's `ws:`/`wss:`
/// in CSP Level 3 browsers (checked in tests/browser.rs, where the page's socket must work).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Largest form body: a 30,000-character answer percent-encodes to up to 9 bytes a character.
pub const FORM_LIMIT: usize = 512 * 1024;

/// A failure shown to a person: an HTML error page, or, for an anonymous visitor on a page
/// that needs someone signed in, the way to the log-in page. Handlers return it with `?`,
/// so none of them matches on "is someone logged in" by hand.
#[derive(Debug)]
pub struct PageError(Failure);

#[derive(Debug)]
enum Failure {
    Shown {
        status: StatusCode,
        heading: &'static str,
        message: String,
        /// Seconds for `Retry-After`, on a 429.
        retry_after: Option<u64>,
    },
    /// A 303 to `/login?next=…`, to come back to `next` (a path on this site) after.
    LogIn { next: String },
}

impl PageError {
    pub fn new(status: StatusCode, heading: &'static str, message: impl Into<String>) -> Self {
        Self(Failure::Shown { status, heading, message: message.into(), retry_after: None })
    }

    /// An anonymous visitor where someone must be signed in: to log in, then back to `next`.
    pub fn log_in(next: &str) -> Self {
        Self(Failure::LogIn { next: next.to_owned() })
    }

    pub fn question_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Question not found",
            "There is no question at this address. It may have been mistyped.",
        )
    }

    /// A form post from another site's page (a cross-site request forgery): 403, nothing done.
    pub fn cross_site() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Not from this site",
            "This form was sent from another site's page, so it was not accepted. Post from this site.",
        )
    }

    /// A form whose CSRF token is not its session's: 403, nothing done.
    pub fn form_expired() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form does not belong to your current session (it may be from before you logged in again). Reload the page and send it again.",
        )
    }

    /// Over a rate limit: 429, and when to come back.
    pub fn slow_down(wait: std::time::Duration, what: &str) -> Self {
        let secs = rate::retry_after_secs(wait);
        Self(Failure::Shown {
            status: StatusCode::TOO_MANY_REQUESTS,
            heading: "Slow down",
            message: format!("{what} Please try again in {secs} s."),
            retry_after: Some(secs),
        })
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Failure::Shown { heading, message, .. } => write!(f, "{heading}: {message}"),
            Failure::LogIn { next } => write!(f, "log in first, then back to {next}"),
        }
    }
}

impl From<DomainError> for PageError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound { code: "question_not_found", .. } => Self::question_not_found(),
            DomainError::NotFound { message, .. } => {
                Self::new(StatusCode::NOT_FOUND, "Not found", capitalised(&message))
            }
            DomainError::Invalid { message, .. } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Not accepted", capitalised(&message))
            }
            DomainError::Unauthenticated { message, .. } => {
                Self::new(StatusCode::UNAUTHORIZED, "Please log in", capitalised(&message))
            }
            DomainError::Forbidden { message, .. } => {
                Self::new(StatusCode::FORBIDDEN, "Not allowed", capitalised(&message))
            }
            DomainError::Gone { message, .. } => {
                Self::new(StatusCode::GONE, "Deleted", capitalised(&message))
            }
            DomainError::Conflict { message, .. } => {
                Self::new(StatusCode::CONFLICT, "Not accepted", capitalised(&message))
            }
            DomainError::OutcomeUnknown(cause) => {
                tracing::error!(error = %cause, "commit failed while serving a page; outcome unknown");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Not sure it was saved",
                    "The database failed while saving this. Check whether it appears before sending it again.",
                )
            }
            DomainError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable while serving a page");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Temporarily unavailable",
                    "The server cannot reach its database right now. Please try again in a moment.",
                )
            }
            DomainError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error while serving a page");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The server could not complete the request. Please try again in a moment.",
                )
            }
        }
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match &self.0 {
            Failure::Shown { status, .. } => *status,
            Failure::LogIn { .. } => StatusCode::SEE_OTHER,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match &self.0 {
            Failure::Shown { status, heading, message, retry_after } => {
                let page = ErrorPage { status: status.as_u16(), heading, message, viewer: None };
                let mut res = html(*status, &page);
                if let Some(secs) = retry_after {
                    res.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(*secs));
                }
                res
            }
            Failure::LogIn { next } => see_other(login_url(next)),
        }
    }
}

/// The person looking at a page: their name, and the CSRF token their forms carry.
pub struct Viewer {
    pub name: String,
    pub csrf: String,
    pub user_id: Uuid,
    /// Their inbox's unread count, and its topic's seq at that count: the header's badge
    /// shows the one and goes live from the other.
    pub unread: i64,
    pub inbox_seq: i64,
}

#[derive(Template)]
#[template(path = "error.html")]
pub(super) struct ErrorPage<'a> {
    pub status: u16,
    pub heading: &'a str,
    pub message: &'a str,
    pub viewer: Option<Viewer>,
}

/// A form body that could not be read (wrong content type, too large, too slow, malformed).
pub fn form_error(err: UrlencodedError) -> PageError {
    match err {
        UrlencodedError::Overflow { .. } => PageError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too long",
            "What you sent is too long for this form. Please shorten it.",
        ),
        UrlencodedError::Payload(e) if crate::http::body::is_timed_out(&e) => PageError::new(
            StatusCode::REQUEST_TIMEOUT,
            "Too slow",
            "The form took too long to arrive. Please send it again.",
        ),
        UrlencodedError::ContentType => PageError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported form",
            "This form accepts application/x-www-form-urlencoded only.",
        ),
        other => PageError::new(
            StatusCode::BAD_REQUEST,
            "Bad form",
            format!("The form could not be read: {other}."),
        ),
    }
}

/// Renders a page with the security headers every HTML response gets.
pub fn html(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::REFERRER_POLICY, "same-origin"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
                .body("The page could not be rendered.")
        }
    }
}

/// A 303 to `location`, a path of this site. Callers pass paths built by `local_path` or
/// from ids; should one still not be a header value, the redirect goes home rather than
/// failing the request with a 500.
pub fn see_other(location: String) -> HttpResponse {
    let location = header::HeaderValue::try_from(location).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "a redirect's target is not a header value; going to /");
        header::HeaderValue::from_static("/")
    });
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

/// Where a page sends someone who must log in first, to come back to `back_to` after.
pub fn login_url(back_to: &str) -> String {
    format!("/login?next={}", url::form_urlencoded::byte_serialize(back_to.as_bytes()).collect::<String>())
}

/// `raw` (a form's `next` or `back`) as a place to redirect to on this site: its path, query
/// and fragment, percent-encoded, so always a valid `Location`; `None` when it would lead
/// anywhere else. It is read as a browser reads a `Location`, relative to this site: a
/// browser drops tabs and line breaks and reads `\` as `/`, so `/\t/evil.com` and
/// `/\evil.com` are `//evil.com`, another host. Control characters are refused outright.
pub fn local_path(raw: &str) -> Option<String> {
    if !raw.starts_with('/') || raw.chars().any(char::is_control) {
        return None;
    }
    let here = url::Url::parse("http://hub.invalid/").expect("a valid URL");
    let there = here.join(raw).ok()?;
    (there.origin() == here.origin()).then(|| there[url::Position::BeforePath..].to_owned())
}

pub fn plural(n: i64) -> &'static str {
    if n == 1 { "answer" } else { "answers" }
}

/// A moment as a page shows it, and as the `<time>` element's `datetime`.
pub fn when(t: DateTime<Utc>) -> (String, String) {
    (t.format("%Y-%m-%d %H:%M UTC").to_string(), t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// Parses one field with the domain's rules (the API's too); on failure the message goes
/// next to the field.
pub fn check<T>(parsed: Result<T, DomainError>, error: &mut Option<String>) -> Option<T> {
    parsed.map_err(|e| *error = Some(capitalised(&e.to_string()))).ok()
}

pub fn capitalised(message: &str) -> String {
    let mut chars = message.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// The posts' rate limit, per writer: 429, and when to come back.
pub fn check_post_budget(req: &HttpRequest, writer: &Writer) -> Result<(), PageError> {
    rate::check_post(req, &writer.owner(req)).map_err(|wait| PageError::slow_down(wait, "Too many posts."))
}

/// Markdown previews, per writer (their own bucket: see `rate::PreviewLimit`).
pub fn check_preview_budget(req: &HttpRequest, writer: &Writer) -> Result<(), PageError> {
    rate::check_preview(req, &writer.owner(req))
        .map_err(|wait| PageError::slow_down(wait, "Too many previews."))
}

/// The same budget for a signed-in user's votes, accepts and other changes.
pub fn check_user_budget(req: &HttpRequest, user: Uuid) -> Result<(), PageError> {
    rate::check_post(req, &auth::user_owner(user))
        .map_err(|wait| PageError::slow_down(wait, "Too many changes."))
}

/// The messages next to a post form's fields (the ask form's and the answer form's).
#[derive(Default)]
pub struct FieldErrors {
    pub title: Option<String>,
    pub body: Option<String>,
    pub author: Option<String>,
    pub tags: Option<String>,
}

/// A question's tag as a page shows it: its name, linking to the tag's page.
pub struct TagLink {
    pub name: String,
    /// `/tags/{name}`, the name percent-encoded as `encodeURIComponent` does in
    /// `static/home.js` (`c#` is `/tags/c%23`, `c++` is `/tags/c%2B%2B`), so a row the script
    /// inserts links exactly as a rendered one.
    pub href: String,
}

impl TagLink {
    pub fn of(tag: &TagName) -> Self {
        let encoded: String = url::form_urlencoded::byte_serialize(tag.as_str().as_bytes()).collect();
        Self { name: tag.as_str().to_owned(), href: format!("/tags/{encoded}") }
    }

    pub fn all(tags: &[TagName]) -> Vec<Self> {
        tags.iter().map(Self::of).collect()
    }
}

/// Tag names as a person types them in a form: separated by spaces or commas
/// (`rust tokio, async`), blanks skipped. What the names must be is [`Tags::parse`]'s to say.
///
/// [`Tags::parse`]: crate::domain::Tags::parse
pub fn tag_names(typed: &str) -> Vec<&str> {
    typed.split(|c: char| c == ',' || c.is_whitespace()).filter(|name| !name.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Title;

    #[test]
    fn check_uses_the_domain_rules_and_capitalises() {
        let mut error = None;
        assert_eq!(check(Title::parse("  hi  "), &mut error).map(Title::into_inner).as_deref(), Some("hi"));
        assert_eq!(error, None);
        assert!(check(Title::parse("   "), &mut error).is_none());
        assert_eq!(error.as_deref(), Some("Title must not be empty."));
    }

    #[test]
    fn local_paths_stay_on_this_site() {
        for (raw, path) in [
            ("/", Some("/")),
            ("/questions?page=2#ask", Some("/questions?page=2#ask")),
            ("/a b/é?q=ü", Some("/a%20b/%C3%A9?q=%C3%BC")),
            ("/x/../y", Some("/y")),
            ("/\t/evil.com", None),
            ("/\n/x", None),
            ("/\r\n", None),
            ("/\x7f", None),
            ("/\u{85}", None),
            ("//evil.com", None),
            ("/\\evil.com", None),
            ("https://evil.com/", None),
            ("javascript:alert(1)", None),
            ("questions", None),
            ("", None),
        ] {
            assert_eq!(local_path(raw).as_deref(), path, "{raw:?}");
        }
    }

    #[test]
    fn typed_tags_split_on_spaces_and_commas_and_link_encoded() {
        assert_eq!(tag_names(" rust, tokio  async,,\tc#\n"), ["rust", "tokio", "async", "c#"]);
        assert!(tag_names(" , ").is_empty());
        let links = TagLink::all(&["c#".parse().unwrap(), "c++".parse().unwrap(), ".net".parse().unwrap()]);
        let hrefs: Vec<&str> = links.iter().map(|l| l.href.as_str()).collect();
        assert_eq!(hrefs, ["/tags/c%23", "/tags/c%2B%2B", "/tags/.net"]);
    }

    #[test]
    fn templates_escape_user_text() {
        let page =
            ErrorPage { status: 404, heading: "x", message: "<script>alert(1)</script>", viewer: None };
        let html = page.render().unwrap();
        assert!(html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>alert"));
    }
}
