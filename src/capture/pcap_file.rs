//! The pcap file itself: the classic format's header and records, and what each rebuilt
//! frame puts in it (a frame past a cut is a short capture of its headers).

use std::net::SocketAddr;

use super::pcap::{self, Frame, Transport};

/// The frames as a classic pcap file (microsecond times, Ethernet link type).
pub fn write_pcap(frames: &[Frame]) -> Vec<u8> {
    let captured = captured(frames);
    let mut out = Vec::with_capacity(24 + captured.iter().map(|c| c.len() + 16).sum::<usize>());
    out.extend_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (f, captured) in frames.iter().zip(captured) {
        let t = f
            .time
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        out.extend_from_slice(&(t.as_secs() as u32).to_le_bytes());
        out.extend_from_slice(&t.subsec_micros().to_le_bytes());
        out.extend_from_slice(&(captured.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.wire_len as u32).to_le_bytes());
        out.extend_from_slice(captured);
    }
    out
}

/// The bytes a pcap file gets for each frame. Once a TCP direction has had a segment whose
/// payload was cut (the preview is shorter than the `recv()`), its later segments are written
/// as short captures of their headers alone, as a snapshot length would cut them: the bytes
/// that would follow are the middle of whatever the application sent (a body), and a
/// dissector that lost its place takes them for a new message's headers. A direction's first
/// segment keeps its preview (the request's or the response's own headers), and so do
/// datagrams, each its own message; the page's layer view shows every preview.
fn captured(frames: &[Frame]) -> Vec<&[u8]> {
    let mut cut_dirs: std::collections::HashSet<(SocketAddr, SocketAddr)> = Default::default();
    frames
        .iter()
        .map(|f| {
            let Transport::Tcp { seq, .. } = f.transport else {
                return &f.bytes[..];
            };
            let dir = (f.src, f.dst);
            let starts = seq == pcap::isn(f.src, f.dst).wrapping_add(1);
            let cut = f.bytes.len() < f.wire_len;
            let strip = f.payload_len > 0 && !starts && (cut || cut_dirs.contains(&dir));
            if cut {
                cut_dirs.insert(dir);
            }
            if strip {
                let headers = f.wire_len - f.payload_len;
                &f.bytes[..headers.min(f.bytes.len())]
            } else {
                &f.bytes[..]
            }
        })
        .collect()
}
