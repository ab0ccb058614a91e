//! The recorded exchange as packets: frames rebuilt from socket-call events (a handshake for
//! each `accept()`/`connect()`, data segments with consistent sequence and acknowledgement
//! numbers, FIN on an orderly close, RST on a reset, UDP datagrams), written as a classic
//! pcap file for Wireshark and `tshark`, and each data event's layers for the page. It is the
//! socket-level exchange reconstructed, not a wire capture: one reconstruction serves both,
//! so the layer view and the pcap always agree. `etherparse` writes the headers, lengths and
//! checksums.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::SystemTime;

use base64::Engine as _;
use etherparse::PacketBuilder;
use serde::Deserialize;
use serde_json::{Value, json};

/// One event as the reconstruction reads it (the API's event JSON).
#[derive(Debug, Deserialize)]
pub struct Ev {
    seq: u64,
    time: String,
    #[serde(default)]
    conn: Option<String>,
    #[serde(default)]
    leg: Option<String>,
    kind: String,
    #[serde(default)]
    call: Option<String>,
    #[serde(default)]
    local: Option<String>,
    #[serde(default)]
    peer: Option<String>,
    #[serde(default)]
    bytes: Option<u64>,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

const WINDOW: u16 = 65_535;
const TTL: u8 = 64;
const MAC_LOCAL: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const MAC_PEER: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

/// TCP flag bits as the layer view names them.
#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    syn: bool,
    ack: bool,
    psh: bool,
    fin: bool,
    rst: bool,
}

impl Flags {
    fn names(self) -> Vec<&'static str> {
        [
            (self.syn, "SYN"),
            (self.ack, "ACK"),
            (self.psh, "PSH"),
            (self.fin, "FIN"),
            (self.rst, "RST"),
        ]
        .into_iter()
        .filter_map(|(on, n)| on.then_some(n))
        .collect()
    }
}

/// What a frame was built from, kept beside its bytes for the layer view.
#[derive(Debug, Clone)]
enum Transport {
    Tcp { seq: u32, ack: u32, flags: Flags },
    Udp,
}

/// One rebuilt packet.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The event it stands for (handshakes and closes share their event's).
    pub event: u64,
    /// When, as the event's time.
    pub time: SystemTime,
    /// The Ethernet frame as captured (payload past the preview is cut).
    pub bytes: Vec<u8>,
    /// Its length on the wire, with the whole payload.
    pub wire_len: usize,
    src: SocketAddr,
    dst: SocketAddr,
    transport: Transport,
    payload_len: usize,
}

/// A TCP connection's two directions: the next sequence number each side sends.
struct Flow {
    local: SocketAddr,
    peer: SocketAddr,
    next_local: u32,
    next_peer: u32,
    fin_local: bool,
    fin_peer: bool,
}

/// A stable initial sequence number per connection and side, so a re-export is identical.
fn isn(key: &str, side: u32) -> u32 {
    let mut h: u32 = 0x811C_9DC5 ^ side;
    for b in key.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h
}

fn build(
    src: SocketAddr,
    dst: SocketAddr,
    transport: &Transport,
    preview: &[u8],
    full_len: usize,
) -> Option<(Vec<u8>, usize)> {
    // The headers say the full length; bytes past the preview were not kept, so they are
    // zeros while building and cut from the captured frame.
    let mut payload = preview.to_vec();
    payload.resize(full_len.max(preview.len()), 0);
    let (smac, dmac) = (MAC_LOCAL, MAC_PEER);
    let eth = PacketBuilder::ethernet2(smac, dmac);
    let ip = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => eth.ipv4(s.octets(), d.octets(), TTL),
        (IpAddr::V6(s), IpAddr::V6(d)) => eth.ipv6(s.octets(), d.octets(), TTL),
        _ => return None,
    };
    let mut out = Vec::with_capacity(payload.len() + 80);
    let res = match *transport {
        Transport::Tcp { seq, ack, flags } => {
            let mut b = ip.tcp(src.port(), dst.port(), seq, WINDOW);
            if flags.syn {
                b = b.syn();
            }
            if flags.ack {
                b = b.ack(ack);
            }
            if flags.psh {
                b = b.psh();
            }
            if flags.fin {
                b = b.fin();
            }
            if flags.rst {
                b = b.rst();
            }
            b.write(&mut out, &payload)
        }
        Transport::Udp => ip.udp(src.port(), dst.port()).write(&mut out, &payload),
    };
    res.ok()?;
    let wire = out.len();
    out.truncate(wire - (payload.len() - preview.len()));
    Some((out, wire))
}

fn addr(s: &Option<String>) -> Option<SocketAddr> {
    s.as_deref()?.parse().ok()
}

/// Rebuilds the frames of a list of events (one engine's, or one connection's), oldest first.
pub fn reconstruct(events: &[Ev]) -> Vec<Frame> {
    let mut flows: HashMap<String, Flow> = HashMap::new();
    let mut frames = Vec::new();
    for ev in events {
        let (Some(local), Some(peer)) = (addr(&ev.local), addr(&ev.peer)) else {
            continue;
        };
        let time = humantime::parse_rfc3339(&ev.time).unwrap_or(SystemTime::UNIX_EPOCH);
        let preview = ev
            .data
            .as_deref()
            .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
            .unwrap_or_default();
        let full = ev.bytes.map_or(preview.len(), |b| b as usize);
        let mut push = |src: SocketAddr, dst: SocketAddr, t: Transport, data: &[u8], len: usize| {
            if let Some((bytes, wire_len)) = build(src, dst, &t, data, len) {
                frames.push(Frame {
                    event: ev.seq,
                    time,
                    bytes,
                    wire_len,
                    src,
                    dst,
                    transport: t,
                    payload_len: len,
                });
            }
        };
        let udp = matches!(ev.call.as_deref(), Some("sendto()" | "recvfrom()"));
        if udp {
            match ev.kind.as_str() {
                "sent" => push(local, peer, Transport::Udp, &preview, full),
                "received" => push(peer, local, Transport::Udp, &preview, full),
                _ => {}
            }
            continue;
        }
        let Some(conn) = &ev.conn else { continue };
        if !matches!(
            ev.kind.as_str(),
            "accepted" | "connected" | "sent" | "received" | "shutdown" | "closed"
        ) {
            continue;
        }
        let key = format!("{conn}/{}", ev.leg.as_deref().unwrap_or(""));
        let fresh = !flows.contains_key(&key);
        let f = flows.entry(key.clone()).or_insert_with(|| Flow {
            local,
            peer,
            next_local: isn(&key, 1),
            next_peer: isn(&key, 2),
            fin_local: false,
            fin_peer: false,
        });
        let tcp = |seq: u32, ack: u32, flags: Flags| Transport::Tcp { seq, ack, flags };
        let ack_only = Flags {
            ack: true,
            ..Flags::default()
        };
        match ev.kind.as_str() {
            "accepted" | "connected" if fresh => {
                // The side that connected sends the SYN.
                let (c, s, cs, ss) = if ev.kind == "connected" {
                    (f.local, f.peer, &mut f.next_local, &mut f.next_peer)
                } else {
                    (f.peer, f.local, &mut f.next_peer, &mut f.next_local)
                };
                let (ci, si) = (*cs, *ss);
                push(
                    c,
                    s,
                    tcp(
                        ci,
                        0,
                        Flags {
                            syn: true,
                            ..Flags::default()
                        },
                    ),
                    &[],
                    0,
                );
                push(
                    s,
                    c,
                    tcp(
                        si,
                        ci.wrapping_add(1),
                        Flags {
                            syn: true,
                            ack: true,
                            ..Flags::default()
                        },
                    ),
                    &[],
                    0,
                );
                push(
                    c,
                    s,
                    tcp(ci.wrapping_add(1), si.wrapping_add(1), ack_only),
                    &[],
                    0,
                );
                *cs = ci.wrapping_add(1);
                *ss = si.wrapping_add(1);
            }
            "sent" => {
                let t = tcp(
                    f.next_local,
                    f.next_peer,
                    Flags {
                        ack: true,
                        psh: true,
                        ..Flags::default()
                    },
                );
                push(f.local, f.peer, t, &preview, full);
                f.next_local = f.next_local.wrapping_add(full as u32);
            }
            "received" => {
                let t = tcp(
                    f.next_peer,
                    f.next_local,
                    Flags {
                        ack: true,
                        psh: true,
                        ..Flags::default()
                    },
                );
                push(f.peer, f.local, t, &preview, full);
                f.next_peer = f.next_peer.wrapping_add(full as u32);
            }
            "shutdown" if !f.fin_local => {
                push(
                    f.local,
                    f.peer,
                    tcp(
                        f.next_local,
                        f.next_peer,
                        Flags {
                            fin: true,
                            ack: true,
                            ..Flags::default()
                        },
                    ),
                    &[],
                    0,
                );
                f.next_local = f.next_local.wrapping_add(1);
                f.fin_local = true;
            }
            "closed" => {
                let msg = ev.message.as_deref().unwrap_or("");
                if msg.contains("reset") {
                    // Reset by the peer, or by this side (a close with data unread, an abort).
                    let (s, d, seq, ack) = if msg.contains("by peer") {
                        (f.peer, f.local, f.next_peer, f.next_local)
                    } else {
                        (f.local, f.peer, f.next_local, f.next_peer)
                    };
                    push(
                        s,
                        d,
                        tcp(
                            seq,
                            ack,
                            Flags {
                                rst: true,
                                ack: true,
                                ..Flags::default()
                            },
                        ),
                        &[],
                        0,
                    );
                } else {
                    let peer_first = msg.contains("peer");
                    let order = if peer_first {
                        [false, true]
                    } else {
                        [true, false]
                    };
                    for ours in order {
                        let (done, s, d, seq, ack) = if ours {
                            (f.fin_local, f.local, f.peer, f.next_local, f.next_peer)
                        } else {
                            (f.fin_peer, f.peer, f.local, f.next_peer, f.next_local)
                        };
                        if done {
                            continue;
                        }
                        push(
                            s,
                            d,
                            tcp(
                                seq,
                                ack,
                                Flags {
                                    fin: true,
                                    ack: true,
                                    ..Flags::default()
                                },
                            ),
                            &[],
                            0,
                        );
                        if ours {
                            f.next_local = f.next_local.wrapping_add(1);
                            f.fin_local = true;
                        } else {
                            f.next_peer = f.next_peer.wrapping_add(1);
                            f.fin_peer = true;
                        }
                    }
                    // The last FIN acknowledged by the side that closed first.
                    let (s, d, seq, ack) = if peer_first {
                        (f.peer, f.local, f.next_peer, f.next_local)
                    } else {
                        (f.local, f.peer, f.next_local, f.next_peer)
                    };
                    push(s, d, tcp(seq, ack, ack_only), &[], 0);
                }
                flows.remove(&key);
            }
            _ => {}
        }
    }
    frames
}

/// The frames as a classic pcap file (microsecond times, Ethernet link type).
pub fn write_pcap(frames: &[Frame]) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + frames.iter().map(|f| f.bytes.len() + 16).sum::<usize>());
    out.extend_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for f in frames {
        let t = f
            .time
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        out.extend_from_slice(&(t.as_secs() as u32).to_le_bytes());
        out.extend_from_slice(&t.subsec_micros().to_le_bytes());
        out.extend_from_slice(&(f.bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.wire_len as u32).to_le_bytes());
        out.extend_from_slice(&f.bytes);
    }
    out
}

/// A data event's frame as the layers carry it: the application bytes, the TCP segment or UDP
/// datagram header, the IP header; checksums read from the frame itself.
pub fn layers(frame: &Frame, event: &Value) -> Value {
    let b = &frame.bytes;
    let v4 = frame.src.is_ipv4();
    let ip_len = if v4 { 20 } else { 40 };
    let t_at = 14 + ip_len;
    let be16 = |at: usize| b.get(at..at + 2).map(|x| u16::from_be_bytes([x[0], x[1]]));
    let app = json!({
        "bytes": event["bytes"], "data": event["data"], "text": event["text"],
        "truncated": event["truncated"], "call": event["call"],
    });
    let transport = match &frame.transport {
        Transport::Tcp { seq, ack, flags } => json!({
            "proto": "tcp", "src_port": frame.src.port(), "dst_port": frame.dst.port(),
            "seq": seq, "ack": ack, "flags": flags.names(), "window": WINDOW,
            "header_len": 20, "len": frame.payload_len, "checksum": be16(t_at + 16),
        }),
        Transport::Udp => json!({
            "proto": "udp", "src_port": frame.src.port(), "dst_port": frame.dst.port(),
            "len": frame.payload_len + 8, "checksum": be16(t_at + 6),
        }),
    };
    let ip = if v4 {
        json!({
            "version": 4, "src": frame.src.ip(), "dst": frame.dst.ip(), "ttl": TTL,
            "len": be16(14 + 2), "checksum": be16(14 + 10),
            "proto": if matches!(frame.transport, Transport::Tcp { .. }) { 6 } else { 17 },
        })
    } else {
        json!({
            "version": 6, "src": frame.src.ip(), "dst": frame.dst.ip(), "hop_limit": TTL,
            "len": be16(14 + 4), "next_header": if matches!(frame.transport, Transport::Tcp { .. }) { 6 } else { 17 },
        })
    };
    json!({ "seq": event["seq"], "app": app, "transport": transport, "ip": ip,
            "note": "rebuilt from the socket calls, not captured on the wire" })
}
