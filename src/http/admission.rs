//! Who may open a long-lived connection (a WebSocket or an event stream), decided before it
//! takes anything: the page's origin, a place under the connection caps, and the identity it
//! comes with.

use actix_web::HttpRequest;

use super::{Context, client_ip::client_of, error::Error, origin::AllowedOrigins};
use crate::{
    domain::Credential,
    limits::{Refused, Slot},
    realtime::session::Viewer,
    service::{Authenticated, auth::credential_id},
};

/// Refuses (403) a page from an origin `--allowed-origins` does not name, before a long-lived
/// connection (`what`: a WebSocket, an event stream) takes any place.
pub fn check_origin(req: &HttpRequest, what: &str) -> Result<(), Error> {
    let own = AllowedOrigins::default();
    if req.app_data::<AllowedOrigins>().unwrap_or(&own).allow(req) {
        return Ok(());
    }
    Err(Error::Forbidden {
        code: "forbidden_origin",
        message: format!("Pages from this origin may not open {what} here (see --allowed-origins)."),
    })
}

/// A place under the connection caps (per node, per client address), or a 503 saying which cap
/// is full.
pub fn admit(ctx: &Context, req: &HttpRequest) -> Result<Slot, Error> {
    let ip = client_of(req);
    ctx.connections().admit(ip.key()).map_err(|cap| {
        let (label, message) = match cap {
            Refused::Node => {
                ("node", "This server holds as many connections as it may; try another or retry later.")
            }
            Refused::Ip => ("ip", "Too many connections from your address; close some or retry later."),
        };
        ctx.metrics().connections_rejected.with_label_values(&[label]).inc();
        Error::Unavailable(message.into())
    })
}

/// Who a session acts for after `credential` checked out as `auth`.
pub fn viewer(auth: &Authenticated, credential: &Credential) -> Viewer {
    Viewer {
        user_id: auth.identity.user_id,
        credential: credential_id(credential),
        expires_at: auth.expires_at,
    }
}

/// The identity a page of this site opens its socket with: its session cookie. A cookie that
/// does not check out leaves the connection anonymous (reading is public).
pub async fn cookie_identity(ctx: &Context, req: &HttpRequest) -> Option<(Viewer, Credential)> {
    let credential = Credential::Session(super::auth::session_cookie(req)?);
    let auth = ctx.services().authenticate(&credential).await.ok()?;
    Some((viewer(&auth, &credential), credential))
}
