mod common;

use common::{Backend, spawn};

async fn post_and_receive(backend: Backend) {
    let app = spawn(backend).await;
    let q = app.question().await;
    let mut ws = app.ws().await;
    assert_eq!(ws.subscribe(q, None).await, 0);
    app.answer(q, "first").await;
    assert_eq!(ws.answers(1).await, vec![(q, 1)]);
}

on_both_backends!(post_and_receive);
