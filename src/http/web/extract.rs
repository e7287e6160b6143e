//! What a page handler takes from its request, each checked once here instead of in every
//! handler: who is looking ([`Visitor`], maybe nobody; [`SignedIn`], whose absence is the
//! redirect to log in), a form posted from this site's own pages ([`PageForm`]: read, refused
//! when it comes from another site, and checked against its session's CSRF token before it
//! yields who sent it), a typed query string ([`PageQuery`], one error page per query type)
//! and the question id in the path ([`QuestionId`]).
//!
//! Every failure is a [`PageError`], so an extractor's refusal is the same HTML page a
//! handler's would be.

use std::{collections::HashMap, str::FromStr};

use actix_web::{
    FromRequest, HttpRequest,
    dev::{Payload, UrlEncoded},
    http::StatusCode,
    web,
};
use futures_util::future::{LocalBoxFuture, Ready, ready};
use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use uuid::Uuid;

use super::page::{FORM_LIMIT, PageError, Viewer, form_error};
use crate::{
    domain::{Credential, Identity},
    http::{Context, auth::Writer, origin},
};

/// The handlers' context, which `app` always registers.
fn context(req: &HttpRequest) -> Result<web::Data<Context>, PageError> {
    req.app_data::<web::Data<Context>>().cloned().ok_or_else(|| {
        tracing::error!("the pages' context is not registered");
        PageError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The server could not complete the request. Please try again in a moment.",
        )
    })
}

/// The viewer behind the request's session cookie, if it is a live session.
async fn viewer(ctx: &Context, req: &HttpRequest) -> Option<(Viewer, Identity)> {
    let token = crate::http::auth::session_cookie(req)?;
    let session = ctx.services().authenticate(&Credential::Session(token)).await.ok()?;
    let csrf = session.csrf_token?;
    // A page still renders if the count cannot be read; its badge then starts at 0 and the
    // live script corrects it from the events after seq 0.
    let (unread, inbox_seq) = ctx.services().unread(&session.identity).await.unwrap_or((0, 0));
    let viewer = Viewer {
        name: session.identity.name.as_str().to_owned(),
        csrf,
        user_id: session.identity.user_id,
        unread,
        inbox_seq,
    };
    Some((viewer, session.identity))
}

/// Whoever is looking at a page: someone signed in, or nobody (`None`).
pub struct Visitor(Option<(Viewer, Identity)>);

impl Visitor {
    /// What the page's header shows about them.
    pub fn viewer(self) -> Option<Viewer> {
        self.0.map(|(viewer, _)| viewer)
    }

    pub fn unzip(self) -> (Option<Viewer>, Option<Identity>) {
        self.0.unzip()
    }

    /// Who is signed in; nobody is sent to log in, and back to `next` after.
    pub fn signed_in(self, next: &str) -> Result<Identity, PageError> {
        self.0.map(|(_, identity)| identity).ok_or_else(|| PageError::log_in(next))
    }
}

impl FromRequest for Visitor {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let ctx = context(&req)?;
            Ok(Self(viewer(&ctx, &req).await))
        })
    }
}

/// Someone signed in, on a page only they can see; nobody is sent to log in, then back to
/// this page's path.
pub struct SignedIn {
    pub viewer: Viewer,
    pub identity: Identity,
}

impl FromRequest for SignedIn {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let ctx = context(&req)?;
            match viewer(&ctx, &req).await {
                Some((viewer, identity)) => Ok(Self { viewer, identity }),
                None => Err(PageError::log_in(req.path())),
            }
        })
    }
}

/// A form that carries its session's CSRF token (every form but log-in and sign-up, which
/// have no session yet).
pub trait WithCsrf {
    fn csrf(&self) -> &str;
}

/// A form posted from one of this site's pages (form-urlencoded, at most [`FORM_LIMIT`]
/// bytes). A form sent from another site's page is refused with 403 before the handler runs;
/// who sent it ([`PageForm::session`], [`PageForm::signed_in`], [`PageForm::writer`]) comes
/// only after its CSRF token matched their session's.
pub struct PageForm<T> {
    fields: T,
    req: HttpRequest,
}

impl<T: DeserializeOwned + 'static> FromRequest for PageForm<T> {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = UrlEncoded::<T>::new(req, payload).limit(FORM_LIMIT);
        let req = req.clone();
        Box::pin(async move {
            let fields = body.await.map_err(form_error)?;
            if origin::is_cross_site(&req) {
                return Err(PageError::cross_site());
            }
            Ok(Self { fields, req })
        })
    }
}

impl<T> std::ops::Deref for PageForm<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.fields
    }
}

impl<T> PageForm<T> {
    pub fn into_inner(self) -> T {
        self.fields
    }
}

impl<T: WithCsrf> PageForm<T> {
    /// The signed-in sender, if any, once the form's CSRF token matched their session's (403
    /// when it does not); `None` without a session.
    pub async fn session(&self) -> Result<Option<(Viewer, Identity)>, PageError> {
        let ctx = context(&self.req)?;
        match viewer(&ctx, &self.req).await {
            Some((viewer, identity)) => {
                check_csrf(self.fields.csrf(), &viewer)?;
                Ok(Some((viewer, identity)))
            }
            None => Ok(None),
        }
    }

    /// The signed-in sender (votes, accepts, edits… need a person, also on a hub that takes
    /// anonymous posts); nobody is sent to log in, then back to `next`.
    pub async fn signed_in(&self, next: &str) -> Result<Identity, PageError> {
        self.session().await?.map(|(_, identity)| identity).ok_or_else(|| PageError::log_in(next))
    }

    /// Who posts a question or an answer: the signed-in sender, an anonymous author when
    /// `--anonymous-writes` allows it, or nobody, who is sent to log in, then back to `next`.
    pub async fn writer(&self, next: &str) -> Result<(Writer, Option<Viewer>), PageError> {
        match self.session().await? {
            Some((viewer, identity)) => Ok((Writer::User(identity), Some(viewer))),
            None if context(&self.req)?.anonymous_writes() => Ok((Writer::Anonymous, None)),
            None => Err(PageError::log_in(next)),
        }
    }
}

/// A form's CSRF token against its session's, in constant time: 403 when they differ.
fn check_csrf(sent: &str, viewer: &Viewer) -> Result<(), PageError> {
    if bool::from(subtle::ConstantTimeEq::ct_eq(sent.as_bytes(), viewer.csrf.as_bytes())) {
        Ok(())
    } else {
        Err(PageError::form_expired())
    }
}

/// A page's query string as a typed struct. Read as the pages always have: unknown keys are
/// ignored, of a repeated key the last wins, a value is trimmed and a blank one is absent
/// (see [`blank_is_none`]).
pub trait PageLink: DeserializeOwned {
    /// The error page for a link whose query does not parse.
    fn invalid() -> PageError;
}

/// The page's query, or its type's error page ([`PageLink::invalid`]).
pub struct PageQuery<T>(pub T);

impl<T: PageLink> PageQuery<T> {
    fn parse(query: &str) -> Result<T, PageError> {
        let pairs: HashMap<String, String> =
            url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let fields = serde::de::value::MapDeserializer::<_, serde::de::value::Error>::new(pairs.into_iter());
        T::deserialize(fields).map_err(|_| T::invalid())
    }
}

impl<T: PageLink> FromRequest for PageQuery<T> {
    type Error = PageError;
    type Future = Ready<Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::parse(req.query_string()).map(Self))
    }
}

/// A query value parsed with `FromStr` after trimming; blank is absent. For
/// `#[serde(default, deserialize_with = "blank_is_none")]` on an `Option` field.
pub fn blank_is_none<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
{
    let raw = String::deserialize(d)?;
    match raw.trim() {
        "" => Ok(None),
        value => value.parse().map(Some).map_err(|_| serde::de::Error::custom("not valid")),
    }
}

/// The `{question_id}` in the path; a malformed one is the question's 404 page.
pub struct QuestionId(pub Uuid);

impl QuestionId {
    pub fn of(req: &HttpRequest) -> Result<Uuid, PageError> {
        let raw = req.match_info().get("question_id").unwrap_or_default();
        Uuid::parse_str(raw).map_err(|_| PageError::question_not_found())
    }
}

impl FromRequest for QuestionId {
    type Error = PageError;
    type Future = Ready<Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::of(req).map(Self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Before {
        #[serde(default, deserialize_with = "blank_is_none")]
        before: Option<i64>,
    }

    impl PageLink for Before {
        fn invalid() -> PageError {
            PageError::new(StatusCode::BAD_REQUEST, "Bad page link", "That page link is not valid.")
        }
    }

    #[test]
    fn queries_read_as_the_pages_always_have() {
        let before = |q: &str| PageQuery::<Before>::parse(q).map(|b| b.before).map_err(|e| e.to_string());
        assert_eq!(before(""), Ok(None));
        assert_eq!(before("before=%20"), Ok(None));
        assert_eq!(before("before=+7+&other=x"), Ok(Some(7)));
        assert_eq!(before("before=x&before=8"), Ok(Some(8)));
        assert_eq!(before("before=x"), Err("Bad page link: That page link is not valid.".to_owned()));
    }
}
