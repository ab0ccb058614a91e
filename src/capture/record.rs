//! One socket call as a compact binary record: what an engine hands over on its hot path,
//! and what the ring keeps. No JSON, no base64: the payload preview is kept as the bytes.
//!
//! Layout (little-endian), a 40-byte header and then the variable parts:
//!
//! ```text
//!  0 u32 total length      4 u64 time (µs since the Unix epoch)
//! 12 u32 engine number    16 u32 engine's event number (the collector sets it)
//! 20 u32 connection key (0 = none; see `ConnId::key`)
//! 24 u8 kind  25 u8 call (0xff = none)  26 u8 flags  27 u8 extra's tag (0 = none)
//! 28 u32 bytes (the data's full length)
//! 32 u16 preview length  34 u16 message length  36 u16 extra length  38 u16 (spare)
//!
//! The extra members ([`Extra`]) are kept as numbers and strings too, by tag: a socket's
//! family and type (1 byte), a transfer's progress (file, done, total: 24 bytes), a file
//! sent or received whole (file, bytes, the SHA-256's length and text, then the name).
//! 40 [stream position] [local address] [peer address] [preview] [message] [extra]
//! ```
//!
//! A TCP connection's `send()` and `recv()` records carry a stream position (8 bytes: how
//! many bytes this side had sent before it, and the peer, each mod 2^32, as TCP's sequence
//! numbers count), set by the ring as it takes them in order. The pcap's and a `/layers`'s
//! sequence numbers come from it, so one event's layers are found without replaying its
//! connection, and both always agree.
//!
//! A connection's addresses are not in its records: they are kept once, in the ring's
//! connection table, and found by the connection number (by reference). Records without a
//! connection (a datagram, a `bind()`) carry theirs inline, 7 bytes each for IPv4.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::event::{Call, Draft, EventKind, Extra};
use crate::ids::{ConnId, EngineId, FileId, Leg};

/// Bytes before the variable parts.
pub const HEADER: usize = 40;

const F_LOCAL: u8 = 1;
const F_PEER: u8 = 2;
const F_DATA: u8 = 4;
/// The record has a stream position.
const F_STREAM: u8 = 8;
/// This side had shut down its sending (its FIN counts one in the sequence) before it.
const F_FIN_LOCAL: u8 = 16;
/// A proxy's client side.
const F_LEG_CLIENT: u8 = 32;
/// A proxy's server side.
const F_LEG_SERVER: u8 = 64;
const TAG_SOCKET: u8 = 1;
const TAG_PROGRESS: u8 = 2;
const TAG_FILE: u8 = 3;
const TAG_STEP: u8 = 4;
/// Bytes of a stream position.
const STREAM: usize = 8;

/// Where a TCP data record sits in its connection's byte streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stream {
    /// Bytes this side had sent before it (mod 2^32).
    pub sent: u32,
    /// Bytes the peer had sent before it (mod 2^32).
    pub received: u32,
    /// This side had sent its FIN (a `shutdown()`) before it.
    pub fin_local: bool,
}

/// Sets the stream position of a record that has room for one (see [`Stream`]).
pub fn set_stream(rec: &mut [u8], s: Stream) {
    if rec[26] & F_STREAM == 0 {
        return;
    }
    rec[HEADER..HEADER + 4].copy_from_slice(&s.sent.to_le_bytes());
    rec[HEADER + 4..HEADER + 8].copy_from_slice(&s.received.to_le_bytes());
    if s.fin_local {
        rec[26] |= F_FIN_LOCAL;
    }
}

/// The most preview bytes a record carries (its length field is 16 bits).
pub const MAX_PREVIEW: usize = u16::MAX as usize;

fn addr_len(a: &SocketAddr) -> usize {
    if a.is_ipv4() { 7 } else { 19 }
}

fn put_addr(buf: &mut Vec<u8>, a: &SocketAddr) {
    match a.ip() {
        IpAddr::V4(v4) => {
            buf.push(4);
            buf.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            buf.push(6);
            buf.extend_from_slice(&v6.octets());
        }
    }
    buf.extend_from_slice(&a.port().to_le_bytes());
}

fn get_addr(b: &[u8]) -> Option<(SocketAddr, usize)> {
    match *b.first()? {
        4 => {
            let ip: [u8; 4] = b.get(1..5)?.try_into().ok()?;
            let port = u16::from_le_bytes(b.get(5..7)?.try_into().ok()?);
            Some((SocketAddr::new(Ipv4Addr::from(ip).into(), port), 7))
        }
        6 => {
            let ip: [u8; 16] = b.get(1..17)?.try_into().ok()?;
            let port = u16::from_le_bytes(b.get(17..19)?.try_into().ok()?);
            Some((SocketAddr::new(Ipv6Addr::from(ip).into(), port), 19))
        }
        _ => None,
    }
}

fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The extra members as kept: their tag and bytes.
fn put_extra(x: &Extra<'_>) -> (u8, Vec<u8>) {
    match *x {
        Extra::Socket { v6, stream } => (TAG_SOCKET, vec![u8::from(v6) | u8::from(stream) << 1]),
        Extra::Progress { file, done, total } => {
            let mut b = Vec::with_capacity(24);
            b.extend_from_slice(&file.number().to_le_bytes());
            b.extend_from_slice(&done.to_le_bytes());
            b.extend_from_slice(&total.unwrap_or(u64::MAX).to_le_bytes());
            (TAG_PROGRESS, b)
        }
        Extra::File {
            file,
            name,
            bytes,
            sha256,
        } => {
            let sha = clip(sha256, u8::MAX as usize);
            let mut b = Vec::with_capacity(17 + sha.len() + name.len());
            b.extend_from_slice(&file.number().to_le_bytes());
            b.extend_from_slice(&bytes.to_le_bytes());
            b.push(sha.len() as u8);
            b.extend_from_slice(sha.as_bytes());
            b.extend_from_slice(clip(name, u16::MAX as usize - b.len()).as_bytes());
            (TAG_FILE, b)
        }
        Extra::Step { lab, step, said } => {
            let mut b = Vec::with_capacity(3 + lab.len());
            b.extend_from_slice(&step.to_le_bytes());
            b.push(u8::from(said));
            b.extend_from_slice(clip(lab, 255).as_bytes());
            (TAG_STEP, b)
        }
    }
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The extra members of tag `tag` in `b`, as [`put_extra`] kept them.
fn get_extra(tag: u8, b: &[u8]) -> Option<Extra<'_>> {
    match tag {
        TAG_SOCKET => {
            let f = *b.first()?;
            Some(Extra::Socket {
                v6: f & 1 != 0,
                stream: f & 2 != 0,
            })
        }
        TAG_PROGRESS => Some(Extra::Progress {
            file: FileId::new(u64_at(b, 0)?),
            done: u64_at(b, 8)?,
            total: Some(u64_at(b, 16)?).filter(|t| *t != u64::MAX),
        }),
        TAG_FILE => {
            let sha_len = *b.get(16)? as usize;
            let sha = std::str::from_utf8(b.get(17..17 + sha_len)?).ok()?;
            let name = std::str::from_utf8(b.get(17 + sha_len..)?).ok()?;
            Some(Extra::File {
                file: FileId::new(u64_at(b, 0)?),
                bytes: u64_at(b, 8)?,
                sha256: sha,
                name,
            })
        }
        TAG_STEP => Some(Extra::Step {
            step: u16::from_le_bytes(b.get(0..2)?.try_into().ok()?),
            said: *b.get(2)? != 0,
            lab: std::str::from_utf8(b.get(3..)?).ok()?,
        }),
        _ => None,
    }
}

/// Encodes a draft as a record of `engine`, keeping at most `preview` bytes of its data.
/// A connection's addresses are left out when the draft names its connection.
pub fn encode(engine: EngineId, d: &Draft<'_>, preview: usize, now: SystemTime) -> Box<[u8]> {
    let mut buf = Vec::new();
    encode_into(&mut buf, engine, d, preview, now);
    buf.into_boxed_slice()
}

/// [`encode`] onto the end of `buf`: the capture's queue is one buffer of records back to
/// back, and a record written there in place is not copied in from elsewhere.
pub fn encode_into(
    buf: &mut Vec<u8>,
    engine: EngineId,
    d: &Draft<'_>,
    preview: usize,
    now: SystemTime,
) {
    let shown = d
        .data
        .map(|data| &data[..data.len().min(preview).min(MAX_PREVIEW)]);
    let message = d.message.map(|m| clip(m, u16::MAX as usize));
    let (tag, extra) = d.extra.as_ref().map_or((0, Vec::new()), put_extra);
    let (local, peer) = if d.conn.is_some() {
        (None, None)
    } else {
        (d.local, d.peer)
    };
    // A data call's place in its connection's streams; an eof's too (where the peer's FIN is).
    let stream = d.conn.is_some()
        && (d.data.is_some() || d.kind == crate::event::EventKind::Eof)
        && matches!(d.call, Some(Call::Send | Call::Recv));
    let len = HEADER
        + if stream { STREAM } else { 0 }
        + local.as_ref().map_or(0, addr_len)
        + peer.as_ref().map_or(0, addr_len)
        + shown.map_or(0, <[u8]>::len)
        + message.map_or(0, str::len)
        + extra.len();
    let start = buf.len();
    buf.reserve(len);
    let time = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |t| t.as_micros() as u64);
    buf.extend_from_slice(&(len as u32).to_le_bytes());
    buf.extend_from_slice(&time.to_le_bytes());
    buf.extend_from_slice(&engine.number().to_le_bytes());
    buf.extend_from_slice(&0u32.to_le_bytes());
    buf.extend_from_slice(&d.conn.map_or(0, ConnId::key).to_le_bytes());
    buf.push(d.kind as u8);
    buf.push(d.call.map_or(0xff, |c| c as u8));
    let flags = if local.is_some() { F_LOCAL } else { 0 }
        | if peer.is_some() { F_PEER } else { 0 }
        | if d.data.is_some() { F_DATA } else { 0 }
        | if stream { F_STREAM } else { 0 }
        | match d.leg {
            Some(Leg::Client) => F_LEG_CLIENT,
            Some(Leg::Server) => F_LEG_SERVER,
            None => 0,
        };
    buf.push(flags);
    buf.push(tag);
    let full = d.data.map_or(0, |x| x.len().min(u32::MAX as usize) as u32);
    buf.extend_from_slice(&full.to_le_bytes());
    buf.extend_from_slice(&(shown.map_or(0, <[u8]>::len) as u16).to_le_bytes());
    buf.extend_from_slice(&(message.map_or(0, str::len) as u16).to_le_bytes());
    buf.extend_from_slice(&(extra.len() as u16).to_le_bytes());
    buf.extend_from_slice(&0u16.to_le_bytes());
    if stream {
        buf.extend_from_slice(&[0; STREAM]);
    }
    if let Some(a) = &local {
        put_addr(buf, a);
    }
    if let Some(a) = &peer {
        put_addr(buf, a);
    }
    buf.extend_from_slice(shown.unwrap_or_default());
    buf.extend_from_slice(message.unwrap_or_default().as_bytes());
    buf.extend_from_slice(&extra);
    debug_assert_eq!(buf.len() - start, len);
}

/// Sets the engine's event number of an encoded record (the collector numbers them).
pub fn set_engine_n(rec: &mut [u8], n: u32) {
    rec[16..20].copy_from_slice(&n.to_le_bytes());
}

/// A record's time, in microseconds since the Unix epoch.
pub fn time_us(rec: &[u8]) -> u64 {
    u64::from_le_bytes(rec[4..12].try_into().unwrap_or_default())
}

/// Sets a record's time (µs since the Unix epoch).
pub fn set_time_us(rec: &mut [u8], us: u64) {
    rec[4..12].copy_from_slice(&us.to_le_bytes());
}

/// A record read back, borrowing its bytes.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    raw: &'a [u8],
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> View<'a> {
    /// A view of one whole record (as [`encode`] made it).
    pub fn new(raw: &'a [u8]) -> Self {
        Self { raw }
    }

    /// The record's length in bytes.
    pub fn len_of(raw: &[u8]) -> usize {
        u32_at(raw, 0) as usize
    }

    /// Its bytes, as kept.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// When the call happened.
    pub fn time(&self) -> SystemTime {
        let us = u64::from_le_bytes(self.raw[4..12].try_into().unwrap_or_default());
        UNIX_EPOCH + std::time::Duration::from_micros(us)
    }

    /// The engine.
    pub fn engine(&self) -> EngineId {
        EngineId::new(u32_at(self.raw, 12))
    }

    /// This record's number among its engine's records (wrapping), for exact lag counts.
    pub fn engine_n(&self) -> u32 {
        u32_at(self.raw, 16)
    }

    /// The connection, if any, with its leg for a proxy's pair.
    pub fn conn(&self) -> Option<ConnId> {
        self.conn_key().map(|k| ConnId::from_key(k, self.leg()))
    }

    /// The connection's key in the connection table (each leg of a pair has its own).
    pub fn conn_key(&self) -> Option<u32> {
        Some(u32_at(self.raw, 20)).filter(|c| *c != 0)
    }

    /// The side of a proxy it happened on.
    pub fn leg(&self) -> Option<Leg> {
        let f = self.flags();
        if f & F_LEG_SERVER != 0 {
            Some(Leg::Server)
        } else if f & F_LEG_CLIENT != 0 {
            Some(Leg::Client)
        } else {
            None
        }
    }

    /// What happened.
    pub fn kind(&self) -> EventKind {
        EventKind::from_u8(self.raw[24])
    }

    /// The socket call.
    pub fn call(&self) -> Option<Call> {
        Call::from_u8(self.raw[25])
    }

    fn flags(&self) -> u8 {
        self.raw[26]
    }

    /// Whether it carries data (a `recv()` or `send()`).
    pub fn has_data(&self) -> bool {
        self.flags() & F_DATA != 0
    }

    /// The data's full length.
    pub fn bytes(&self) -> u32 {
        u32_at(self.raw, 28)
    }

    fn lens(&self) -> (usize, usize, usize) {
        (
            u16_at(self.raw, 32) as usize,
            u16_at(self.raw, 34) as usize,
            u16_at(self.raw, 36) as usize,
        )
    }

    /// Where a TCP data record sits in its connection's streams.
    pub fn stream(&self) -> Option<Stream> {
        (self.flags() & F_STREAM != 0).then(|| Stream {
            sent: u32_at(self.raw, HEADER),
            received: u32_at(self.raw, HEADER + 4),
            fin_local: self.flags() & F_FIN_LOCAL != 0,
        })
    }

    /// The inline local and peer addresses (records without a connection), and where the
    /// rest begins.
    fn addrs(&self) -> (Option<SocketAddr>, Option<SocketAddr>, usize) {
        let mut at = HEADER
            + if self.flags() & F_STREAM != 0 {
                STREAM
            } else {
                0
            };
        let mut take = |on: bool| {
            if !on {
                return None;
            }
            let (a, n) = get_addr(&self.raw[at..])?;
            at += n;
            Some(a)
        };
        let local = take(self.flags() & F_LOCAL != 0);
        let peer = take(self.flags() & F_PEER != 0);
        (local, peer, at)
    }

    /// The local address carried inline.
    pub fn local(&self) -> Option<SocketAddr> {
        self.addrs().0
    }

    /// The peer address carried inline.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.addrs().1
    }

    /// The preview of the data.
    pub fn preview(&self) -> &'a [u8] {
        let (_, _, at) = self.addrs();
        let (p, _, _) = self.lens();
        &self.raw[at..at + p]
    }

    fn text_at(&self, skip: usize, len: usize) -> Option<&'a str> {
        if len == 0 {
            return None;
        }
        let (_, _, at) = self.addrs();
        let start = at + skip;
        std::str::from_utf8(&self.raw[start..start + len]).ok()
    }

    /// The human-readable message.
    pub fn message(&self) -> Option<&'a str> {
        let (p, m, _) = self.lens();
        self.text_at(p, m)
    }

    /// The further members of a rare event kind.
    pub fn extra(&self) -> Option<Extra<'a>> {
        let (p, m, x) = self.lens();
        let (_, _, at) = self.addrs();
        let start = at + p + m;
        get_extra(self.raw[27], self.raw.get(start..start + x)?)
    }
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
