//! The home page (`/`): the newest questions, 20 a page (`?before={id}` for older ones), live
//! on the newest page through `static/home.js`, and the "Ask a question" form
//! (`POST /questions`: a title, details and 1 to 5 tags), which redirects to the new question
//! or shows the page again with the errors next to the fields. Also the lists by tag: a tag's
//! questions (`/tags/{tag}`), paged and live like the home page, and the tags with their
//! counts (`/tags`).

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::{
    extract::{PageForm, PageLink, PageQuery, Visitor, WithCsrf, blank_is_none},
    page::{
        FieldErrors, PageError, TagLink, Viewer, check, check_post_budget, check_preview_budget, html,
        plural, see_other, tag_names, when,
    },
};
use crate::{
    domain::{Body, NewQuestion, Question, TagName, Tags, Title, Topic, markdown},
    http::Context,
};

/// Questions on one page of `/`.
const PAGE_SIZE: i64 = 20;

/// What the user typed, echoed back when the form has an error.
#[derive(Debug, Default, Deserialize)]
pub struct QuestionForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    /// Tag names separated by spaces or commas (`rust tokio`).
    #[serde(default)]
    tags: String,
    /// Only with `--anonymous-writes` and no one logged in.
    #[serde(default)]
    author: String,
    #[serde(default)]
    csrf: String,
}

impl WithCsrf for QuestionForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `?before={id}`: the page of questions older than that one.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default, deserialize_with = "blank_is_none")]
    before: Option<Uuid>,
    /// `?ignored=show`: also the questions carrying a tag the viewer ignores.
    #[serde(default, deserialize_with = "blank_is_none")]
    ignored: Option<String>,
}

impl PageLink for ListQuery {
    fn invalid() -> PageError {
        PageError::new(StatusCode::BAD_REQUEST, "Bad page link", "That page link is not valid.")
    }
}

struct QuestionSummary {
    id: Uuid,
    title: String,
    excerpt: String,
    author: String,
    when: String,
    iso: String,
    answer_count: i64,
    answers_word: &'static str,
    /// It carries a tag the viewer ignores: rendered hidden.
    ignored: bool,
    tags: Vec<TagLink>,
}

impl From<Question> for QuestionSummary {
    fn from(q: Question) -> Self {
        let (when, iso) = when(q.created_at);
        let mut excerpt: String = q.body.chars().take(180).collect();
        if excerpt.len() < q.body.len() {
            excerpt.push('…');
        }
        Self {
            id: q.id,
            title: q.title,
            excerpt,
            author: q.author,
            when,
            iso,
            answer_count: q.answer_count,
            answers_word: plural(q.answer_count),
            ignored: false,
            tags: TagLink::all(&q.tags),
        }
    }
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    questions: Vec<QuestionSummary>,
    next: Option<Uuid>,
    paged: bool,
    form: QuestionForm,
    errors: FieldErrors,
    viewer: Option<Viewer>,
    /// Whether people who are not logged in may post, naming themselves.
    anonymous: bool,
    /// On the newest page, the seq of the list of questions this page shows: the script
    /// subscribes to `questions` from here. Older pages are not live.
    list_seq: Option<i64>,
    /// The form's body as it will show (the Preview button without JavaScript).
    preview: Option<String>,
    /// The tags the viewer ignores, space-separated (the script hides live questions carrying
    /// one); empty when they ignore none or asked to see them (`?ignored=show`).
    ignored_tags: String,
    /// How many questions on this page carry one, hidden behind the "n hidden" link.
    hidden: usize,
    /// `?ignored=show`: they are shown.
    showing_ignored: bool,
}

async fn index_page(
    ctx: &Context,
    before: Option<Uuid>,
    form: QuestionForm,
    errors: FieldErrors,
    viewer: Option<Viewer>,
    show_ignored: bool,
) -> Result<IndexPage, PageError> {
    let ignored = match &viewer {
        Some(v) if !show_ignored => ctx.services().ignored_tags(v.user_id).await?,
        _ => Vec::new(),
    };
    let (page, list_seq) = match before {
        None => {
            let (page, seq) = ctx.services().newest_questions(PAGE_SIZE).await?;
            (page, Some(seq))
        }
        Some(_) => (ctx.services().questions(before, PAGE_SIZE).await?, None),
    };
    let questions: Vec<QuestionSummary> = page
        .items
        .into_iter()
        .map(|q| {
            let hide = q.tags.iter().any(|t| ignored.contains(t));
            QuestionSummary { ignored: hide, ..q.into() }
        })
        .collect();
    Ok(IndexPage {
        hidden: questions.iter().filter(|q| q.ignored).count(),
        ignored_tags: ignored.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(" "),
        showing_ignored: show_ignored,
        questions,
        next: page.next,
        paged: before.is_some(),
        form,
        errors,
        viewer,
        anonymous: ctx.anonymous_writes(),
        list_seq,
        preview: None,
    })
}

/// `GET /?before=ID`: a page of questions, newest first.
pub async fn index(
    ctx: web::Data<Context>,
    PageQuery(query): PageQuery<ListQuery>,
    visitor: Visitor,
) -> Result<HttpResponse, PageError> {
    let show = query.ignored.as_deref() == Some("show");
    let page = index_page(
        &ctx,
        query.before,
        QuestionForm::default(),
        FieldErrors::default(),
        visitor.viewer(),
        show,
    )
    .await?;
    Ok(html(StatusCode::OK, &page))
}

/// `POST /questions` (form): creates a question and redirects to it.
pub async fn ask(
    ctx: web::Data<Context>,
    req: HttpRequest,
    form: PageForm<QuestionForm>,
) -> Result<HttpResponse, PageError> {
    let (writer, viewer) = form.writer("/#ask").await?;
    check_post_budget(&req, &writer)?;
    let form = form.into_inner();
    let mut errors = FieldErrors::default();
    let title = check(Title::parse(form.title.as_str()), &mut errors.title);
    let body = check(Body::parse(form.body.as_str()), &mut errors.body);
    let tags = check(Tags::parse(&tag_names(&form.tags)), &mut errors.tags);
    let author = check(writer.author(Some(form.author.as_str())), &mut errors.author);
    let (Some(title), Some(body), Some(tags), Some((author, author_id))) = (title, body, tags, author) else {
        let page = index_page(&ctx, None, form, errors, viewer, false).await?;
        return Ok(html(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    let question =
        ctx.services().ask(NewQuestion { title, body, tags: Some(tags), author, author_id }, None).await?;
    Ok(see_other(format!("/questions/{}", question.value.id)))
}

/// `POST /questions/preview` (the ask form's Preview button, `formaction`): the home page with
/// the form as typed and its body shown as it will be posted. Stores nothing.
pub async fn preview(
    ctx: web::Data<Context>,
    req: HttpRequest,
    form: PageForm<QuestionForm>,
) -> Result<HttpResponse, PageError> {
    let (writer, viewer) = form.writer("/#ask").await?;
    check_preview_budget(&req, &writer)?;
    let form = form.into_inner();
    let mut errors = FieldErrors::default();
    let preview =
        check(Body::parse(form.body.as_str()), &mut errors.body).map(|b| markdown::full(b.as_str()));
    let mut page = index_page(&ctx, None, form, errors, viewer, false).await?;
    page.preview = preview;
    Ok(html(StatusCode::OK, &page))
}

/// A tag's questions (`/tags/{tag}`), listed and live as the home page's are.
#[derive(Template)]
#[template(path = "tag.html")]
struct TagPage {
    tag: TagLink,
    /// The tag's topic (`tag:{name}`), which the script watches.
    topic: String,
    questions: Vec<QuestionSummary>,
    next: Option<Uuid>,
    paged: bool,
    viewer: Option<Viewer>,
    /// On the newest page, the seq of the tag's topic this page shows: the script subscribes
    /// from here. Older pages are not live.
    list_seq: Option<i64>,
}

/// The tag a `/tags/{tag}` address names. A name that breaks the rules names no page: a 404
/// that says the rule. A name in another case (`/tags/Rust`) is the same tag: see `tag_page`.
/// (A segment that does not even decode to text, `/tags/%FF`, says the rule alone.)
fn tag_of(raw: Option<&str>) -> Result<TagName, PageError> {
    raw.and_then(|raw| raw.parse().ok()).ok_or_else(|| {
        let named = raw.map(|raw| format!("{raw:?} is not a tag name. ")).unwrap_or_default();
        PageError::new(StatusCode::NOT_FOUND, "No such tag", format!("{named}{}", TagName::RULE))
    })
}

/// `GET /tags/{tag}?before=ID`: the questions tagged `tag`, newest first, 20 a page; the
/// newest page is live (`static/home.js` on topic `tag:{tag}`).
pub async fn tag_page(
    ctx: web::Data<Context>,
    raw: Result<web::Path<String>, actix_web::Error>,
    PageQuery(query): PageQuery<ListQuery>,
    visitor: Visitor,
) -> Result<HttpResponse, PageError> {
    let raw = raw.ok().map(web::Path::into_inner);
    let tag = tag_of(raw.as_deref())?;
    if raw.as_deref() != Some(tag.as_str()) {
        let href = TagLink::of(&tag).href;
        return Ok(see_other(match query.before {
            Some(before) => format!("{href}?before={before}"),
            None => href,
        }));
    }
    let services = ctx.services();
    let (page, list_seq) = match query.before {
        None => {
            let (page, seq) = services.newest_questions_tagged(tag, PAGE_SIZE).await?;
            (page, Some(seq))
        }
        Some(before) => (services.questions_tagged(tag, Some(before), PAGE_SIZE).await?, None),
    };
    let page = TagPage {
        tag: TagLink::of(&tag),
        topic: Topic::Tag(tag).to_string(),
        questions: page.items.into_iter().map(Into::into).collect(),
        next: page.next,
        paged: query.before.is_some(),
        viewer: visitor.viewer(),
        list_seq,
    };
    Ok(html(StatusCode::OK, &page))
}

/// Tags on one page of `/tags`.
const TAGS_PER_PAGE: i64 = 100;

/// `?offset=N`: the page of tags after the `N` most used (the API's `offset`).
#[derive(Debug, Deserialize)]
pub struct TagsQuery {
    #[serde(default, deserialize_with = "blank_is_none")]
    offset: Option<u32>,
}

impl PageLink for TagsQuery {
    fn invalid() -> PageError {
        PageError::new(StatusCode::BAD_REQUEST, "Bad page link", "That page link is not valid.")
    }
}

struct TagCountView {
    tag: TagLink,
    count: i64,
    questions_word: &'static str,
}

#[derive(Template)]
#[template(path = "tags.html")]
struct TagsPage {
    tags: Vec<TagCountView>,
    /// The links to the previous page (after the first) and to the next one.
    previous: Option<String>,
    next: Option<String>,
    viewer: Option<Viewer>,
}

/// `GET /tags?offset=N`: the tags questions carry, with how many each, most used first (then
/// by name), 100 a page.
pub async fn tags_page(
    ctx: web::Data<Context>,
    PageQuery(query): PageQuery<TagsQuery>,
    visitor: Visitor,
) -> Result<HttpResponse, PageError> {
    let offset = i64::from(query.offset.unwrap_or(0));
    let page = ctx.services().tags(offset, TAGS_PER_PAGE).await?;
    let tags = page
        .items
        .into_iter()
        .map(|t| TagCountView {
            tag: TagLink::of(&t.name),
            count: t.question_count,
            questions_word: if t.question_count == 1 { "question" } else { "questions" },
        })
        .collect();
    let link = |offset: i64| if offset > 0 { format!("/tags?offset={offset}") } else { "/tags".to_owned() };
    let previous = (offset > 0).then(|| link((offset - TAGS_PER_PAGE).max(0)));
    let next = page.next.map(link);
    let page = TagsPage { tags, previous, next, viewer: visitor.viewer() };
    Ok(html(StatusCode::OK, &page))
}
