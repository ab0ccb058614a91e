//! Events, one per socket operation, and the [`EventBus`] that numbers them, keeps a bounded
//! history for replay, and fans them out live to WebSocket viewers.
//!
//! Each event is serialised to JSON exactly once, when it is published; the history and every
//! viewer share those bytes, so a hundred viewers cost a hundred reference counts, not a
//! hundred serialisations.

use std::collections::VecDeque;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::ws::Utf8Bytes;
use base64::Engine as _;
use serde::Serialize;
use tokio::sync::broadcast;

/// What happened, as API.md's `kind` field names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
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
}

impl EventKind {
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
        }
    }
}

/// The socket call an event mirrors, as API.md's `call` field names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
}

impl Call {
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
        }
    }
}

/// An event before it has a number: what an engine hands to [`EventBus::publish`].
#[derive(Debug, Clone, Copy)]
pub struct Draft<'a> {
    /// Connection id, for TCP connections.
    pub conn: Option<&'a str>,
    /// What happened.
    pub kind: EventKind,
    /// The socket call it mirrors.
    pub call: Option<Call>,
    /// The local address of the socket.
    pub local: Option<SocketAddr>,
    /// The remote address (a datagram's source or destination for UDP).
    pub peer: Option<SocketAddr>,
    /// The bytes received or sent, if any.
    pub data: Option<&'a [u8]>,
    /// A human-readable reason (on closed, refused, error, stopped) or note.
    pub message: Option<&'a str>,
    /// `local` and `peer` already rendered as JSON members (`"local":"…","peer":"…"`), for a
    /// connection that publishes many events between the same two addresses.
    pub addrs: Option<&'a str>,
}

impl<'a> Draft<'a> {
    /// A draft of `kind` for `call` with nothing else set.
    pub fn new(kind: EventKind, call: Call) -> Self {
        Self {
            conn: None,
            kind,
            call: Some(call),
            local: None,
            peer: None,
            data: None,
            message: None,
            addrs: None,
        }
    }

    /// Sets `local` and `peer` from a fragment made by [`addr_members`].
    pub fn addrs(mut self, members: &'a str) -> Self {
        self.addrs = Some(members);
        self
    }

    /// Sets the connection id.
    pub fn conn(mut self, conn: &'a str) -> Self {
        self.conn = Some(conn);
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
}

/// A published event: its number, what viewers filter on, and its JSON, serialised once.
#[derive(Debug)]
pub struct Record {
    /// The event's `seq`.
    pub seq: u64,
    /// The engine it belongs to.
    pub engine: Arc<str>,
    /// What happened.
    pub kind: EventKind,
    /// The whole event as a JSON object, ready to be a WebSocket text frame.
    pub json: Utf8Bytes,
}

/// `"local":"…","peer":"…"`, rendered once for [`Draft::addrs`].
pub fn addr_members(local: SocketAddr, peer: SocketAddr) -> String {
    format!("\"local\":\"{local}\",\"peer\":\"{peer}\"")
}

/// Appends `s` as a JSON string, quoted and escaped.
fn json_str(buf: &mut Vec<u8>, s: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, s);
}

/// Room left in front of the serialised body for `{"seq":N,`; 32 bytes hold any u64.
const SEQ_ROOM: usize = 32;

/// Formats a time the way API.md wants it: RFC 3339, UTC, microseconds.
pub fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

struct Inner {
    next_seq: u64,
    ring: VecDeque<Arc<Record>>,
    ring_bytes: usize,
}

/// Numbers events, keeps the last `history` of them, and broadcasts each to live viewers.
///
/// Publishing never waits for a viewer: the broadcast channel overwrites its oldest slot when
/// a viewer falls `viewer_buffer` events behind, and that viewer is told how many it missed.
pub struct EventBus {
    // A std Mutex, not tokio's: it is held only to number, store and hand off one event,
    // never across an `.await`.
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Record>>,
    history: usize,
    history_bytes: usize,
    preview: usize,
}

impl EventBus {
    /// A bus keeping `history` events, carrying `preview` bytes of data per event, and letting
    /// a live viewer fall `viewer_buffer` events behind before it lags.
    pub fn new(history: usize, preview: usize, viewer_buffer: usize) -> Self {
        let (tx, _) = broadcast::channel(viewer_buffer.max(16));
        Self {
            inner: Mutex::new(Inner {
                next_seq: 1,
                // Grown as events come: a class of idle workspaces should not each hold a
                // large empty ring.
                ring: VecDeque::with_capacity(history.min(256)),
                ring_bytes: 0,
            }),
            tx,
            history,
            history_bytes: usize::MAX,
            preview,
        }
    }

    /// Also bounds the history by the bytes of JSON it holds.
    pub fn with_history_bytes(mut self, bytes: usize) -> Self {
        self.history_bytes = bytes;
        self
    }

    /// How many events have been published so far (the last seq handed out).
    pub fn published(&self) -> u64 {
        self.lock().next_seq - 1
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere while holding this lock leaves the ring consistent (every
        // mutation is a single push or pop), so a poisoned lock is still safe to use.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes one event for `engine` and returns its `seq`.
    pub fn publish(&self, engine: &Arc<str>, draft: Draft<'_>) -> u64 {
        // Serialise outside the lock, leaving room in front for the seq, which only the lock
        // may hand out (seq order must be broadcast order).
        let mut buf = self.body(engine, &draft, SystemTime::now());
        let mut inner = self.lock();
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let mut prefix = [0u8; SEQ_ROOM];
        let mut cursor = &mut prefix[..];
        let _ = write!(cursor, "{{\"seq\":{seq},");
        let plen = SEQ_ROOM - cursor.len();
        // The body starts with '{' at SEQ_ROOM; the prefix replaces it.
        let start = SEQ_ROOM + 1 - plen;
        buf[start..=SEQ_ROOM].copy_from_slice(&prefix[..plen]);
        let mut bytes = Bytes::from(buf);
        let bytes = bytes.split_off(start);
        let json = match Utf8Bytes::try_from(bytes) {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(error = %e, "event JSON is not UTF-8");
                return seq;
            }
        };
        let record = Arc::new(Record {
            seq,
            engine: engine.clone(),
            kind: draft.kind,
            json,
        });
        if self.history > 0 {
            inner.ring_bytes += record.json.len();
            inner.ring.push_back(record.clone());
        }
        while inner.ring.len() > self.history
            || (inner.ring_bytes > self.history_bytes && inner.ring.len() > 1)
        {
            match inner.ring.pop_front() {
                Some(old) => inner.ring_bytes -= old.json.len(),
                None => break,
            }
        }
        // Err only means nobody is watching right now.
        let _ = self.tx.send(record);
        seq
    }

    /// The event's JSON object without `seq`, after `SEQ_ROOM` bytes of room. Written by hand
    /// rather than through serde: this runs for every socket call, and a generic serialiser
    /// with intermediate strings cost twice as much (see the `cost` test).
    fn body(&self, engine: &str, d: &Draft<'_>, now: SystemTime) -> Vec<u8> {
        let shown = d.data.map(|data| &data[..data.len().min(self.preview)]);
        let b64_len = shown.map_or(0, |s| s.len().div_ceil(3) * 4);
        let mut buf = Vec::with_capacity(
            SEQ_ROOM
                + 224
                + engine.len()
                + d.message.map_or(0, str::len)
                + b64_len
                + shown.map_or(0, |s| s.len() + 16),
        );
        buf.resize(SEQ_ROOM, b' ');
        buf.extend_from_slice(b"{\"time\":\"");
        let _ = write!(buf, "{}", humantime::format_rfc3339_micros(now));
        buf.extend_from_slice(b"\",\"engine\":");
        json_str(&mut buf, engine);
        if let Some(conn) = d.conn {
            buf.extend_from_slice(b",\"conn\":");
            json_str(&mut buf, conn);
        }
        buf.extend_from_slice(b",\"kind\":\"");
        buf.extend_from_slice(d.kind.name().as_bytes());
        buf.push(b'"');
        if let Some(call) = d.call {
            buf.extend_from_slice(b",\"call\":\"");
            buf.extend_from_slice(call.name().as_bytes());
            buf.push(b'"');
        }
        if let Some(members) = d.addrs {
            buf.push(b',');
            buf.extend_from_slice(members.as_bytes());
        } else {
            if let Some(local) = d.local {
                let _ = write!(buf, ",\"local\":\"{local}\"");
            }
            if let Some(peer) = d.peer {
                let _ = write!(buf, ",\"peer\":\"{peer}\"");
            }
        }
        if let (Some(data), Some(shown)) = (d.data, shown) {
            let _ = write!(buf, ",\"bytes\":{},\"data\":\"", data.len());
            let at = buf.len();
            buf.resize(at + b64_len, 0);
            let _ = base64::engine::general_purpose::STANDARD.encode_slice(shown, &mut buf[at..]);
            buf.extend_from_slice(b"\",\"text\":");
            json_str(&mut buf, &String::from_utf8_lossy(shown));
            buf.extend_from_slice(if shown.len() < data.len() {
                b",\"truncated\":true"
            } else {
                b",\"truncated\":false"
            });
        }
        if let Some(message) = d.message {
            buf.extend_from_slice(b",\"message\":");
            json_str(&mut buf, message);
        }
        buf.push(b'}');
        buf
    }

    /// Subscribes to live events and returns, atomically with it, the kept events after
    /// `since` (none when `since` is `None`), so no event falls between replay and live.
    pub fn subscribe(
        &self,
        since: Option<u64>,
    ) -> (Vec<Arc<Record>>, broadcast::Receiver<Arc<Record>>) {
        let inner = self.lock();
        let rx = self.tx.subscribe();
        let replay = match since {
            None => Vec::new(),
            Some(s) => {
                let from = inner.ring.partition_point(|r| r.seq <= s);
                inner.ring.range(from..).cloned().collect()
            }
        };
        (replay, rx)
    }

    /// Up to `limit` kept events with `seq > since`, oldest first, of `engine` if given.
    /// Returns them with the `since` to ask next time.
    pub fn history(
        &self,
        engine: Option<&str>,
        since: u64,
        limit: usize,
    ) -> (Vec<Arc<Record>>, u64) {
        let inner = self.lock();
        let from = inner.ring.partition_point(|r| r.seq <= since);
        let mut out = Vec::new();
        for r in inner.ring.range(from..) {
            if engine.is_none_or(|e| *r.engine == *e) {
                if out.len() == limit {
                    let next = out.last().map_or(since, |r: &Arc<Record>| r.seq);
                    return (out, next);
                }
                out.push(r.clone());
            }
        }
        // Nothing more matches up to the newest event, so the caller may skip past it.
        let next = since.max(inner.next_seq - 1);
        (out, next)
    }

    /// Up to `limit` kept events of `engine` (or of all) with `seq < before`: the newest such,
    /// returned oldest first, with the `before` to ask for the page older than these (0 when
    /// nothing older is kept).
    pub fn history_before(
        &self,
        engine: Option<&str>,
        before: u64,
        limit: usize,
    ) -> (Vec<Arc<Record>>, u64) {
        let inner = self.lock();
        let end = inner.ring.partition_point(|r| r.seq < before);
        let mut out: Vec<Arc<Record>> = inner
            .ring
            .range(..end)
            .rev()
            .filter(|r| engine.is_none_or(|e| *r.engine == *e))
            .take(limit)
            .cloned()
            .collect();
        out.reverse();
        let older_kept = out.first().is_some_and(|first| {
            inner
                .ring
                .iter()
                .take_while(|r| r.seq < first.seq)
                .any(|r| engine.is_none_or(|e| *r.engine == *e))
        });
        let next = if older_kept { out[0].seq } else { 0 };
        (out, next)
    }

    /// How many kept events of `engine` (or of all) have `after < seq < before`; used to tell
    /// a lagging viewer what it missed of what it watches.
    pub fn count_between(&self, engine: Option<&str>, after: u64, before: u64) -> u64 {
        let inner = self.lock();
        let from = inner.ring.partition_point(|r| r.seq <= after);
        inner
            .ring
            .range(from..)
            .take_while(|r| r.seq < before)
            .filter(|r| engine.is_none_or(|e| *r.engine == *e))
            .count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(r: &Record) -> serde_json::Value {
        serde_json::from_str(r.json.as_str()).unwrap()
    }

    #[test]
    fn seq_prefix_makes_valid_json_with_all_fields() {
        let bus = EventBus::new(10, 4, 16);
        let e: Arc<str> = "e1".into();
        let (_, mut rx) = bus.subscribe(None);
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        bus.publish(
            &e,
            Draft::new(EventKind::Received, Call::Recv)
                .conn("c1")
                .peer(peer)
                .data(b"hello"),
        );
        let r = rx.try_recv().unwrap();
        let v = parse(&r);
        bus.publish(
            &e,
            Draft::new(EventKind::Sent, Call::Send)
                .conn("c1")
                .addrs(&addr_members(peer, peer)),
        );
        let w = parse(&rx.try_recv().unwrap());
        assert_eq!(
            (w["local"].as_str(), w["peer"].as_str()),
            (Some("127.0.0.1:5000"), Some("127.0.0.1:5000"))
        );
        assert_eq!(v["seq"], 1);
        assert_eq!(v["engine"], "e1");
        assert_eq!(v["conn"], "c1");
        assert_eq!(v["kind"], "received");
        assert_eq!(v["call"], "recv()");
        assert_eq!(v["peer"], "127.0.0.1:5000");
        assert_eq!(v["bytes"], 5);
        assert_eq!(v["data"], "aGVsbA==");
        assert_eq!(v["text"], "hell");
        assert_eq!(v["truncated"], true);
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn ring_is_bounded_and_history_pages() {
        let bus = EventBus::new(5, 16, 16);
        let e: Arc<str> = "e1".into();
        let f: Arc<str> = "e2".into();
        for i in 0..12 {
            bus.publish(
                if i % 2 == 0 { &e } else { &f },
                Draft::new(EventKind::Sent, Call::Send),
            );
        }
        let (all, next) = bus.history(None, 0, 100);
        assert_eq!(
            all.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![8, 9, 10, 11, 12]
        );
        assert_eq!(next, 12);
        let (some, next) = bus.history(Some("e1"), 0, 1);
        assert_eq!(some[0].seq, 9);
        assert_eq!(next, 9);
        let (rest, next) = bus.history(Some("e1"), next, 10);
        assert_eq!(rest.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![11]);
        assert_eq!(next, 12);
        assert_eq!(bus.count_between(Some("e2"), 8, 12), 1);
        let (older, next) = bus.history_before(Some("e1"), 12, 1);
        assert_eq!((older[0].seq, next), (11, 11));
        let (older, next) = bus.history_before(Some("e1"), next, 5);
        assert_eq!(
            (older.iter().map(|r| r.seq).collect::<Vec<_>>(), next),
            (vec![9], 0)
        );
        let (older, next) = bus.history_before(None, 10, 2);
        assert_eq!(
            (older.iter().map(|r| r.seq).collect::<Vec<_>>(), next),
            (vec![8, 9], 0)
        );
        assert_eq!(bus.count_between(Some("e1"), 7, 12), 2);
        assert_eq!(bus.count_between(None, 7, 12), 4);
    }

    #[test]
    fn history_is_bounded_by_bytes_too() {
        let bus = EventBus::new(1000, 100, 16).with_history_bytes(2000);
        let e: Arc<str> = "e1".into();
        for _ in 0..100 {
            bus.publish(
                &e,
                Draft::new(EventKind::Sent, Call::Send).data(&[b'x'; 100]),
            );
        }
        let (kept, _) = bus.history(None, 0, 1000);
        let bytes: usize = kept.iter().map(|r| r.json.len()).sum();
        assert!(
            bytes <= 2000 && kept.len() >= 5,
            "{} events, {bytes} bytes",
            kept.len()
        );
        assert_eq!(kept.last().unwrap().seq, 100);
    }

    #[test]
    fn big_seq_fits_the_room() {
        let bus = EventBus::new(1, 16, 16);
        bus.lock().next_seq = u64::MAX - 1;
        let e: Arc<str> = "e1".into();
        bus.publish(
            &e,
            Draft::new(EventKind::Sent, Call::Send).data(&[0xff, 0xfe]),
        );
        let (h, _) = bus.history(None, 0, 10);
        let v = parse(&h[0]);
        assert_eq!(v["seq"], u64::MAX - 1);
        assert_eq!(v["text"], "\u{fffd}\u{fffd}");
    }
}

#[cfg(test)]
mod cost {
    use super::*;

    #[test]
    #[ignore = "a measurement, run by hand with --release"]
    fn publish_cost() {
        let bus = EventBus::new(10_000, 4096, 2048);
        let e: Arc<str> = "e1".into();
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let data = [b'p'; 64];
        let addrs = addr_members(peer, peer);
        let n = 1_000_000;
        let t = std::time::Instant::now();
        for _ in 0..n {
            bus.publish(
                &e,
                Draft::new(EventKind::Received, Call::Recv)
                    .conn("c1")
                    .addrs(&addrs)
                    .data(&data),
            );
        }
        eprintln!("publish: {:?} per event", t.elapsed() / n);
        let t = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(format_time(SystemTime::now()));
        }
        eprintln!("format_time: {:?}", t.elapsed() / n);
    }
}
