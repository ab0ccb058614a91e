//! An engine's counters, cumulative over its runs, and their snapshot as the API shows it.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

/// Cumulative counters of one engine, over all its runs.
#[derive(Debug, Default)]
pub struct Stats {
    pub(super) connections_open: AtomicU64,
    pub(super) connections_total: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
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
        StatsView {
            connections_open: self.connections_open.load(Relaxed),
            connections_total: self.connections_total.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            messages_in: self.messages_in.load(Relaxed),
            messages_out: self.messages_out.load(Relaxed),
        }
    }

    pub(super) fn received(&self, n: usize) {
        self.bytes_in.fetch_add(n as u64, Relaxed);
        self.messages_in.fetch_add(1, Relaxed);
    }

    pub(super) fn sent(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Relaxed);
        self.messages_out.fetch_add(1, Relaxed);
    }
}
