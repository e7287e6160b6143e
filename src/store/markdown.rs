//! Filling `body_html` for the rows written before it existed (migration
//! `20261208000001_markdown`): one pass right after the migrations run, in batches of
//! [`BATCH`] rows a transaction, each table until it has no NULL left. New rows never need it:
//! they are written with their HTML. A row this pass has not reached yet is rendered when
//! read (`rows::rendered`), so nothing shows raw text meanwhile.

use uuid::Uuid;

use super::Store;
use crate::domain::{DomainError, markdown};

const BATCH: i64 = 500;

/// A table to fill: the rows still to fill, the update of one, how its body renders.
type Table = (&'static str, &'static str, fn(&str) -> String);

const TABLES: [Table; 4] = [
    (
        "SELECT id, body FROM questions WHERE body_html IS NULL LIMIT $1",
        "UPDATE questions SET body_html = $2 WHERE id = $1 AND body_html IS NULL",
        markdown::full,
    ),
    (
        "SELECT id, body FROM answers WHERE body_html IS NULL LIMIT $1",
        "UPDATE answers SET body_html = $2 WHERE id = $1 AND body_html IS NULL",
        markdown::full,
    ),
    (
        "SELECT id, body FROM revisions WHERE body_html IS NULL LIMIT $1",
        "UPDATE revisions SET body_html = $2 WHERE id = $1 AND body_html IS NULL",
        markdown::full,
    ),
    (
        "SELECT id, body FROM comments WHERE body_html IS NULL LIMIT $1",
        "UPDATE comments SET body_html = $2 WHERE id = $1 AND body_html IS NULL",
        markdown::inline,
    ),
];

impl Store {
    /// Renders every post and comment that has no `body_html` yet; returns how many. The
    /// update keeps `body_html IS NULL` in its condition: an edit that committed meanwhile
    /// (body and HTML together) is not overwritten with the old body's HTML.
    pub async fn fill_body_html(&self) -> Result<u64, DomainError> {
        let mut filled = 0;
        for (select, update, render) in TABLES {
            loop {
                let rows: Vec<(Uuid, String)> = self.write(select).bind(BATCH).fetch_all().await?;
                if rows.is_empty() {
                    break;
                }
                let rendered: Vec<(Uuid, String)> =
                    rows.into_iter().map(|(id, body)| (id, render(&body))).collect();
                let mut tx = self.begin().await?;
                for (id, html) in &rendered {
                    tx.query(update).bind(*id).bind(html).execute().await?;
                }
                tx.commit(&[]).await?;
                filled += rendered.len() as u64;
            }
        }
        Ok(filled)
    }
}
