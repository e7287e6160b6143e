//! `/api/tags`: the tags in use with their live question counts, and one tag with the seq of its
//! topic (`tag:{name}`). The questions of a tag are `/api/questions?tag=`.

use actix_web::{HttpRequest, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::questions::page_size;
use crate::{
    domain::{self, TagName, parse_tag_name},
    http::{
        Context,
        error::{Error, ErrorBody, Result},
    },
};

/// A tag in use.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tag {
    #[schema(value_type = String)]
    name: TagName,
    /// Live (not deleted) questions carrying it.
    question_count: i64,
}

impl From<domain::TagCount> for Tag {
    fn from(t: domain::TagCount) -> Self {
        Self { name: t.name, question_count: t.question_count }
    }
}

/// One tag and where its live stream stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct TagDetail {
    #[schema(value_type = String)]
    name: TagName,
    /// Live (not deleted) questions carrying it.
    question_count: i64,
    /// The last seq of its topic (`tag:{name}`): subscribe with this as `after_seq` to get
    /// every question that joins or leaves the tag from now on.
    last_seq: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListTags {
    /// Page size, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// Skip this many tags (the `next` of the previous page; default 0).
    #[param(minimum = 0)]
    offset: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TagPage {
    /// Most used first, then by name. Tags no live question carries are not listed.
    items: Vec<Tag>,
    /// Pass as `offset` for the next page; null on the last page. Counts move as questions
    /// are asked, so a tag can move between pages while you read them.
    next: Option<i64>,
}

/// List the tags in use, most used first.
#[utoipa::path(get, path = "/api/tags", operation_id = "list_tags", tag = "questions", params(ListTags), responses(
    (status = 200, description = "A page of tags", body = TagPage),
    (status = 400, description = "Bad query parameter", body = ErrorBody),
))]
pub async fn list(ctx: web::Data<Context>, query: web::Query<ListTags>) -> Result<web::Json<TagPage>> {
    let limit = page_size(query.limit, 50)?;
    let offset = query.offset.unwrap_or(0);
    if offset < 0 {
        return Err(Error::bad_request("invalid_query", "offset must be 0 or more."));
    }
    let page = ctx.services().tags(offset, limit).await?;
    Ok(web::Json(TagPage { items: page.items.into_iter().map(Into::into).collect(), next: page.next }))
}

/// Get one tag: its live question count and its topic's last seq.
#[utoipa::path(get, path = "/api/tags/{tag}", operation_id = "get_tag", tag = "questions",
    params(("tag" = String, Path, description = "The tag's name (`+` may be sent as `%2B`, `#` must be sent as `%23`)")),
    responses(
        (status = 200, description = "The tag", body = TagDetail),
        (status = 404, description = "`tag_not_found`: no question ever carried it", body = ErrorBody),
        (status = 422, description = "Not a tag name; the message gives the rule", body = ErrorBody),
    ))]
pub async fn get(ctx: web::Data<Context>, req: HttpRequest) -> Result<web::Json<TagDetail>> {
    let tag = tag_in_path(&req)?;
    let (tag, last_seq) = ctx.services().tag(tag).await?;
    Ok(web::Json(TagDetail { name: tag.name, question_count: tag.question_count, last_seq }))
}

/// The `{tag}` of the path. The router leaves `%2B` encoded (as `%2F` and `%25`), so it is
/// decoded here: `c%2B%2B` and `c++` are the same tag.
fn tag_in_path(req: &HttpRequest) -> Result<TagName> {
    let raw = req.match_info().get("tag").unwrap_or_default().replace("%2B", "+").replace("%2b", "+");
    Ok(parse_tag_name("tag", &raw)?)
}
