//! `/static/{file}`: the stylesheet and scripts, compiled into the binary so the pages work
//! offline with no build step.

use actix_web::{HttpResponse, http::StatusCode, http::header, web};

use super::page::PageError;

const APP_CSS: &str = include_str!("../../../static/app.css");
const CLIENT_JS: &str = include_str!("../../../static/qa-hub-client.js");
const QUESTION_JS: &str = include_str!("../../../static/question.js");
const HOME_JS: &str = include_str!("../../../static/home.js");
const INBOX_JS: &str = include_str!("../../../static/inbox.js");
const PREVIEW_JS: &str = include_str!("../../../static/preview.js");

/// `GET /static/{file}`: the stylesheet and scripts compiled into the binary.
pub async fn asset(path: web::Path<String>) -> Result<HttpResponse, PageError> {
    let (body, content_type) = match path.as_str() {
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "qa-hub-client.js" => (CLIENT_JS, "text/javascript; charset=utf-8"),
        "question.js" => (QUESTION_JS, "text/javascript; charset=utf-8"),
        "home.js" => (HOME_JS, "text/javascript; charset=utf-8"),
        "inbox.js" => (INBOX_JS, "text/javascript; charset=utf-8"),
        "preview.js" => (PREVIEW_JS, "text/javascript; charset=utf-8"),
        _ => return Err(PageError::new(StatusCode::NOT_FOUND, "Not found", "There is no such file.")),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // Revalidate every time: the files are small and change with the binary.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Other sites may embed the client script.
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(body))
}
