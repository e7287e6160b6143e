//! The HTTP server: actix-web's [`App`](actix_web::App) for every request, and the socket of an
//! accepted WebSocket handed over to us.
//!
//! actix-web's `HttpServer` keeps every connection inside its HTTP/1 dispatcher, upgraded ones
//! too: an idle WebSocket would carry the dispatcher's two 8 KiB buffers, and every frame we
//! send would be copied into its write buffer. So the server is put together here from the
//! parts `HttpServer` is made of (actix-server's workers, actix-http's `HttpService`), with the
//! one hook `HttpServer` does not expose: [`upgrade`](actix_http::HttpServiceBuilder::upgrade),
//! which takes a connection asking for `Upgrade: websocket` out of the dispatcher.
//!
//! Such a request is still answered by the App, middleware and all (`upgraded`): `GET /ws`
//! checks the origin, the caps and the cookie as any handler would and answers 101 with the
//! connection it prepared ([`Accepted`](super::ws::Accepted)) in the response's extensions.
//! Only then is the socket ours: we write the 101 head, drop the dispatcher's buffers and
//! start the connection on the bare TCP stream. Any other answer is written out as it is, and
//! the connection closed.

use std::{
    any::Any,
    net::{SocketAddr, TcpListener, ToSocketAddrs},
    rc::Rc,
    sync::Arc,
    time::Duration,
};

use actix_codec::Framed;
use actix_http::{
    ConnectionType, HttpMessage as _, HttpService, Request, Response, StatusCode,
    body::{BodySize, BoxBody, MessageBody},
    h1,
};
use actix_service::{
    IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt, fn_factory, fn_service, map_config,
};
use actix_web::{
    dev::{AppConfig, Extensions, Server, ServiceResponse},
    rt::net::TcpStream,
};
use futures_util::SinkExt;

use super::ws;

/// A hook called with every accepted TCP connection (as `&dyn Any`) and its data.
pub type OnConnect = Arc<dyn Fn(&dyn Any, &mut Extensions) + Send + Sync>;

/// How the server runs.
pub struct Options {
    pub workers: usize,
    /// How long in-flight requests get when the server stops.
    pub shutdown_timeout: Duration,
    /// Called for every accepted TCP connection, with the connection's data.
    pub on_connect: OnConnect,
}

/// Binds `addr` (every address it resolves to) the way actix-web does: address reuse, so that a
/// restarted node gets its port back at once, and a backlog of 1,024.
pub fn bind(addr: &str) -> std::io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::new();
    let mut last_error = None;
    for addr in addr.to_socket_addrs()? {
        match listen(addr) {
            Ok(listener) => listeners.push(listener),
            Err(e) => last_error = Some(e),
        }
    }
    match (listeners.is_empty(), last_error) {
        (true, Some(e)) => Err(e),
        (true, None) => Err(std::io::Error::other("the address resolves to nothing")),
        (false, _) => Ok(listeners),
    }
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// What an actix-web `App` becomes to be served (`App::into_factory`): a factory of the
/// service that answers requests.
pub trait AppFactory<B>:
    ServiceFactory<
        Request,
        Config = AppConfig,
        Response = ServiceResponse<B>,
        Error = actix_web::Error,
        InitError = (),
    > + 'static
{
}

impl<T, B> AppFactory<B> for T where
    T: ServiceFactory<
            Request,
            Config = AppConfig,
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static
{
}

/// A server on `listeners` serving the App that `app` builds (once per worker and listener),
/// with WebSockets taken over as the module says.
pub fn serve<F, I, S, B>(app: F, listeners: Vec<TcpListener>, options: Options) -> std::io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: AppFactory<B>,
    S::Service: 'static,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    let on_connect = options.on_connect;
    let mut builder = actix_server::Server::build()
        .workers(options.workers)
        // `main` owns the signals, so that sockets get their 1001 before the server stops.
        .disable_signals()
        .shutdown_timeout(options.shutdown_timeout.as_secs());
    for listener in listeners {
        let addr = listener.local_addr()?;
        let (app, on_connect) = (app.clone(), on_connect.clone());
        builder = builder.listen(format!("qa-hub-{addr}"), listener, move || {
            let hook = on_connect.clone();
            let requests = app().into_factory().map_err(|e| e.error_response());
            HttpService::build()
                .local_addr(addr)
                .on_connect_ext(move |io: &TcpStream, data: &mut Extensions| hook(io as &dyn Any, data))
                .upgrade(upgrades(app.clone()))
                .finish(map_config(requests, |_| AppConfig::default()))
                .tcp()
        })?;
    }
    Ok(builder.run())
}

/// The upgrade service of one worker: the App of that worker, and what to do with its answer.
fn upgrades<F, I, S, B>(
    app: F,
) -> impl ServiceFactory<
    (Request, Framed<TcpStream, h1::Codec>),
    Config = (),
    Response = (),
    Error = actix_web::Error,
    InitError = (),
>
where
    F: Fn() -> I + 'static,
    I: IntoServiceFactory<S, Request>,
    S: AppFactory<B>,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    fn_factory(move || {
        let factory = app().into_factory();
        async move {
            let app = Rc::new(factory.new_service(AppConfig::default()).await?);
            Ok(fn_service(move |(req, framed)| upgraded(app.clone(), req, framed)))
        }
    })
}

/// A request that asked for `Upgrade: websocket`: the App answers it; a 101 that carries an
/// accepted connection starts it on the socket, any other answer is written and the connection
/// closed.
async fn upgraded<S, B>(
    app: Rc<S>,
    mut req: Request,
    mut framed: Framed<TcpStream, h1::Codec>,
) -> Result<(), actix_web::Error>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    // The connection's data (its place under the per-address cap) goes with the socket.
    let conn_data = req.take_conn_data();
    if conn_data.as_deref().is_some_and(|data| data.contains::<crate::limits::OverCap>()) {
        return respond(framed, super::conn_cap::over_cap().into()).await;
    }
    req.extensions_mut().insert(ws::Upgrading);
    let res: Response<BoxBody> = match app.call(req).await {
        Ok(res) => res.into_parts().1.map_into_boxed_body().into(),
        Err(e) => e.error_response().into(),
    };
    let (mut res, body) = res.into_parts();
    let accepted = res.extensions_mut().remove::<ws::Accepted>();
    match accepted {
        Some(accepted) if res.status() == StatusCode::SWITCHING_PROTOCOLS => {
            framed.send((res, BodySize::None).into()).await?;
            let parts = framed.into_parts();
            // The dispatcher's buffers stay behind; what the client sent after its head
            // (a first frame, perhaps) comes along.
            accepted.start(parts.io, parts.read_buf, conn_data);
            Ok(())
        }
        // A streaming answer (an event stream asked for with `Upgrade: websocket`) would hold
        // this connection for as long as it streams: it is dropped, and refused.
        _ if matches!(body.size(), BodySize::Stream) => {
            drop(body);
            let refused = super::error::Error::bad_request(
                "upgrade_not_supported",
                "Only /ws takes `Upgrade: websocket`; ask again without it.",
            );
            respond(framed, actix_web::ResponseError::error_response(&refused).into()).await
        }
        _ => respond(framed, res.set_body(body)).await,
    }
}

/// Writes `res` (a small, sized answer) and closes the connection.
async fn respond(
    mut framed: Framed<TcpStream, h1::Codec>,
    res: Response<BoxBody>,
) -> Result<(), actix_web::Error> {
    let (mut head, body) = res.into_parts();
    head.head_mut().set_connection_type(ConnectionType::Close);
    let body = actix_web::body::to_bytes_limited(body, 64 * 1024)
        .await
        .map_err(|_| std::io::Error::other("answer to an upgrade too large"))?
        .map_err(|_| std::io::Error::other("answer to an upgrade failed"))?;
    // Fed, then flushed at once: head and body in one write, as a client that reads the
    // refusal once it has the head (most WebSocket clients) expects.
    framed.feed((head, BodySize::Sized(body.len() as u64)).into()).await?;
    if !body.is_empty() {
        framed.feed(h1::Message::Chunk(Some(body))).await?;
    }
    framed.feed(h1::Message::Chunk(None)).await?;
    // actix-codec's `close` shuts the socket down without writing what was fed.
    framed.flush().await?;
    Ok(framed.close().await?)
}
