//! Records as API.md's event JSON, rendered only when something reads them, and kept for
//! the next reader: a viewer, `/api/events` and an export share one rendering of a record.
//!
//! The cache is bounded by bytes and keeps the newest renderings (readers mostly read the
//! newest records); it is not part of the history's byte budget, so a viewer reading every
//! event never costs the history a record.

use std::collections::BTreeMap;
use std::io::Write as _;

use axum::body::Bytes;
use axum::extract::ws::Utf8Bytes;
use base64::Engine as _;

use super::record::View;
use super::ring::ConnAddrs;

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
    let mut buf = Vec::with_capacity(
        240 + message.map_or(0, str::len) + extra.map_or(0, str::len) + b64_len + shown.len() + 16,
    );
    let _ = write!(
        buf,
        "{{\"seq\":{seq},\"time\":\"{}\",\"engine\":\"e{}\"",
        humantime::format_rfc3339_micros(v.time()),
        v.engine()
    );
    if let Some(c) = v.conn() {
        // A proxy's server leg is the same pair: the same id, its `leg` in the extra members.
        let c = c & !(crate::event::SERVER_LEG as u32);
        let _ = write!(buf, ",\"conn\":\"c{c}\"");
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
    if v.has_data() {
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
    if let Some(x) = extra {
        buf.push(b',');
        buf.extend_from_slice(x.as_bytes());
    }
    buf.push(b'}');
    // Every part is either ASCII or came through a JSON string writer.
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

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::SystemTime;

    use super::*;
    use crate::capture::record::encode;
    use crate::event::{Call, Draft, EventKind};

    fn parse(j: &Utf8Bytes) -> serde_json::Value {
        serde_json::from_str(j.as_str()).unwrap()
    }

    #[test]
    fn renders_every_field_as_api_md_has_it() {
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let rec = encode(
            1,
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
            3,
            &Draft::new(EventKind::Sent, Call::Send)
                .conn(12)
                .data(b"\xff\xfe")
                .message("m \"q\""),
            4096,
            SystemTime::now(),
        );
        let mut ring = crate::capture::ring::Ring::new(10, usize::MAX);
        ring.open_conn(12, a, b);
        let seq = ring.push(rec);
        let v = parse(&render(seq, &ring.get(seq).unwrap(), ring.conn(12)));
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
            1,
            &Draft::new(EventKind::Stopped, Call::Close).extra("\"family\":\"AF_INET\""),
            16,
            SystemTime::now(),
        );
        let v = parse(&render(u64::MAX - 1, &View::new(&rec), None));
        assert_eq!(
            (v["seq"].as_u64(), v["family"].as_str()),
            (Some(u64::MAX - 1), Some("AF_INET"))
        );
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
