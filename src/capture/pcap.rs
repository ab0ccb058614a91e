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

use etherparse::PacketBuilder;

use super::record::{Stream, View};
use crate::event::{Call, EventKind};
use crate::ids::ConnId;

/// One event as the reconstruction reads it, taken from its record (no JSON in between).
#[derive(Debug, Clone)]
pub struct Ev {
    pub(super) seq: u64,
    time: SystemTime,
    /// The connection and its leg: a flow's key.
    key: Option<ConnId>,
    kind: EventKind,
    pub(super) call: Option<Call>,
    local: Option<SocketAddr>,
    peer: Option<SocketAddr>,
    pub(super) bytes: u64,
    pub(super) data: Vec<u8>,
    message: Option<String>,
    stream: Option<Stream>,
}

impl Ev {
    /// Record `seq`, with its connection's addresses when it refers to one.
    pub fn from_view(seq: u64, v: &View<'_>, conn: Option<(SocketAddr, SocketAddr)>) -> Self {
        let (local, peer) = match conn {
            Some((l, p)) => (Some(l), Some(p)),
            None => (v.local(), v.peer()),
        };
        let key = v.conn();
        Self {
            seq,
            time: v.time(),
            key,
            kind: v.kind(),
            call: v.call(),
            local,
            peer,
            bytes: u64::from(v.bytes()),
            data: v.preview().to_vec(),
            message: v.message().map(str::to_string),
            stream: v.stream(),
        }
    }

    /// Whether it is a `send()`/`recv()` or `sendto()`/`recvfrom()` of data.
    pub fn is_data(&self) -> bool {
        matches!(self.kind, EventKind::Sent | EventKind::Received)
            && matches!(
                self.call,
                Some(Call::Send | Call::Recv | Call::SendTo | Call::RecvFrom)
            )
    }

    /// What it is, for an error about it: `closed (close())`.
    pub fn describe(&self) -> String {
        format!(
            "{} ({})",
            self.kind.name(),
            self.call.map_or("no call", Call::name)
        )
    }
}

/// The most payload one rebuilt TCP segment carries: an IPv4 packet's 65,535 bytes less the
/// IP and TCP headers. A larger `send()` or `recv()` becomes several segments.
pub const MAX_SEGMENT: usize = 65_535 - 20 - 20;

pub(super) const WINDOW: u16 = 65_535;
pub(super) const TTL: u8 = 64;
const MAC_LOCAL: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const MAC_PEER: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

/// TCP flag bits as the layer view names them.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Flags {
    pub(super) syn: bool,
    pub(super) ack: bool,
    pub(super) psh: bool,
    pub(super) fin: bool,
    pub(super) rst: bool,
}

/// A FIN, acknowledging what came before it.
const FIN_ACK: Flags = Flags {
    syn: false,
    ack: true,
    psh: false,
    fin: true,
    rst: false,
};

/// What a frame was built from, kept beside its bytes for the layer view.
#[derive(Debug, Clone)]
pub(super) enum Transport {
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
    pub(super) src: SocketAddr,
    pub(super) dst: SocketAddr,
    pub(super) transport: Transport,
    pub(super) payload_len: usize,
    /// This frame's place among its event's segments, and how many there are.
    pub(super) segment: (usize, usize),
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

/// The initial sequence number of the direction `from` → `to` of a connection, from its
/// addresses alone: both ends of a connection between two of socketlab's engines (a client
/// and a server's accepted socket, a proxy's leg and the server) rebuild the same numbers, so
/// a segment has one `seq` and `ack` at its `send()` and at its `recv()`, as on the wire.
/// Stable, so a re-export is identical.
pub(super) fn isn(from: SocketAddr, to: SocketAddr) -> u32 {
    let mut h: u32 = 0x811C_9DC5;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h = (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
        }
    };
    for a in [from, to] {
        match a.ip() {
            IpAddr::V4(ip) => eat(&ip.octets()),
            IpAddr::V6(ip) => eat(&ip.octets()),
        }
        eat(&a.port().to_be_bytes());
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

/// One frame of event `ev`: `len` bytes of payload of which `shown` were kept, as segment
/// `segment.0` of `segment.1`.
fn frame(
    ev: &Ev,
    src: SocketAddr,
    dst: SocketAddr,
    transport: Transport,
    shown: &[u8],
    len: usize,
    segment: (usize, usize),
) -> Option<Frame> {
    let (bytes, wire_len) = build(src, dst, &transport, shown, len)?;
    Some(Frame {
        event: ev.seq,
        time: ev.time,
        bytes,
        wire_len,
        src,
        dst,
        transport,
        payload_len: len,
        segment,
    })
}

/// The frames of one data event: a datagram, or its TCP segments from `seq` (acknowledging
/// `ack`), the preview's bytes in the first of them.
fn data_frames(ev: &Ev, src: SocketAddr, dst: SocketAddr, tcp: Option<(u32, u32)>) -> Vec<Frame> {
    let full = (ev.bytes as usize).max(ev.data.len());
    let Some((seq, ack)) = tcp else {
        return frame(ev, src, dst, Transport::Udp, &ev.data, full, (0, 1))
            .into_iter()
            .collect();
    };
    let count = full.div_ceil(MAX_SEGMENT).max(1);
    let mut frames = Vec::with_capacity(count);
    for i in 0..count {
        let from = i * MAX_SEGMENT;
        let len = (full - from).min(MAX_SEGMENT);
        let shown = &ev.data[from.min(ev.data.len())..(from + len).min(ev.data.len())];
        let t = Transport::Tcp {
            seq: seq.wrapping_add(from as u32),
            ack,
            flags: Flags {
                ack: true,
                psh: i + 1 == count,
                ..Flags::default()
            },
        };
        frames.extend(frame(ev, src, dst, t, shown, len, (i, count)));
    }
    frames
}

/// The first sequence number after the SYN of each side of a connection: this side's, the
/// peer's.
fn bases(local: SocketAddr, peer: SocketAddr) -> (u32, u32) {
    (
        isn(local, peer).wrapping_add(1),
        isn(peer, local).wrapping_add(1),
    )
}

/// Where a TCP data event's first segment starts and what it acknowledges, from the stream
/// position its record carries.
fn tcp_position(ev: &Ev) -> Option<(u32, u32)> {
    ev.key?;
    let s = ev.stream?;
    let (local, peer) = bases(ev.local?, ev.peer?);
    let sent = local.wrapping_add(s.sent);
    let received = peer.wrapping_add(s.received);
    Some(match ev.kind {
        EventKind::Sent => (sent, received),
        _ => (received, sent.wrapping_add(u32::from(s.fin_local))),
    })
}

/// The frames of one data event on its own (a `/layers`): nothing before it is read, its
/// record's stream position gives its sequence numbers.
pub fn frames_of(ev: &Ev) -> Vec<Frame> {
    let (Some(local), Some(peer)) = (ev.local, ev.peer) else {
        return Vec::new();
    };
    let (src, dst) = match ev.kind {
        EventKind::Sent => (local, peer),
        _ => (peer, local),
    };
    let udp = matches!(ev.call, Some(Call::SendTo | Call::RecvFrom));
    match (udp, tcp_position(ev)) {
        (true, _) => data_frames(ev, src, dst, None),
        (false, Some(pos)) => data_frames(ev, src, dst, Some(pos)),
        (false, None) => Vec::new(),
    }
}

/// Rebuilds the frames of a list of events (one engine's, or one connection's), oldest first.
pub fn reconstruct(events: &[Ev]) -> Vec<Frame> {
    let mut flows: HashMap<ConnId, Flow> = HashMap::new();
    let mut frames = Vec::new();
    for ev in events {
        let (Some(local), Some(peer)) = (ev.local, ev.peer) else {
            continue;
        };
        let mut push = |src: SocketAddr, dst: SocketAddr, t: Transport| {
            frames.extend(frame(ev, src, dst, t, &[], 0, (0, 1)));
        };
        let udp = matches!(ev.call, Some(Call::SendTo | Call::RecvFrom));
        if udp {
            if ev.is_data() {
                push_all(&mut frames, frames_of(ev));
            }
            continue;
        }
        let Some(key) = ev.key else { continue };
        use EventKind::*;
        if !matches!(
            ev.kind,
            Accepted | Connected | Sent | Received | Shutdown | Eof | Closed
        ) {
            continue;
        }
        let fresh = !flows.contains_key(&key);
        let f = flows.entry(key).or_insert_with(|| Flow {
            local,
            peer,
            next_local: isn(local, peer),
            next_peer: isn(peer, local),
            fin_local: false,
            fin_peer: false,
        });
        let tcp = |seq: u32, ack: u32, flags: Flags| Transport::Tcp { seq, ack, flags };
        let ack_only = Flags {
            ack: true,
            ..Flags::default()
        };
        match ev.kind {
            Accepted | Connected if fresh => {
                // The side that connected sends the SYN.
                let (c, s, cs, ss) = if ev.kind == Connected {
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
                );
                push(c, s, tcp(ci.wrapping_add(1), si.wrapping_add(1), ack_only));
                *cs = ci.wrapping_add(1);
                *ss = si.wrapping_add(1);
            }
            Sent | Received => {
                let full = ev.bytes as u32;
                let sent = ev.kind == Sent;
                // The record's stream position when it has one (every new record); else
                // the flow as replayed so far.
                let (seq, ack) = tcp_position(ev).unwrap_or(if sent {
                    (f.next_local, f.next_peer)
                } else {
                    (f.next_peer, f.next_local)
                });
                let (src, dst) = if sent {
                    (f.local, f.peer)
                } else {
                    (f.peer, f.local)
                };
                let data = data_frames(ev, src, dst, Some((seq, ack)));
                push_all(&mut frames, data);
                if sent {
                    (f.next_local, f.next_peer) = (seq.wrapping_add(full), ack);
                } else {
                    (f.next_peer, f.next_local) = (seq.wrapping_add(full), ack);
                }
            }
            Eof if !f.fin_peer => {
                // The peer's FIN, which this recv() of 0 bytes saw, and this side's ACK of it.
                let (seq, ack) = tcp_position(ev).unwrap_or((f.next_peer, f.next_local));
                push(f.peer, f.local, tcp(seq, ack, FIN_ACK));
                f.next_peer = seq.wrapping_add(1);
                f.next_local = ack;
                f.fin_peer = true;
                push(f.local, f.peer, tcp(f.next_local, f.next_peer, ack_only));
            }
            Shutdown if !f.fin_local => {
                push(f.local, f.peer, tcp(f.next_local, f.next_peer, FIN_ACK));
                f.next_local = f.next_local.wrapping_add(1);
                f.fin_local = true;
            }
            Closed => {
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
                        push(s, d, tcp(seq, ack, FIN_ACK));
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
                    push(s, d, tcp(seq, ack, ack_only));
                }
                flows.remove(&key);
            }
            _ => {}
        }
    }
    frames
}

fn push_all(frames: &mut Vec<Frame>, more: Vec<Frame>) {
    frames.extend(more);
}
