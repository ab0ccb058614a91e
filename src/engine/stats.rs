//! An engine's counters, cumulative over its runs, and their snapshot as the API shows it.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

/// Cumulative counters of one engine, over all its runs.
#[derive(Debug, Default)]
pub struct Stats {
    pub(super) connections_open: AtomicU64,
    pub(super) connections_total: AtomicU64,
    /// The per-message counters, one set per shard: each thread adds to its own cache line,
    /// so a hundred connections served by two threads do not bounce one line between the
    /// cores four times a message. A view adds the shards up.
    shards: [Shard; SHARDS],
}

/// Shards of the per-message counters; threads take them round-robin.
const SHARDS: usize = 8;

/// One thread's share of the per-message counters, alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
}

/// This thread's shard.
fn shard() -> usize {
    use std::sync::atomic::AtomicUsize;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static MINE: usize = NEXT.fetch_add(1, Relaxed) % SHARDS;
    }
    MINE.with(|m| *m)
}

/// A snapshot of [`Stats`], as API.md's `stats` object.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatsView {
    /// Connections open now.
    pub connections_open: u64,
    /// Connections ever accepted or made.
    pub connections_total: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// `recv()` / `recvfrom()` calls that returned data.
    pub messages_in: u64,
    /// `send()` / `sendto()` calls.
    pub messages_out: u64,
}

impl Stats {
    pub(super) fn view(&self) -> StatsView {
        let sum = |f: fn(&Shard) -> &AtomicU64| {
            self.shards
                .iter()
                .map(|s| f(s).load(Relaxed))
                .fold(0u64, u64::wrapping_add)
        };
        StatsView {
            connections_open: self.connections_open.load(Relaxed),
            connections_total: self.connections_total.load(Relaxed),
            bytes_in: sum(|s| &s.bytes_in),
            bytes_out: sum(|s| &s.bytes_out),
            messages_in: sum(|s| &s.messages_in),
            messages_out: sum(|s| &s.messages_out),
        }
    }

    pub(super) fn received(&self, n: usize) {
        let s = &self.shards[shard()];
        s.bytes_in.fetch_add(n as u64, Relaxed);
        s.messages_in.fetch_add(1, Relaxed);
    }

    pub(super) fn sent(&self, n: usize) {
        let s = &self.shards[shard()];
        s.bytes_out.fetch_add(n as u64, Relaxed);
        s.messages_out.fetch_add(1, Relaxed);
    }
}
