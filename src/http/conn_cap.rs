//! The cap on TCP connections per client address, plain HTTP and WebSocket alike: without
//! it, one client could hold every connection the server accepts, each for as long as the
//! head and body timeouts allow. actix offers no way to refuse a connection where it is
//! accepted, so each connection takes its place there ([`on_connect`]); one over its
//! client's cap is marked, and [`refuse_over_cap`] answers every request on it with 503 and
//! closes it. Connections from trusted proxies are not counted: each carries many clients.

use std::{any::Any, sync::Arc};

use actix_web::{
    Error as ActixError, HttpResponse,
    body::{EitherBody, MessageBody},
    dev::{Extensions, ServiceRequest, ServiceResponse},
    middleware::Next,
};

use super::{
    client_ip::{ClientIp, TrustedProxies},
    error::ErrorBody,
};
use crate::limits::{Connections, OverCap};

/// The `HttpServer::on_connect` hook: takes the connection's place under its client's cap;
/// the place comes back when the connection (and so its data) is dropped.
pub fn on_connect(
    caps: Arc<Connections>,
    trusted: TrustedProxies,
) -> impl Fn(&dyn Any, &mut Extensions) + Send + Sync + 'static {
    move |conn, data| {
        let Some(stream) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() else { return };
        // So that a long-lived response can cut its connection off (`socket`).
        data.insert(super::socket::SocketFd(std::os::fd::AsRawFd::as_raw_fd(stream)));
        // Which listener took it (the private metrics one, say).
        if let Ok(local) = stream.local_addr() {
            data.insert(LocalAddr(local));
        }
        let Ok(peer) = stream.peer_addr() else { return };
        let client = ClientIp::of_peer(peer.ip());
        if trusted.trusts(client.0) {
            return;
        }
        match caps.admit(client.key()) {
            Ok(slot) => {
                data.insert(slot);
            }
            Err(_) => {
                data.insert(OverCap);
            }
        }
    }
}

/// The local address of a connection's listener.
#[derive(Debug, Clone, Copy)]
pub struct LocalAddr(pub std::net::SocketAddr);

/// The answer to every request on a connection over its client's cap.
pub fn over_cap() -> HttpResponse {
    HttpResponse::ServiceUnavailable().force_close().json(ErrorBody::new(
        "unavailable",
        "Too many connections from your address; close some or retry later.",
    ))
}

/// Middleware: refuses every request on a connection over its client's cap, and closes it.
pub async fn refuse_over_cap(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, ActixError> {
    if req.conn_data::<OverCap>().is_some() {
        return Ok(req.into_response(over_cap()).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}
