//! Typed calls to the REST API.

use chrono::{DateTime, Utc};
use reqwest::{Response, StatusCode};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use url::Url;
use uuid::Uuid;

use crate::{Answer, ApiError, Error, PostId, PostKind};

/// A question, as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub id: Uuid,
    pub title: String,
    /// The Markdown source, as written.
    pub body: String,
    /// `body` rendered to sanitised HTML by the hub when it was written: show it as is. Empty
    /// from a hub older than `body_html`.
    #[serde(default)]
    pub body_html: String,
    /// The asker's display name.
    pub author: String,
    /// The asker's user id; null for an anonymous post.
    #[serde(default)]
    pub author_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// How many answers the question has; also its highest answer `seq`.
    pub answer_count: i64,
}

/// A question to ask: title 1–300 characters, body 1–30,000. The author is the client's
/// identity ([`Client::with_token`]); `author` (1–64 characters) counts only on a hub run with
/// `--anonymous-writes`, and is left out when empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewQuestion {
    pub title: String,
    pub body: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub author: String,
}

/// An answer to post: body 1–30,000 characters; `author` as in [`NewQuestion`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewAnswer {
    pub body: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub author: String,
}

/// A post's score after a vote ([`Client::vote`]), and the caller's vote now.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VoteResult {
    pub post_kind: PostKind,
    pub post_id: Uuid,
    /// The sum of the post's standing votes.
    pub score: i64,
    /// The caller's standing vote: 1, -1 or 0.
    pub vote: i64,
}

/// One revision of a post, as an edit returns it ([`Client::edit_answer`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Revision {
    pub post_kind: PostKind,
    pub post_id: Uuid,
    pub question_id: Uuid,
    /// 1 is the post as written; each edit that changed the text adds one.
    pub revision: i64,
    /// A question's title at this revision; `None` for answers.
    #[serde(default)]
    pub title: Option<String>,
    pub body: String,
    /// `body` rendered to sanitised HTML by the hub (empty from a hub older than `body_html`).
    #[serde(default)]
    pub body_html: String,
    /// Who wrote this revision (display name and user id).
    pub editor: String,
    #[serde(default)]
    pub editor_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// The identity a client acts as ([`Client::me`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Me {
    pub id: Uuid,
    /// What the user's posts show as the author.
    pub name: String,
    /// `user`, `moderator` or `admin`.
    pub role: String,
}

/// One page of questions, newest first; pass `next` as `before` for the next page.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QuestionPage {
    pub items: Vec<Question>,
    pub next: Option<Uuid>,
}

/// One page of answers in seq order; pass `next_after_seq` as `after_seq` for the next page.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AnswerPage {
    pub items: Vec<Answer>,
    pub next_after_seq: Option<i64>,
}

/// The REST API of one hub. Cheap to clone: clones share the connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// Ends with `/`, so that `api/…` joins below it (a hub served under a path prefix works).
    base: Url,
    /// Sent as `Authorization: Bearer` on every request.
    token: Option<String>,
}

impl Client {
    /// A client for the hub at `base_url` (`http://127.0.0.1:8080`, `https://hub.example`).
    pub fn new(base_url: &str) -> Result<Self, Error> {
        Self::with_http(base_url, Self::http_builder().build()?)
    }

    /// A client that sends its requests through `http` (for your own timeouts or pool size;
    /// start from [`Client::http_builder`] to keep the TLS set-up).
    pub fn with_http(base_url: &str, http: reqwest::Client) -> Result<Self, Error> {
        let bad = |reason: &str| Error::Url { url: base_url.into(), reason: reason.into() };
        let mut base = Url::parse(base_url).map_err(|e| bad(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || !base.has_host() {
            return Err(bad("expected http:// or https:// and a host"));
        }
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(Self { http, base, token: None })
    }

    /// Acts as the identity of `token` (a service token `qah_…`, or a host-signed JWT): the
    /// hub needs one to ask and answer.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    fn post(&self, url: Url) -> reqwest::RequestBuilder {
        self.with_auth(self.http.post(url))
    }

    /// Sends the client's token, if it has one.
    fn with_auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => req.bearer_auth(token),
            None => req,
        }
    }

    /// A `reqwest` client builder with this crate's TLS set-up (rustls, ring, Mozilla roots).
    pub fn http_builder() -> reqwest::ClientBuilder {
        reqwest::Client::builder().use_rustls_tls()
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The hub's WebSocket URL: `ws://` (or `wss://` for https) and `/ws` under the base.
    pub fn ws_url(&self) -> Url {
        let mut url = self.base.join("ws").expect("a relative path joins");
        let scheme = if self.base.scheme() == "https" { "wss" } else { "ws" };
        url.set_scheme(scheme).expect("ws and wss are valid for an http URL");
        url
    }

    /// The hub's Server-Sent Events URL (`http(s)://…/sse`), for a [`Subscriber`](crate::Subscriber)
    /// where WebSockets do not get through.
    pub fn sse_url(&self) -> Url {
        self.base.join("sse").expect("a relative path joins")
    }

    /// `POST /api/questions`.
    pub async fn ask(&self, question: &NewQuestion) -> Result<Question, Error> {
        read(self.post(self.url("api/questions", &[])).json(question).send().await?).await
    }

    /// `GET /api/questions/{id}`.
    pub async fn question(&self, id: Uuid) -> Result<Question, Error> {
        read(self.http.get(self.url(&format!("api/questions/{id}"), &[])).send().await?).await
    }

    /// `GET /api/questions?limit=&before=`: newest first; `None` leaves the server's default
    /// (20) or starts at the newest.
    pub async fn questions(&self, limit: Option<u32>, before: Option<Uuid>) -> Result<QuestionPage, Error> {
        let (limit, before) = (limit.map(|l| l.to_string()), before.map(|b| b.to_string()));
        let query = [("limit", limit.as_deref()), ("before", before.as_deref())];
        read(self.http.get(self.url("api/questions", &query)).send().await?).await
    }

    /// `POST /api/questions/{id}/answers`: the stored answer, with its `seq`.
    pub async fn post_answer(&self, question: Uuid, answer: &NewAnswer) -> Result<Answer, Error> {
        let url = self.url(&format!("api/questions/{question}/answers"), &[]);
        read(self.post(url).json(answer).send().await?).await
    }

    /// `POST /api/questions/{id}/answers` with an `Idempotency-Key`: sent again with the same
    /// key (after a timeout, say), it returns the first answer and stores nothing new.
    pub async fn post_answer_once(
        &self,
        question: Uuid,
        answer: &NewAnswer,
        key: &str,
    ) -> Result<Answer, Error> {
        let url = self.url(&format!("api/questions/{question}/answers"), &[]);
        read(self.post(url).header("Idempotency-Key", key).json(answer).send().await?).await
    }

    /// `GET /api/questions/{id}/answers?after_seq=&limit=`: answers with `seq > after_seq`, in
    /// seq order; `None` leaves the server's default page size (50).
    pub async fn answers(
        &self,
        question: Uuid,
        after_seq: i64,
        limit: Option<u32>,
    ) -> Result<AnswerPage, Error> {
        let (after, limit) = (after_seq.to_string(), limit.map(|l| l.to_string()));
        let query = [("after_seq", Some(after.as_str())), ("limit", limit.as_deref())];
        let url = self.url(&format!("api/questions/{question}/answers"), &query);
        read(self.http.get(url).send().await?).await
    }

    /// `PUT /api/{questions,answers}/{id}/vote` with `value` 1 (up), -1 (down) or 0 (withdraw
    /// the caller's vote): the post's score after it. Needs an identity; voting on one's own
    /// post is refused (403 `own_post`). Casting the vote that already stands changes nothing
    /// (and sends no `score` event), so a retry is safe.
    pub async fn vote(&self, post: PostId, value: i64) -> Result<VoteResult, Error> {
        let kind = match post.post_kind {
            PostKind::Question => "questions",
            PostKind::Answer => "answers",
        };
        let url = self.url(&format!("api/{kind}/{}/vote", post.post_id), &[]);
        #[derive(Serialize)]
        struct Body {
            value: i64,
        }
        read(self.with_auth(self.http.put(url)).json(&Body { value }).send().await?).await
    }

    /// `PATCH /api/answers/{id}` with the answer's whole new body (1–30,000 characters), by its
    /// author or a moderator (else 403 `not_author`): the answer's latest revision. Sending the
    /// text it already has adds no revision (and sends no `edit` event); the latest one comes
    /// back unchanged.
    pub async fn edit_answer(&self, answer: Uuid, body: &str) -> Result<Revision, Error> {
        let url = self.url(&format!("api/answers/{answer}"), &[]);
        #[derive(Serialize)]
        struct Body<'a> {
            body: &'a str,
        }
        read(self.with_auth(self.http.patch(url)).json(&Body { body }).send().await?).await
    }

    /// `GET /api/me`: the identity this client's token stands for (401 without one). A
    /// host-signed token's user is created on the hub the first time it is seen.
    pub async fn me(&self) -> Result<Me, Error> {
        read(self.with_auth(self.http.get(self.url("api/me", &[]))).send().await?).await
    }

    fn url(&self, path: &str, query: &[(&str, Option<&str>)]) -> Url {
        let mut url = self.base.join(path).expect("API paths are relative and valid");
        let mut pairs = query.iter().filter_map(|(k, v)| Some((*k, (*v)?))).peekable();
        if pairs.peek().is_some() {
            url.query_pairs_mut().extend_pairs(pairs);
        }
        url
    }
}

/// The body of a success, or the API's error.
async fn read<T: DeserializeOwned>(response: Response) -> Result<T, Error> {
    let status = response.status();
    if status.is_success() {
        return Ok(response.json().await?);
    }
    Err(api_error(status, &response.bytes().await?).into())
}

fn api_error(status: StatusCode, body: &[u8]) -> ApiError {
    #[derive(Deserialize)]
    struct Body {
        error: Detail,
    }
    #[derive(Deserialize)]
    struct Detail {
        code: String,
        message: String,
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(Body { error }) => ApiError { status, code: error.code, message: error.message },
        Err(_) => {
            ApiError { status, code: String::new(), message: String::from_utf8_lossy(body).into_owned() }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
    };

    use super::*;

    #[test]
    fn urls() {
        let client = Client::new("http://127.0.0.1:8080").unwrap();
        assert_eq!(client.ws_url().as_str(), "ws://127.0.0.1:8080/ws");
        assert_eq!(
            client.url("api/questions", &[("limit", Some("5")), ("before", None)]).as_str(),
            "http://127.0.0.1:8080/api/questions?limit=5"
        );
        assert_eq!(
            client.url("api/questions", &[("before", None)]).as_str(),
            "http://127.0.0.1:8080/api/questions"
        );
        let prefixed = Client::new("https://example.org/hub").unwrap();
        assert_eq!(prefixed.ws_url().as_str(), "wss://example.org/hub/ws");
        assert_eq!(prefixed.url("api/questions", &[]).as_str(), "https://example.org/hub/api/questions");
        assert!(matches!(Client::new("ws://127.0.0.1:8080"), Err(Error::Url { .. })));
        assert!(matches!(Client::new("127.0.0.1:8080"), Err(Error::Url { .. })));
    }

    /// Serves one canned HTTP response per connection.
    async fn canned(status_line: &'static str, body: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let response = format!(
                    "HTTP/1.1 {status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn errors_carry_status_code_and_message() {
        let base = canned(
            "404 Not Found",
            r#"{"error":{"code":"question_not_found","message":"No question has that id."}}"#,
        )
        .await;
        let err = Client::new(&base).unwrap().question(Uuid::nil()).await.unwrap_err();
        assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
        assert_eq!(err.code(), Some("question_not_found"));
        let Error::Api(api) = err else { panic!("an API error") };
        assert_eq!(api.message, "No question has that id.");

        let base = canned("502 Bad Gateway", "upstream down").await;
        let err = Client::new(&base).unwrap().questions(None, None).await.unwrap_err();
        let Error::Api(api) = err else { panic!("an API error") };
        assert_eq!(
            (api.status, api.code.as_str(), api.message.as_str()),
            (StatusCode::BAD_GATEWAY, "", "upstream down")
        );
    }
}
