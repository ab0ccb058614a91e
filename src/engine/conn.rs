//! One TCP connection of an engine (or a proxy's pair), and how the API shows it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::SystemTime;

use axum::body::Bytes;
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::ConnCmd;
use crate::event::format_time;
use crate::ids::ConnId;

/// One TCP connection of an engine.
#[derive(Debug)]
pub struct Conn {
    /// `c7`.
    pub id: ConnId,
    /// The remote `ip:port` (a client's ephemeral port, for a server).
    pub peer: SocketAddr,
    /// The local `ip:port`.
    pub local: SocketAddr,
    /// When it was accepted or connected.
    pub opened: SystemTime,
    pub(super) bytes_in: AtomicU64,
    pub(super) bytes_out: AtomicU64,
    pub(super) out: Outbox,
    pub(super) close: CancellationToken,
    pub(super) done: CancellationToken,
    /// A proxy's server leg: its addresses once connected, and its counters.
    pub(super) upstream: std::sync::OnceLock<(SocketAddr, SocketAddr)>,
    pub(super) up_in: AtomicU64,
    pub(super) up_out: AtomicU64,
}

/// What waits to be written on one connection: commands in order (the API's sends, a chat
/// room's lines), their bytes bounded together by `--max-message` as well as in number. A
/// peer that does not read makes its connection's writes wait, and then the commands queue
/// here; the bound is what it can pin of the server's memory, however much is sent to it.
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: mpsc::Sender<ConnCmd>,
    room: Arc<Semaphore>,
    max: u32,
}

/// The connection is gone: nothing reads its outbox any more.
#[derive(Debug)]
pub struct OutboxClosed;

impl Outbox {
    /// An outbox for `commands` commands and `bytes` bytes at most, and its reading end.
    pub fn new(commands: usize, bytes: usize) -> (Self, mpsc::Receiver<ConnCmd>) {
        let (tx, rx) = mpsc::channel(commands);
        let max = u32::try_from(bytes).unwrap_or(u32::MAX);
        let out = Self {
            tx,
            room: Arc::new(Semaphore::new(max as usize)),
            max,
        };
        (out, rx)
    }

    /// The place `n` bytes take: all of it for a message as large as the whole outbox.
    fn size(&self, n: usize) -> u32 {
        u32::try_from(n).unwrap_or(u32::MAX).min(self.max)
    }

    /// Queues `data` only if there is room now; false when there is not (a chat room's line:
    /// one member that does not read must not stall the others).
    pub fn try_send(&self, data: Bytes) -> bool {
        if data.len() > self.max as usize {
            return false;
        }
        let Ok(room) = self
            .room
            .clone()
            .try_acquire_many_owned(self.size(data.len()))
        else {
            return false;
        };
        self.tx
            .try_send(ConnCmd::Send {
                data,
                shutdown_write: false,
                reply: None,
                room: Some(room),
            })
            .is_ok()
    }

    /// Queues a send, waiting for room; its outcome goes to `reply`.
    pub async fn send(
        &self,
        data: Bytes,
        shutdown_write: bool,
        reply: oneshot::Sender<Result<usize, String>>,
    ) -> Result<(), OutboxClosed> {
        let room = self
            .room
            .clone()
            .acquire_many_owned(self.size(data.len()))
            .await
            .map_err(|_| OutboxClosed)?;
        self.tx
            .send(ConnCmd::Send {
                data,
                shutdown_write,
                reply: Some(reply),
                room: Some(room),
            })
            .await
            .map_err(|_| OutboxClosed)
    }
}

/// A proxied connection's server leg, as its client leg's view carries it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UpstreamView {
    /// socketlab's socket to the server (its ephemeral port).
    #[schema(value_type = String)]
    pub local: SocketAddr,
    /// The server.
    #[schema(value_type = String)]
    pub peer: SocketAddr,
    /// Bytes received from the server.
    pub bytes_in: u64,
    /// Bytes sent to the server.
    pub bytes_out: u64,
}

/// A connection as API.md's Engine `connections` lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConnView {
    /// Connection id.
    #[schema(value_type = String, pattern = "^c[0-9]+$")]
    pub id: ConnId,
    /// Remote address.
    #[schema(value_type = String)]
    pub peer: SocketAddr,
    /// Local address.
    #[schema(value_type = String)]
    pub local: SocketAddr,
    /// RFC 3339 time it opened.
    pub opened: String,
    /// Bytes received on it.
    pub bytes_in: u64,
    /// Bytes sent on it.
    pub bytes_out: u64,
    /// A proxy's server leg for this client (tcp-proxy, udp-proxy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamView>,
}

impl Conn {
    pub(super) fn view(&self) -> ConnView {
        ConnView {
            id: self.id,
            peer: self.peer,
            local: self.local,
            opened: format_time(self.opened),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            upstream: self.upstream.get().map(|&(local, peer)| UpstreamView {
                local,
                peer,
                bytes_in: self.up_in.load(Relaxed),
                bytes_out: self.up_out.load(Relaxed),
            }),
        }
    }

    /// A proxy's server leg is connected.
    pub(super) fn set_upstream(&self, local: SocketAddr, peer: SocketAddr) {
        let _ = self.upstream.set((local, peer));
    }

    /// Counts `n` bytes on a proxied pair's client leg (`client`) or server leg, coming in or
    /// going out.
    pub(super) fn count(&self, client: bool, incoming: bool, n: usize) {
        let c = match (client, incoming) {
            (true, true) => &self.bytes_in,
            (true, false) => &self.bytes_out,
            (false, true) => &self.up_in,
            (false, false) => &self.up_out,
        };
        c.fetch_add(n as u64, Relaxed);
    }
}
