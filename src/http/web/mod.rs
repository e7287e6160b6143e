//! The hub's own web pages: a list of questions with an "Ask a question" form (`/`) that shows
//! new questions live, the same list for one tag (`/tags/{tag}`), the tags (`/tags`), a question page (`/questions/{id}`) that follows the question's whole
//! life live (answers, votes, the accepted answer, edits, deletes, comments), a post's
//! revisions, the account pages (sign up, log in, log out) and the inbox.
//!
//! Pages are rendered server-side from `templates/` by askama, which checks them at compile
//! time and HTML-escapes every value, so user text can never become markup. The forms work
//! without JavaScript (form-urlencoded POST, then a 303 redirect back to the page, or the page
//! again with the error next to the field); so do voting, accepting, editing, deleting and
//! commenting, which need a signed-in session and its CSRF token. With JavaScript,
//! `static/question.js` keeps the question page live and `static/home.js` the newest
//! questions, through `static/qa-hub-client.js`, the reusable WebSocket client that other
//! sites can embed too (see `docs/web-client.md`).
//!
//! CSS and scripts are compiled into the binary ([`assets`]). Every HTML response carries a
//! Content-Security-Policy that allows only this origin's own scripts (no inline script, no
//! inline handlers); pages hand data to scripts in `data-` attributes.
//!
//! The parts: [`page`] (the error page, rendering, redirects), [`extract`] (who is looking, a
//! form from this site with its CSRF token, a typed query string), then one module per group
//! of pages, each depending only on those two: [`questions`] (home, the tags' lists, asking), [`question`]
//! (a question's page and answering), [`actions`] (the signed-in forms on it), [`revisions`],
//! [`accounts`], [`inbox`].
//!
//! Unknown paths outside these routes keep the API's JSON 404; a malformed or unknown
//! question id under `/questions/` gets the HTML 404 page.

pub mod accounts;
pub mod actions;
pub mod assets;
pub mod extract;
pub mod inbox;
pub mod page;
pub mod question;
pub mod questions;
pub mod revisions;
pub mod tag_watch;

use actix_web::{FromRequest, Handler, Resource, Responder, web};

use page::see_other;

/// Every page's route, each written once. A form's URL answers `POST`; a `GET` on it (reloading
/// the page shown after a form error, which has the form's URL) goes back to the page the form
/// is on. `route` (one method) and `resource` (a 405 for the others) are kept as they were,
/// and so is the order, which decides between overlapping paths.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(questions::index))
        .service(form("/questions", questions::ask).route(web::get().to(|| async { see_other("/".into()) })))
        .service(
            form("/questions/preview", questions::preview)
                .route(web::get().to(|| async { see_other("/".into()) })),
        )
        .route("/tags", web::get().to(questions::tags_page))
        // Any fixed path under /tags/ goes before this one, which takes every name.
        .route("/tags/{tag}", web::get().to(questions::tag_page))
        .route("/questions/{question_id}", web::get().to(question::page))
        .route("/questions/{question_id}/revisions", web::get().to(revisions::page))
        .route("/questions/{question_id}/answers/{seq}", web::get().to(question::go_to_answer))
        .service(question_form("/questions/{question_id}/answers", question::answer))
        .service(question_form("/questions/{question_id}/answers/preview", question::preview))
        .service(question_form("/questions/{question_id}/vote", actions::vote))
        .service(question_form("/questions/{question_id}/follow", actions::follow))
        .service(question_form("/questions/{question_id}/accept", actions::accept))
        .service(question_form("/questions/{question_id}/edit", actions::edit))
        .service(question_form("/questions/{question_id}/delete", actions::delete))
        .service(question_form("/questions/{question_id}/comments", actions::comment))
        .service(question_form("/questions/{question_id}/comments/delete", actions::delete_comment))
        .route("/static/{file}", web::get().to(assets::asset))
        .service(form("/login", accounts::log_in).route(web::get().to(accounts::login_page)))
        .service(form("/signup", accounts::sign_up).route(web::get().to(accounts::signup_page)))
        .service(form("/logout", accounts::log_out).route(web::get().to(|| async { see_other("/".into()) })))
        .route("/inbox", web::get().to(inbox::page))
        .service(
            form("/inbox/read-all", inbox::read_all)
                .route(web::get().to(|| async { see_other("/inbox".into()) })),
        )
        .service(form("/inbox/tags", tag_watch::set).route(web::get().to(tag_watch::page)))
        .route("/inbox/{entry_id}", web::get().to(inbox::open_entry));
}

/// A form's URL, answering `POST` with `post`.
fn form<F, Args>(path: &str, post: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path).route(web::post().to(post))
}

/// A form on a question's page; a `GET` on it goes to the question.
fn question_form<F, Args>(path: &str, post: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    form(path, post).route(web::get().to(question::back_to_question))
}
