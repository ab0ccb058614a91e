//! Events, one per socket operation: what happened ([`EventKind`]), the socket call it mirrors
//! ([`Call`]), and the [`Draft`] an engine hands to its workspace's capture
//! ([`crate::capture`]), which numbers, keeps and renders them.

use std::net::SocketAddr;
use std::time::SystemTime;

use serde::Serialize;

use crate::ids::{ConnId, FileId, Leg};

/// What happened, as API.md's `kind` field names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum EventKind {
    /// A TCP server's `listen()` succeeded.
    Listening,
    /// A socket was bound (`bind()`), e.g. a UDP endpoint.
    Bound,
    /// A TCP client's `connect()` succeeded.
    Connected,
    /// A TCP server's `accept()` returned a connection.
    Accepted,
    /// `recv()` / `recvfrom()` returned data.
    Received,
    /// `send()` / `sendto()` wrote data.
    Sent,
    /// `shutdown(SHUT_WR)`: this side will send no more but still receives (a half-close).
    Shutdown,
    /// A connection or socket was closed; `message` says by whom and why.
    Closed,
    /// A connection over `max_clients` was accepted and closed at once.
    Refused,
    /// A socket call failed; `message` says how.
    Error,
    /// The engine stopped; `message` says why.
    Stopped,
    /// A file transfer's progress: `file`, `done` (bytes) and `total`.
    Progress,
    /// A file sent or received whole: `file`, `name`, `bytes` and `sha256`.
    File,
    /// `socket()` made a socket: `family` and `type`, the first event of every socket the
    /// engine makes itself (an accepted connection's socket starts with `accepted`).
    Created,
    /// A datagram lost on purpose (`options.impair.loss`): never sent.
    Dropped,
    /// The second copy of a datagram sent twice on purpose (`impair.duplicate`).
    Duplicated,
    /// A datagram held back on purpose (`impair.delay_ms`, `jitter_ms`); its `sent` follows.
    Delayed,
    /// A datagram sent after a later one on purpose (`impair.reorder`): its `sendto()`.
    Reordered,
    /// A TCP `recv()` returned 0 bytes: the peer closed its side (its FIN arrived), the end of
    /// the stream the lecture's loops test for; recorded before the `close()` it leads to.
    Eof,
    /// A lab step was done: `lab`, `step` (its index) and `how` (`seen`: an event matched
    /// its `expect`; `self`: the student said so).
    Step,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 20] = [
        Self::Listening,
        Self::Bound,
        Self::Connected,
        Self::Accepted,
        Self::Received,
        Self::Sent,
        Self::Shutdown,
        Self::Closed,
        Self::Refused,
        Self::Error,
        Self::Stopped,
        Self::Progress,
        Self::File,
        Self::Created,
        Self::Dropped,
        Self::Duplicated,
        Self::Delayed,
        Self::Reordered,
        Self::Eof,
        Self::Step,
    ];

    /// The kind a record stores as `k as u8` (an unknown byte reads as `error`).
    pub fn from_u8(k: u8) -> Self {
        Self::ALL
            .get(usize::from(k))
            .copied()
            .unwrap_or(Self::Error)
    }

    /// Whether it carries data (a `recv()` or a `send()`), as `mode=live` samples.
    pub fn is_data(self) -> bool {
        matches!(self, Self::Received | Self::Sent)
    }

    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Listening => "listening",
            Self::Bound => "bound",
            Self::Connected => "connected",
            Self::Accepted => "accepted",
            Self::Received => "received",
            Self::Sent => "sent",
            Self::Shutdown => "shutdown",
            Self::Closed => "closed",
            Self::Refused => "refused",
            Self::Error => "error",
            Self::Stopped => "stopped",
            Self::Progress => "progress",
            Self::File => "file",
            Self::Created => "created",
            Self::Dropped => "dropped",
            Self::Duplicated => "duplicated",
            Self::Delayed => "delayed",
            Self::Reordered => "reordered",
            Self::Eof => "eof",
            Self::Step => "step",
        }
    }

    /// The kind named `name` in JSON, if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// The socket call an event mirrors, as API.md's `call` field names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[repr(u8)]
pub enum Call {
    /// `bind()`
    #[serde(rename = "bind()")]
    Bind,
    /// `listen()`
    #[serde(rename = "listen()")]
    Listen,
    /// `accept()`
    #[serde(rename = "accept()")]
    Accept,
    /// `connect()`
    #[serde(rename = "connect()")]
    Connect,
    /// `recv()`
    #[serde(rename = "recv()")]
    Recv,
    /// `send()`
    #[serde(rename = "send()")]
    Send,
    /// `recvfrom()`
    #[serde(rename = "recvfrom()")]
    RecvFrom,
    /// `sendto()`
    #[serde(rename = "sendto()")]
    SendTo,
    /// `shutdown()`
    #[serde(rename = "shutdown()")]
    Shutdown,
    /// `close()`
    #[serde(rename = "close()")]
    Close,
    /// `socket()`
    #[serde(rename = "socket()")]
    Socket,
}

impl Call {
    const ALL: [Call; 11] = [
        Self::Bind,
        Self::Listen,
        Self::Accept,
        Self::Connect,
        Self::Recv,
        Self::Send,
        Self::RecvFrom,
        Self::SendTo,
        Self::Shutdown,
        Self::Close,
        Self::Socket,
    ];

    /// The call a record stores as `c as u8`, if any.
    pub fn from_u8(c: u8) -> Option<Self> {
        Self::ALL.get(usize::from(c)).copied()
    }

    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bind => "bind()",
            Self::Listen => "listen()",
            Self::Accept => "accept()",
            Self::Connect => "connect()",
            Self::Recv => "recv()",
            Self::Send => "send()",
            Self::RecvFrom => "recvfrom()",
            Self::SendTo => "sendto()",
            Self::Shutdown => "shutdown()",
            Self::Close => "close()",
            Self::Socket => "socket()",
        }
    }
}

/// Members an event of a rare kind carries beyond the common ones; the renderer writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra<'a> {
    /// A `created` socket's `family` (`AF_INET`, `AF_INET6`) and `type` (`SOCK_STREAM`,
    /// `SOCK_DGRAM`).
    Socket {
        /// IPv6.
        v6: bool,
        /// A stream (TCP) socket, else a datagram (UDP) one.
        stream: bool,
    },
    /// A file transfer's `progress`: `file`, `done` and `total` (null when unknown).
    Progress {
        /// The file.
        file: FileId,
        /// Bytes so far.
        done: u64,
        /// Bytes in all, when known.
        total: Option<u64>,
    },
    /// A file sent or received whole: `file`, `name`, `bytes` and `sha256`.
    File {
        /// The file.
        file: FileId,
        /// Its name.
        name: &'a str,
        /// Its size.
        bytes: u64,
        /// Its SHA-256, in hex.
        sha256: &'a str,
    },
    /// A lab step done: the lab's id, the step's index, and whether the student said so
    /// (else an event was seen matching it).
    Step {
        /// The lab's id.
        lab: &'a str,
        /// The step's index.
        step: u16,
        /// Self-reported.
        said: bool,
    },
}

/// An event before it has a number: what an engine hands to its workspace's capture.
#[derive(Debug, Clone, Copy)]
pub struct Draft<'a> {
    /// The connection, for TCP connections and a proxy's pairs.
    pub conn: Option<ConnId>,
    /// The side of a proxy it happened on (with or without a connection).
    pub leg: Option<Leg>,
    /// What happened.
    pub kind: EventKind,
    /// The socket call it mirrors.
    pub call: Option<Call>,
    /// The local address of the socket (for an event without a connection).
    pub local: Option<SocketAddr>,
    /// The remote address (a datagram's source or destination for UDP).
    pub peer: Option<SocketAddr>,
    /// The bytes received or sent, if any.
    pub data: Option<&'a [u8]>,
    /// A human-readable reason (on closed, refused, error, stopped) or note.
    pub message: Option<&'a str>,
    /// Further members, for rare kinds.
    pub extra: Option<Extra<'a>>,
}

impl<'a> Draft<'a> {
    /// A draft of `kind` for `call` with nothing else set.
    pub fn new(kind: EventKind, call: Call) -> Self {
        Self {
            conn: None,
            leg: None,
            kind,
            call: Some(call),
            local: None,
            peer: None,
            data: None,
            message: None,
            extra: None,
        }
    }

    /// Sets the connection (its addresses come from the connection table), and its leg.
    pub fn conn(mut self, conn: ConnId) -> Self {
        self.conn = Some(conn);
        self.leg = conn.which_leg().or(self.leg);
        self
    }

    /// Sets the side of a proxy.
    pub fn leg(mut self, leg: Leg) -> Self {
        self.leg = Some(leg);
        self
    }

    /// Sets the local address.
    pub fn local(mut self, addr: SocketAddr) -> Self {
        self.local = Some(addr);
        self
    }

    /// Sets the peer address.
    pub fn peer(mut self, addr: SocketAddr) -> Self {
        self.peer = Some(addr);
        self
    }

    /// Sets the data.
    pub fn data(mut self, data: &'a [u8]) -> Self {
        self.data = Some(data);
        self
    }

    /// Sets the human-readable message.
    pub fn message(mut self, message: &'a str) -> Self {
        self.message = Some(message);
        self
    }

    /// Sets the further members.
    pub fn extra(mut self, extra: Extra<'a>) -> Self {
        self.extra = Some(extra);
        self
    }
}

/// What a `created` event says of a new socket: `socket(AF_INET, SOCK_STREAM)` as the lecture
/// writes it, and the same as `family` and `type` members for scripts.
#[derive(Debug, Clone)]
pub struct NewSocket {
    local: SocketAddr,
    stream: bool,
    message: String,
}

/// `AF_INET` or `AF_INET6`.
pub fn family_name(v6: bool) -> &'static str {
    if v6 { "AF_INET6" } else { "AF_INET" }
}

/// `SOCK_STREAM` or `SOCK_DGRAM`.
pub fn type_name(stream: bool) -> &'static str {
    if stream { "SOCK_STREAM" } else { "SOCK_DGRAM" }
}

impl NewSocket {
    /// A socket of the address family of `local`, a stream (TCP) or datagram (UDP) one.
    pub fn new(local: SocketAddr, stream: bool) -> Self {
        Self {
            local,
            stream,
            message: format!("{}, {}", family_name(local.is_ipv6()), type_name(stream)),
        }
    }

    /// The `created` event, for `socket()`.
    pub fn draft(&self) -> Draft<'_> {
        Draft::new(EventKind::Created, Call::Socket)
            .local(self.local)
            .message(&self.message)
            .extra(Extra::Socket {
                v6: self.local.is_ipv6(),
                stream: self.stream,
            })
    }
}

/// Formats a time the way API.md wants it: RFC 3339, UTC, microseconds.
pub fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_calls_survive_a_byte() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::from_u8(k as u8), k);
        }
        for c in Call::ALL {
            assert_eq!(Call::from_u8(c as u8), Some(c));
        }
        assert_eq!(Call::from_u8(0xff), None);
    }
}
