//! One TCP connection of an engine (or a proxy's pair), and how the API shows it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::SystemTime;

use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::ConnCmd;
use crate::event::format_time;

/// One TCP connection of an engine.
#[derive(Debug)]
pub struct Conn {
    /// `c7`.
    pub id: Arc<str>,
    pub(super) num: u64,
    /// The remote `ip:port` (a client's ephemeral port, for a server).
    pub peer: SocketAddr,
    /// The local `ip:port`.
    pub local: SocketAddr,
    /// When it was accepted or connected.
    pub opened: SystemTime,
    pub(super) bytes_in: AtomicU64,
    pub(super) bytes_out: AtomicU64,
    pub(super) tx: mpsc::Sender<ConnCmd>,
    pub(super) close: CancellationToken,
    pub(super) done: CancellationToken,
    /// A proxy's server leg: its addresses once connected, and its counters.
    pub(super) upstream: std::sync::OnceLock<(SocketAddr, SocketAddr)>,
    pub(super) up_in: AtomicU64,
    pub(super) up_out: AtomicU64,
}

/// A proxied connection's server leg, as its client leg's view carries it.
#[derive(Debug, Clone, Serialize)]
pub struct UpstreamView {
    /// socketlab's socket to the server (its ephemeral port).
    pub local: SocketAddr,
    /// The server.
    pub peer: SocketAddr,
    /// Bytes received from the server.
    pub bytes_in: u64,
    /// Bytes sent to the server.
    pub bytes_out: u64,
}

/// A connection as API.md's Engine `connections` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ConnView {
    /// Connection id.
    pub id: Arc<str>,
    /// Remote address.
    pub peer: SocketAddr,
    /// Local address.
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
            id: self.id.clone(),
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
