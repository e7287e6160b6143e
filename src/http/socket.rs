//! The TCP socket under a long-lived connection: its send buffer fixed
//! ([`bound_send_buffer`]), and a connection that stops reading cut off whole. A WebSocket's
//! socket is its task's own ([`ws`](super::ws)); an event stream's is written by actix's
//! dispatcher, which only asks our response body for more when the socket takes what it
//! holds: a peer that never reads leaves the dispatcher waiting for ever, holding the
//! connection, its buffers and whatever the body still queues. Ending our task cannot reach
//! that; closing the socket can.
//!
//! [`on_connect`](super::conn_cap::on_connect) records each plain TCP connection's descriptor
//! as connection data; [`SocketFd::cut`] resets that connection: no linger (the kernel drops
//! what is unsent and answers with RST instead of trying for minutes), then a shutdown both
//! ways, on which the dispatcher's next poll fails and it drops the connection and our body.

use std::os::fd::{BorrowedFd, RawFd};

/// A connection's socket descriptor, as `on_connect` saw it.
#[derive(Debug, Clone, Copy)]
pub struct SocketFd(pub RawFd);

impl SocketFd {
    /// Fixes the kernel's send buffer at `bytes` (see `--send-buffer-bytes`); same contract
    /// as [`SocketFd::cut`].
    pub fn bound_send_buffer(self, bytes: usize) {
        // SAFETY: as in `cut`.
        let fd = unsafe { BorrowedFd::borrow_raw(self.0) };
        bound_send_buffer(&socket2::SockRef::from(&fd), bytes);
    }

    /// Resets the connection. The caller must know that the connection is still open: here,
    /// that the response body it belongs to has not been dropped yet. The body and the task
    /// that calls this run on the same worker thread as the dispatcher, so nothing can close
    /// the descriptor (and the number be given to another connection) between that check and
    /// this call.
    pub fn cut(self) {
        // SAFETY: the descriptor is open for as long as the caller's body lives (above), and
        // it is only borrowed here, never closed.
        let fd = unsafe { BorrowedFd::borrow_raw(self.0) };
        let socket = socket2::SockRef::from(&fd);
        reset_on_close(&socket);
        if let Err(e) = socket.shutdown(std::net::Shutdown::Both) {
            tracing::debug!(error = %e, "cutting a connection: shutdown");
        }
    }
}

/// Fixes a socket's kernel send buffer at `bytes` (`--send-buffer-bytes`), so that a peer that
/// does not read cannot make the kernel grow it to megabytes.
pub fn bound_send_buffer(socket: &socket2::SockRef<'_>, bytes: usize) {
    if let Err(e) = socket.set_send_buffer_size(bytes) {
        tracing::debug!(error = %e, "bounding a connection's send buffer");
    }
}

/// No linger: when the socket is closed, the kernel drops what is unsent and answers with RST
/// instead of trying for minutes.
pub fn reset_on_close(socket: &socket2::SockRef<'_>) {
    if let Err(e) = socket.set_linger(Some(std::time::Duration::ZERO)) {
        tracing::debug!(error = %e, "cutting a connection: no linger");
    }
}
