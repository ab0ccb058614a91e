//! Records as API.md's event JSON, rendered only when something reads them, and kept for
//! the next reader: a viewer, `/api/events` and an export share one rendering of a record.
//!
//! The cache is bounded by bytes and keeps the newest renderings (readers mostly read the
//! newest records); it is not part of the history's byte budget, so a viewer reading every
//! event never costs the history a record.
//!
//! The other outward shapes of the capture are here too: a data event's layers (as the page's
//! layer view reads them) and the classic pcap file, both from [`super::pcap`]'s frames.

use std::collections::BTreeMap;
use std::io::Write as _;

use axum::body::Bytes;
use axum::extract::ws::Utf8Bytes;
use base64::Engine as _;

use serde_json::{Value, json};

use super::pcap;
use super::record::View;
use super::ring::ConnAddrs;
use crate::event::{Extra, family_name, type_name};

/// Appends `s` as a JSON string, quoted and escaped.
fn json_str(buf: &mut Vec<u8>, s: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, s);
}

/// One record as an event JSON object. Written by hand rather than through serde: it runs
/// for every event a viewer reads, and a generic serialiser with intermediate strings cost
/// twice as much.
pub fn render(seq: u64, v: &View<'_>, conn: Option<&ConnAddrs>) -> Utf8Bytes {
    let shown = v.preview();
    let b64_len = shown.len().div_ceil(3) * 4;
    let message = v.message();
    let extra = v.extra();
    let mut buf =
        Vec::with_capacity(400 + message.map_or(0, str::len) + b64_len + shown.len() + 16);
    let _ = write!(
        buf,
        "{{\"seq\":{seq},\"time\":\"{}\",\"engine\":\"{}\"",
        humantime::format_rfc3339_micros(v.time()),
        v.engine()
    );
    if let Some(c) = v.conn() {
        // A proxy's two legs are one pair: the same id, `leg` saying which.
        let _ = write!(buf, ",\"conn\":\"{c}\"");
    }
    buf.extend_from_slice(b",\"kind\":\"");
    buf.extend_from_slice(v.kind().name().as_bytes());
    buf.push(b'"');
    if let Some(call) = v.call() {
        buf.extend_from_slice(b",\"call\":\"");
        buf.extend_from_slice(call.name().as_bytes());
        buf.push(b'"');
    }
    let (local, peer) = match conn {
        Some(c) => (Some(c.local), Some(c.peer)),
        None => (v.local(), v.peer()),
    };
    if let Some(local) = local {
        let _ = write!(buf, ",\"local\":\"{local}\"");
    }
    if let Some(peer) = peer {
        let _ = write!(buf, ",\"peer\":\"{peer}\"");
    }
    if v.kind() == crate::event::EventKind::Eof {
        // A recv() of 0 bytes: its count, and no data.
        buf.extend_from_slice(b",\"bytes\":0");
    } else if v.has_data() {
        let _ = write!(buf, ",\"bytes\":{},\"data\":\"", v.bytes());
        let at = buf.len();
        buf.resize(at + b64_len, 0);
        let _ = base64::engine::general_purpose::STANDARD.encode_slice(shown, &mut buf[at..]);
        buf.extend_from_slice(b"\",\"text\":");
        json_str(&mut buf, &String::from_utf8_lossy(shown));
        buf.extend_from_slice(if (shown.len() as u64) < u64::from(v.bytes()) {
            b",\"truncated\":true"
        } else {
            b",\"truncated\":false"
        });
    }
    if let Some(m) = message {
        buf.extend_from_slice(b",\"message\":");
        json_str(&mut buf, m);
    }
    if let Some(leg) = v.leg() {
        let _ = write!(buf, ",\"leg\":\"{}\"", leg.name());
    }
    if let Some(x) = extra {
        members(&mut buf, &x);
    }
    buf.push(b'}');
    // Every part is either ASCII or came through a JSON string writer.
    Utf8Bytes::try_from(Bytes::from(buf)).unwrap_or_else(|_| Utf8Bytes::from_static("{}"))
}

/// The members of a rare event kind.
fn members(buf: &mut Vec<u8>, x: &Extra<'_>) {
    match *x {
        Extra::Socket { v6, stream } => {
            let _ = write!(
                buf,
                ",\"family\":\"{}\",\"type\":\"{}\"",
                family_name(v6),
                type_name(stream)
            );
        }
        Extra::Progress { file, done, total } => {
            let _ = write!(buf, ",\"file\":\"{file}\",\"done\":{done},\"total\":");
            match total {
                Some(t) => {
                    let _ = write!(buf, "{t}");
                }
                None => buf.extend_from_slice(b"null"),
            }
        }
        Extra::File {
            file,
            name,
            bytes,
            sha256,
        } => {
            let _ = write!(buf, ",\"file\":\"{file}\",\"name\":");
            json_str(buf, name);
            let _ = write!(buf, ",\"bytes\":{bytes},\"sha256\":");
            json_str(buf, sha256);
        }
        Extra::Step { lab, step, said } => {
            buf.extend_from_slice(b",\"lab\":");
            json_str(buf, lab);
            let how = if said { "self" } else { "seen" };
            let _ = write!(buf, ",\"step\":{step},\"how\":\"{how}\"");
        }
    }
}

/// A page of events, `{"events": [...], "next": N}`, spliced from their renderings without
/// parsing them again.
pub fn page(records: &[Utf8Bytes], next: u64) -> String {
    let mut out = String::with_capacity(32 + records.iter().map(|r| r.len() + 1).sum::<usize>());
    out.push_str("{\"events\":[");
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r.as_str());
    }
    let _ = std::fmt::Write::write_fmt(&mut out, format_args!("],\"next\":{next}}}"));
    out
}

/// An engine's export, `{"engine": VIEW, "events": [...]}`, in pieces written as they are
/// read: the head, each step's events (`first` when none came before), and the tail.
pub mod export {
    use axum::extract::ws::Utf8Bytes;

    /// The head, around the engine's view as JSON.
    pub fn head(view: &str) -> String {
        format!("{{\"engine\":{view},\"events\":[")
    }

    /// One step's events, after `wrote` earlier ones.
    pub fn step(records: &[Utf8Bytes], wrote: bool) -> String {
        let mut chunk = String::new();
        for r in records {
            chunk.push_str(if wrote || !chunk.is_empty() {
                ",\n"
            } else {
                "\n"
            });
            chunk.push_str(r.as_str());
        }
        chunk
    }

    /// The tail.
    pub const TAIL: &str = "\n]}\n";
}

/// What a stream's first frame says.
#[derive(Debug, Clone, Copy)]
pub struct Hello<'a> {
    /// The numbering's run.
    pub epoch: &'a str,
    /// The oldest seq kept.
    pub first_seq: u64,
    /// The seq the next event will have.
    pub next_seq: u64,
    /// The seq the stream goes on after.
    pub after: u64,
    /// The engine the stream shows, if one.
    pub engine: Option<&'a str>,
    /// Whether the client's `since` was another run's (or past the newest).
    pub restarted: bool,
}

/// The first frame of a stream: the capture's `epoch`, the seqs kept, and whether the
/// reader's `since` was of another run (`restarted`). `kind` first, as in every frame.
pub fn hello(h: Hello<'_>, now: std::time::SystemTime) -> Utf8Bytes {
    let Hello {
        epoch,
        first_seq,
        next_seq,
        after,
        engine,
        restarted,
    } = h;
    let mut buf = Vec::with_capacity(160);
    // The keys every event has, so a client that reads each frame as an event (Part 1's
    // shape) finds them: the seq the stream goes on after, now, the engine shown, no call.
    let _ = write!(buf, "{{\"kind\":\"hello\",\"seq\":{after},\"time\":");
    json_str(&mut buf, &crate::event::format_time(now));
    buf.extend_from_slice(b",\"engine\":");
    match engine {
        Some(e) => json_str(&mut buf, e),
        None => buf.extend_from_slice(b"null"),
    }
    buf.extend_from_slice(b",\"call\":null,\"epoch\":");
    json_str(&mut buf, epoch);
    let _ = write!(buf, ",\"first_seq\":{first_seq},\"next_seq\":{next_seq}");
    if restarted {
        buf.extend_from_slice(b",\"restarted\":true");
    }
    buf.push(b'}');
    Utf8Bytes::try_from(Bytes::from(buf)).unwrap_or_else(|_| Utf8Bytes::from_static("{}"))
}

/// Renderings kept for the next reader, newest first to stay.
#[derive(Debug)]
pub struct Cache {
    map: BTreeMap<u64, Utf8Bytes>,
    bytes: usize,
    max_bytes: usize,
    renders: u64,
}

impl Cache {
    /// A cache of at most `max_bytes` of JSON.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            map: BTreeMap::new(),
            bytes: 0,
            max_bytes,
            renders: 0,
        }
    }

    /// How many records have been rendered so far (each at most once while it is cached).
    pub fn renders(&self) -> u64 {
        self.renders
    }

    /// The JSON of record `seq`, rendered now if no reader has asked for it yet.
    pub fn get(
        &mut self,
        seq: u64,
        first_kept: u64,
        render: impl FnOnce() -> Utf8Bytes,
    ) -> Utf8Bytes {
        if let Some(j) = self.map.get(&seq) {
            return j.clone();
        }
        let json = render();
        self.renders += 1;
        if json.len() <= self.max_bytes {
            self.bytes += json.len();
            self.map.insert(seq, json.clone());
        }
        // The oldest go first: records gone from the ring, then the oldest renderings.
        while let Some((&s, j)) = self.map.first_key_value() {
            if s >= first_kept && self.bytes <= self.max_bytes {
                break;
            }
            self.bytes -= j.len();
            self.map.pop_first();
        }
        json
    }
}

/// TCP flag bits as the layer view names them.
fn flag_names(f: pcap::Flags) -> Vec<&'static str> {
    [
        (f.syn, "SYN"),
        (f.ack, "ACK"),
        (f.psh, "PSH"),
        (f.fin, "FIN"),
        (f.rst, "RST"),
    ]
    .into_iter()
    .filter_map(|(on, n)| on.then_some(n))
    .collect()
}

/// A data event's first frame as the layers carry it: the application bytes, the TCP
/// segment (and how many segments the event took) or UDP datagram header, the IP header;
/// checksums read from the frame itself.
pub fn layers(frame: &pcap::Frame, ev: &pcap::Ev) -> Value {
    let b = &frame.bytes;
    let v4 = frame.src.is_ipv4();
    let ip_len = if v4 { 20 } else { 40 };
    let t_at = 14 + ip_len;
    let be16 = |at: usize| b.get(at..at + 2).map(|x| u16::from_be_bytes([x[0], x[1]]));
    let app = json!({
        "bytes": ev.bytes,
        "data": base64::engine::general_purpose::STANDARD.encode(&ev.data),
        "text": String::from_utf8_lossy(&ev.data),
        "truncated": (ev.data.len() as u64) < ev.bytes,
        "call": ev.call.map(crate::event::Call::name),
    });
    let transport = match &frame.transport {
        pcap::Transport::Tcp { seq, ack, flags } => json!({
            "proto": "tcp", "src_port": frame.src.port(), "dst_port": frame.dst.port(),
            "seq": seq, "ack": ack, "flags": flag_names(*flags), "window": pcap::WINDOW,
            "header_len": 20, "len": frame.payload_len, "checksum": be16(t_at + 16),
            "segments": frame.segment.1,
        }),
        pcap::Transport::Udp => json!({
            "proto": "udp", "src_port": frame.src.port(), "dst_port": frame.dst.port(),
            "len": frame.payload_len + 8, "checksum": be16(t_at + 6),
        }),
    };
    let ip = if v4 {
        json!({
            "version": 4, "src": frame.src.ip(), "dst": frame.dst.ip(), "ttl": pcap::TTL,
            "len": be16(14 + 2), "checksum": be16(14 + 10),
            "proto": if matches!(frame.transport, pcap::Transport::Tcp { .. }) { 6 } else { 17 },
        })
    } else {
        json!({
            "version": 6, "src": frame.src.ip(), "dst": frame.dst.ip(), "hop_limit": pcap::TTL,
            "len": be16(14 + 4), "next_header": if matches!(frame.transport, pcap::Transport::Tcp { .. }) { 6 } else { 17 },
        })
    };
    let note = if frame.segment.1 > 1 {
        format!(
            "rebuilt from the socket calls, not captured on the wire; this send() of {} bytes is {} segments of at most {}, the first shown",
            ev.bytes,
            frame.segment.1,
            pcap::MAX_SEGMENT
        )
    } else {
        "rebuilt from the socket calls, not captured on the wire".to_string()
    };
    json!({ "seq": ev.seq, "app": app, "transport": transport, "ip": ip, "note": note })
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::SystemTime;

    use super::*;
    use crate::capture::record::encode;
    use crate::event::{Call, Draft, EventKind};
    use crate::ids::{ConnId, EngineId, FileId, Leg};

    fn parse(j: &Utf8Bytes) -> serde_json::Value {
        serde_json::from_str(j.as_str()).unwrap()
    }

    #[test]
    fn renders_every_field_as_api_md_has_it() {
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let rec = encode(
            EngineId::new(1),
            &Draft::new(EventKind::Received, Call::Recv)
                .peer(peer)
                .data(b"hello"),
            4,
            SystemTime::now(),
        );
        let v = parse(&render(1, &View::new(&rec), None));
        assert_eq!(v["seq"], 1);
        assert_eq!(v["engine"], "e1");
        assert_eq!(v["kind"], "received");
        assert_eq!(v["call"], "recv()");
        assert_eq!(v["peer"], "127.0.0.1:5000");
        assert_eq!(v["bytes"], 5);
        assert_eq!(v["data"], "aGVsbA==");
        assert_eq!(v["text"], "hell");
        assert_eq!(v["truncated"], true);
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
        assert!(v.get("conn").is_none() && v.get("message").is_none());
    }

    #[test]
    fn a_connections_addresses_come_from_its_entry() {
        let a: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let b: SocketAddr = "[::1]:6000".parse().unwrap();
        let rec = encode(
            EngineId::new(3),
            &Draft::new(EventKind::Sent, Call::Send)
                .conn(ConnId::new(12))
                .data(b"\xff\xfe")
                .message("m \"q\""),
            4096,
            SystemTime::now(),
        );
        let mut ring = crate::capture::ring::Ring::new(10, usize::MAX);
        ring.open_conn(ConnId::new(12), a, b);
        let seq = ring.push(rec);
        let v = parse(&render(
            seq,
            &ring.get(seq).unwrap(),
            ring.conn(ConnId::new(12).key()),
        ));
        assert_eq!(
            (v["engine"].as_str(), v["conn"].as_str()),
            (Some("e3"), Some("c12"))
        );
        assert_eq!(
            (v["local"].as_str(), v["peer"].as_str()),
            (Some("127.0.0.1:5000"), Some("[::1]:6000"))
        );
        assert_eq!(v["text"], "\u{fffd}\u{fffd}");
        assert_eq!(v["message"], "m \"q\"");
    }

    #[test]
    fn a_big_seq_and_extra_members_make_valid_json() {
        let rec = encode(
            EngineId::new(1),
            &Draft::new(EventKind::Stopped, Call::Close)
                .extra(Extra::Progress {
                    file: FileId::new(2),
                    done: 5,
                    total: None,
                })
                .leg(Leg::Server),
            16,
            SystemTime::now(),
        );
        let v = parse(&render(u64::MAX - 1, &View::new(&rec), None));
        assert_eq!(
            (v["seq"].as_u64(), v["file"].as_str(), v["leg"].as_str()),
            (Some(u64::MAX - 1), Some("f2"), Some("server"))
        );
        assert_eq!((v["done"].as_u64(), v["total"].is_null()), (Some(5), true));
    }

    #[test]
    fn the_cache_renders_once_and_forgets_the_oldest() {
        let mut c = Cache::new(100);
        let j = || Utf8Bytes::from_static("{\"seq\":1,\"padding\":\"xxxxxxxxxxxxxxx\"}");
        let a = c.get(1, 1, j);
        let b = c.get(1, 1, || panic!("rendered twice"));
        assert_eq!((a.as_str(), c.renders()), (b.as_str(), 1));
        c.get(2, 1, j);
        c.get(3, 1, j);
        assert!(
            c.bytes <= 100 && !c.map.contains_key(&1),
            "the oldest went first"
        );
        c.get(4, 4, j);
        assert_eq!(
            c.map.keys().copied().collect::<Vec<_>>(),
            [4],
            "gone from the ring, gone here"
        );
    }
}
