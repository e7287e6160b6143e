//! The account pages: sign up (`/signup`), log in (`/login`) and log out (`POST /logout`).
//!
//! A log-in sets the session cookie (see `auth`) and goes back to the page that sent the person
//! there (`?next=`, a path on this site only). Sign-up and log-in forms have no session yet, so
//! they are protected from other sites by the Origin / `Sec-Fetch-Site` check alone; the
//! log-out form also carries the session's CSRF token. Failed log-ins are limited per handle
//! and sign-ups per client address (see `rate`).

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;

use super::{
    extract::{PageForm, Visitor, WithCsrf},
    page::{PageError, Viewer, check, html, local_path, see_other},
};
use crate::{
    domain::{DomainError, Handle, Identity, Name, Password, Role},
    http::{
        Context, auth,
        client_ip::client_of,
        rate::{LoginLimit, SignupLimit},
    },
};

/// A `next` to go to after logging in: a path on this site (`local_path`), else `/`.
fn safe_next(next: &str) -> String {
    local_path(next).unwrap_or_else(|| "/".to_owned())
}

#[derive(Debug, Default, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    handle: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    handle: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

impl WithCsrf for LogoutForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    handle: String,
    next: String,
    error: Option<String>,
    viewer: Option<Viewer>,
}

#[derive(Default)]
struct SignupErrors {
    handle: Option<String>,
    name: Option<String>,
    password: Option<String>,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    handle: String,
    name: String,
    errors: SignupErrors,
    viewer: Option<Viewer>,
}

/// `GET /login?next=PATH`. (Its query is read with actix's `web::Query`, whose errors, such as
/// a repeated `next`, get the app-wide JSON answer set up in `api`: kept as it was.)
pub async fn login_page(query: web::Query<NextQuery>, visitor: Visitor) -> Result<HttpResponse, PageError> {
    let page = LoginPage {
        handle: String::new(),
        next: safe_next(&query.next),
        error: None,
        viewer: visitor.viewer(),
    };
    Ok(html(StatusCode::OK, &page))
}

/// Logged in: the session cookie, and back to where they were going.
fn logged_in(req: &HttpRequest, token: &str, next: &str) -> HttpResponse {
    let mut res = see_other(safe_next(next));
    let _ = res.add_cookie(&auth::session_cookie_for(req, token));
    res
}

/// `POST /login` (form).
pub async fn log_in(
    ctx: web::Data<Context>,
    req: HttpRequest,
    limit: web::Data<LoginLimit>,
    form: PageForm<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    limit
        .attempt(&client_of(&req).key().to_string())
        .map_err(|wait| PageError::slow_down(wait, "Too many log-in attempts from your address."))?;
    // Counted by handle, whether or not it exists, so the lock says nothing about which do.
    let key = form.handle.trim().to_ascii_lowercase();
    limit
        .check(&key)
        .map_err(|wait| PageError::slow_down(wait, "Too many failed log-ins for this handle."))?;
    match ctx.services().log_in(&form.handle, form.password).await {
        Ok(session) => Ok(logged_in(&req, &session.token, &form.next)),
        Err(DomainError::Unauthenticated { message, .. }) => {
            limit.failed(&key);
            let page = LoginPage {
                handle: form.handle,
                next: safe_next(&form.next),
                error: Some(message),
                viewer: None,
            };
            Ok(html(StatusCode::UNAUTHORIZED, &page))
        }
        Err(other) => Err(other.into()),
    }
}

/// `GET /signup`.
pub async fn signup_page(visitor: Visitor) -> Result<HttpResponse, PageError> {
    let page = SignupPage {
        handle: String::new(),
        name: String::new(),
        errors: SignupErrors::default(),
        viewer: visitor.viewer(),
    };
    Ok(html(StatusCode::OK, &page))
}

/// `POST /signup` (form): creates the account and logs it in.
pub async fn sign_up(
    ctx: web::Data<Context>,
    req: HttpRequest,
    limit: web::Data<SignupLimit>,
    form: PageForm<SignupForm>,
) -> Result<HttpResponse, PageError> {
    limit
        .check(&client_of(&req).key().to_string())
        .map_err(|wait| PageError::slow_down(wait, "Too many new accounts from your address."))?;
    let form = form.into_inner();
    let mut errors = SignupErrors::default();
    let handle = check(Handle::parse(&form.handle), &mut errors.handle);
    let typed_name = if form.name.trim().is_empty() { form.handle.trim() } else { form.name.as_str() };
    let name = check(
        Name::parse(typed_name)
            .map_err(|_| DomainError::invalid("name", "name must be 1 to 64 characters on one line.")),
        &mut errors.name,
    );
    let password = check(Password::parse(form.password), &mut errors.password);
    let (Some(handle), Some(name), Some(password)) = (handle, name, password) else {
        let page = SignupPage { handle: form.handle, name: form.name, errors, viewer: None };
        return Ok(html(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    let user = match ctx.services().create_account(handle, name.clone(), password, Role::User).await {
        Ok(user) => user,
        Err(DomainError::Conflict { message, .. }) => {
            errors.handle = Some(message);
            let page = SignupPage { handle: form.handle, name: form.name, errors, viewer: None };
            return Ok(html(StatusCode::CONFLICT, &page));
        }
        Err(other) => return Err(other.into()),
    };
    let identity = Identity { user_id: user.id, name, role: user.role };
    let session = ctx.services().start_session(identity).await?;
    Ok(logged_in(&req, &session.token, "/"))
}

/// `POST /logout` (form, with the session's CSRF token): ends the session everywhere it is
/// used and clears the cookie.
pub async fn log_out(
    ctx: web::Data<Context>,
    req: HttpRequest,
    form: PageForm<LogoutForm>,
) -> Result<HttpResponse, PageError> {
    // With a session, the form must carry its CSRF token (403 otherwise); without one there is
    // nothing to end but the cookie.
    if form.session().await?.is_some()
        && let Some(token) = auth::session_cookie(&req)
    {
        ctx.services().log_out(&token).await?;
    }
    let mut res = see_other("/".into());
    let _ = res.add_cookie(&auth::cleared_session_cookie(&req));
    Ok(res)
}
