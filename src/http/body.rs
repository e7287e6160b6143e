//! The time a request body may take to arrive. actix bounds the time to receive a request's
//! head, not its body, so a client that trickles a body a byte at a time would hold its
//! connection (and a worker's attention) for as long as it likes. This middleware gives every
//! body one deadline, counted from when its head arrived; past it the body ends in a
//! [`timed_out`] error, which the API answers with 408 JSON and the pages with a 408 page.

use std::{io, time::Duration};

use actix_web::{
    Error, HttpMessage,
    body::MessageBody,
    dev::{Payload, ServiceRequest, ServiceResponse},
    error::PayloadError,
    http::header,
    middleware::Next,
};
use futures_util::StreamExt;

/// The longest a body may take, as the middleware reads it from the app's data.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

/// Middleware: puts the deadline on the body of every request that has one.
pub async fn bound_body_time(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let has_body = req.headers().contains_key(header::CONTENT_LENGTH)
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    // A WebSocket's frames arrive through the payload too, for as long as it lives; its own
    // timeouts (ping, idle) govern it.
    let upgrade = req.headers().contains_key(header::UPGRADE);
    if let (true, false, Some(BodyTimeout(limit))) =
        (has_body, upgrade, req.app_data::<BodyTimeout>().copied())
    {
        let deadline = tokio::time::Instant::now() + limit;
        let body = futures_util::stream::unfold(Some(req.take_payload()), move |payload| async move {
            let mut payload = payload?;
            match tokio::time::timeout_at(deadline, payload.next()).await {
                Ok(Some(chunk)) => Some((chunk, Some(payload))),
                Ok(None) => None,
                // Ends the body after the error: nothing more is read from this client.
                Err(_) => Some((Err(timed_out()), None)),
            }
        });
        req.set_payload(Payload::Stream { payload: Box::pin(body) });
    }
    next.call(req).await
}

fn timed_out() -> PayloadError {
    PayloadError::Io(io::Error::new(io::ErrorKind::TimedOut, "the request body took too long to arrive"))
}

/// Whether a body failed because it missed its deadline.
pub fn is_timed_out(e: &PayloadError) -> bool {
    matches!(e, PayloadError::Io(e) if e.kind() == io::ErrorKind::TimedOut)
}
