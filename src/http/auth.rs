//! Who a request acts as, at the HTTP edge: reads the credential it carries (an
//! `Authorization: Bearer` token, or the log-in session cookie) and has the service layer
//! check it. Writes need an identity unless `--anonymous-writes` is on.
//!
//! The session cookie counts only on requests from this site's own pages (or from clients that
//! are not browsers): a cross-site request, which a browser may send with the cookie attached,
//! is treated as having no cookie at all. The forms also check the session's CSRF token.

use actix_web::{
    HttpRequest,
    cookie::{Cookie, SameSite, time::Duration as CookieDuration},
    http::header,
};
use uuid::Uuid;

use super::{Context, client_ip::client_of, origin};
use crate::{
    domain::{Credential, DomainError, Idempotency, Identity, Name},
    service::{Authenticated, auth::SESSION_TTL},
};

/// The log-in session cookie.
pub const SESSION_COOKIE: &str = "qa_hub_session";

/// The realm named in `WWW-Authenticate` on the API's 401s.
pub const REALM: &str = "qa-hub";

/// The credential a request carries: `Authorization` first, then (same-origin only) the
/// session cookie. An `Authorization` header that is not `Bearer TOKEN` is refused rather
/// than ignored, so a client with a broken header learns why.
pub fn credential(req: &HttpRequest) -> Result<Option<Credential>, DomainError> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().unwrap_or_default().trim();
        let token = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty());
        return match token {
            Some(token) => Ok(Some(Credential::Bearer(token.to_owned()))),
            None => Err(DomainError::invalid_credentials("Authorization must be `Bearer TOKEN`.")),
        };
    }
    Ok(session_cookie(req).map(Credential::Session))
}

/// The session cookie's value, when the request comes from this site's pages.
pub fn session_cookie(req: &HttpRequest) -> Option<String> {
    // Most API requests carry no cookie; `req.cookie` would still parse and store the empty
    // list in the request's extensions (two allocations) on every one of them.
    if !req.headers().contains_key(actix_web::http::header::COOKIE) || origin::is_cross_site(req) {
        return None;
    }
    req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()).filter(|v| !v.is_empty())
}

/// The identity behind the request's credential; `None` without one. A credential that does
/// not check out is an error, not "anonymous".
pub async fn identify(ctx: &Context, req: &HttpRequest) -> Result<Option<Authenticated>, DomainError> {
    match credential(req)? {
        Some(credential) => ctx.services().authenticate(&credential).await.map(Some),
        None => Ok(None),
    }
}

/// Who a post is by.
#[derive(Debug, Clone)]
pub enum Writer {
    User(Identity),
    /// No identity, and `--anonymous-writes` allows that: the author is a typed name.
    Anonymous,
}

impl Writer {
    /// The post's author: the identity's name, or the typed one (required then).
    pub fn author(&self, typed: Option<&str>) -> Result<(Name, Option<Uuid>), DomainError> {
        match self {
            Self::User(identity) => Ok((identity.name.clone(), Some(identity.user_id))),
            Self::Anonymous => Ok((Name::parse(typed.unwrap_or_default())?, None)),
        }
    }

    /// Whose Idempotency-Keys and post budget these are.
    pub fn owner(&self, req: &HttpRequest) -> String {
        match self {
            Self::User(identity) => user_owner(identity.user_id),
            Self::Anonymous => format!("addr:{}", client_of(req).key()),
        }
    }
}

/// Whose post budget (and Idempotency-Keys) a signed-in user's writes count against: posts,
/// votes, accepts and new tokens share one budget.
pub fn user_owner(user_id: Uuid) -> String {
    format!("user:{user_id}")
}

/// The request's identity, for actions only a person can take (even with
/// `--anonymous-writes`): `Unauthenticated` without one.
pub async fn required_identity(ctx: &Context, req: &HttpRequest) -> Result<Identity, DomainError> {
    match identify(ctx, req).await? {
        Some(auth) => Ok(auth.identity),
        None => Err(DomainError::unauthenticated(
            "This needs an identity: log in, or send Authorization: Bearer.",
        )),
    }
}

/// The writer of a post: the request's identity, else anonymous when allowed, else
/// `Unauthenticated`.
pub async fn writer(ctx: &Context, req: &HttpRequest) -> Result<Writer, DomainError> {
    match identify(ctx, req).await? {
        Some(auth) => Ok(Writer::User(auth.identity)),
        None if ctx.anonymous_writes() => Ok(Writer::Anonymous),
        None => Err(no_identity()),
    }
}

/// The writer of an answer, like [`writer`], but a service token is taken from the poster
/// cache: the hash to check again in the answer's batch comes with it.
pub async fn answer_writer(
    ctx: &Context,
    req: &HttpRequest,
) -> Result<(Writer, Option<Vec<u8>>), DomainError> {
    match credential(req)? {
        Some(credential) => {
            let (auth, recheck) = ctx.services().authenticate_poster(&credential).await?;
            Ok((Writer::User(auth.identity), recheck))
        }
        None if ctx.anonymous_writes() => Ok((Writer::Anonymous, None)),
        None => Err(no_identity()),
    }
}

fn no_identity() -> DomainError {
    DomainError::unauthenticated(
        "Posting needs an identity: log in, or send Authorization: Bearer with a service token or a host-signed token.",
    )
}

/// The request's `Idempotency-Key`, if any, for a post whose input is `parts`: 1 to 255
/// visible ASCII characters, else `Invalid`.
pub fn idempotency(
    req: &HttpRequest,
    owner: String,
    parts: &[&str],
) -> Result<Option<Idempotency>, DomainError> {
    let Some(value) = req.headers().get("idempotency-key") else { return Ok(None) };
    let key = value.to_str().unwrap_or_default();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(DomainError::invalid(
            "Idempotency-Key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is a good choice).",
        ));
    }
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for part in parts {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    Ok(Some(Idempotency { owner, key: key.to_owned(), fingerprint: hash.finalize().into() }))
}

/// Whether the request reached us over https: a trusted proxy saying so (the hub itself listens
/// on plain HTTP only; TLS ends at the proxy).
fn is_https(req: &HttpRequest) -> bool {
    let trusted =
        req.app_data::<super::client_ip::TrustedProxies>().is_some_and(|proxies| proxies.trusts_peer(req));
    trusted
        && req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// The cookie that holds a new session: HttpOnly (no script reads it), SameSite=Lax (not
/// sent on cross-site POSTs), Secure when the site is served over https.
pub fn session_cookie_for(req: &HttpRequest, token: &str) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token.to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(is_https(req))
        .max_age(CookieDuration::seconds(SESSION_TTL.num_seconds()))
        .finish()
}

/// The cookie that clears the session cookie (log-out).
pub fn cleared_session_cookie(req: &HttpRequest) -> Cookie<'static> {
    let mut cookie = session_cookie_for(req, "");
    cookie.make_removal();
    cookie
}
