//! Capture: every socket call of a workspace, kept as a compact binary record at line rate,
//! and rendered to JSON only when someone reads it (tcpdump's split between capturing and
//! showing).
//!
//! - [`record`]: the binary form an engine makes of a call (no JSON, no base64).
//! - [`ring`]: the workspace's records, numbered and bounded by count and bytes.
//! - [`render`]: a record as event JSON, rendered once and shared by every reader.
//! - [`live`]: what a `mode=live` viewer sends: events while few, summaries when many.
//!
//! An engine's hot path takes no lock: it encodes its record and puts it on the workspace's
//! channel (lock-free). One collector task per workspace moves records into the ring, a few
//! milliseconds' worth at a time when busy, and tells the viewers; a reader of the history
//! first takes what is still on the channel, so it never misses a call that has happened.

pub mod live;
mod numhash;
pub mod pcap;
pub mod pcap_file;
pub mod record;
pub mod render;
pub mod ring;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::event::Draft;
use crate::ids::{ConnId, EngineId};
use record::View;
use ring::Ring;

/// The least time between two of the collector's passes: a call after a quiet spell is passed
/// on at once (its viewers see it within microseconds), the calls of a busy workspace a
/// batch per millisecond (fifty busy workspaces: 50,000 passes a second, not one per call).
const GATHER: Duration = Duration::from_millis(1);

/// The most bytes of queued calls' room kept between drains.
const SPARE_MAX: usize = 4 << 20;

/// What engines have recorded and the collector has not yet kept: the records back to back
/// in one buffer (each starts with its length), so a call costs no allocation of its own,
/// and the connections opened meanwhile.
#[derive(Default)]
struct Queue {
    records: Vec<u8>,
    conns: Vec<(ConnId, SocketAddr, SocketAddr)>,
}

/// Something that looks at every record as it is kept, and may add one right after it (a
/// lab's checker, which adds a `step` event when a record matches what a step expects).
pub trait Watch: Send {
    /// Sees a record just kept; returns a record to keep right after it.
    fn see(&mut self, v: &View<'_>) -> Option<Box<[u8]>>;
}

/// The ring and what reads it, behind one lock that no engine takes.
pub struct Inner {
    ring: Ring,
    /// The queue's previous buffers, emptied, swapped in at the next drain (no allocation).
    spare: Queue,
    cache: render::Cache,
    watch: Option<Box<dyn Watch>>,
}

struct Shared {
    /// Calls recorded and not yet in the ring. A plain locked vector: a push is one
    /// uncontended lock and a copy, where a channel's send took three contended atomic
    /// operations; the collector takes the whole of it at once.
    // std Mutex: held for one push or one swap, never across an `.await`.
    queue: Mutex<Queue>,
    awake: AtomicBool,
    wake: Notify,
    inner: Mutex<Inner>,
    /// The newest seq in the ring, for viewers to wait on.
    head: watch::Sender<u64>,
    preview: usize,
}

/// One workspace's capture. Dropping it ends its collector.
pub struct Capture {
    shared: Arc<Shared>,
    stop: CancellationToken,
    epoch: String,
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Which records a reader wants.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter {
    /// One engine's.
    pub engine: Option<EngineId>,
    /// One connection's (both legs of a proxy's pair).
    pub conn: Option<ConnId>,
    /// None after this seq.
    pub until: Option<u64>,
}

impl Filter {
    /// Whether a record passes.
    pub fn wants(&self, v: &View<'_>) -> bool {
        // Both legs of a proxied pair are one connection to a reader.
        self.engine.is_none_or(|e| v.engine() == e)
            && self
                .conn
                .is_none_or(|c| v.conn().map(ConnId::number) == Some(c.number()))
    }
}

impl Capture {
    /// A capture keeping at most `count` records and `bytes` bytes of them, with `preview`
    /// bytes of each call's data. Must be made inside a tokio runtime (its collector runs
    /// there).
    pub fn new(count: usize, bytes: usize, preview: usize) -> Self {
        let (head, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            awake: AtomicBool::new(false),
            wake: Notify::new(),
            // Renderings kept for the next reader: a quarter of the history's budget, at
            // most 32 MiB, so rendering for viewers never costs the history a record.
            inner: Mutex::new(Inner {
                ring: Ring::new(count, bytes),
                spare: Queue::default(),
                cache: render::Cache::new((bytes / 4).min(32 << 20)),
                watch: None,
            }),
            head,
            preview,
        });
        let stop = CancellationToken::new();
        // The capture's own collector: it lives as long as the capture (its Drop cancels it),
        // not as long as any engine's run.
        #[allow(clippy::disallowed_methods)]
        tokio::spawn(collect(shared.clone(), stop.clone()));
        // Its numbering starts again at 1 with every run: a reader holding a seq of another
        // run must be told, or it would wait for numbers it has seen already.
        let mut r = [0u8; 8];
        let _ = getrandom::fill(&mut r);
        let epoch = r.iter().map(|b| format!("{b:02x}")).collect();
        Self {
            shared,
            stop,
            epoch,
        }
    }

    /// This run's id of the numbering (random per capture, so per workspace and run).
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// Records one socket call of engine `engine`. Never waits for the ring: it takes only
    /// the queue's lock, for one push.
    pub fn push(&self, engine: EngineId, draft: &Draft<'_>) {
        self.push_all(engine, &[draft]);
    }

    /// Records calls that happened one after the other (a request's `recv()` and the reply's
    /// `send()`), in that order, at one time and under one lock: an echo's two records cost
    /// one clock read and one lock rather than two of each.
    pub fn push_all(&self, engine: EngineId, drafts: &[&Draft<'_>]) {
        let now = SystemTime::now();
        {
            // Encoded straight into the queue: a few dozen stores under a lock the collector
            // takes once a millisecond, rather than a second buffer and a copy.
            let mut q = self.queue();
            for d in drafts {
                record::encode_into(&mut q.records, engine, d, self.shared.preview, now);
            }
        }
        self.wake();
    }

    /// Notes a connection's addresses, before its first record.
    pub fn open_conn(&self, conn: ConnId, local: SocketAddr, peer: SocketAddr) {
        self.queue().conns.push((conn, local, peer));
        self.wake();
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn send_record(&self, rec: &[u8]) {
        self.queue().records.extend_from_slice(rec);
        self.wake();
    }

    fn wake(&self) {
        // Read first: under load the flag is set, and a read keeps the line shared between
        // the cores where a swap would take it from the other one each call.
        if !self.shared.awake.load(Ordering::Acquire)
            && !self.shared.awake.swap(true, Ordering::AcqRel)
        {
            self.shared.wake.notify_one();
        }
    }

    /// The ring, with everything already recorded in it.
    pub fn lock(&self) -> Locked<'_> {
        let mut guard = self
            .shared
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.shared.drain(&mut guard);
        Locked { guard }
    }

    /// Puts `watch` in place of the one there was: it sees the kept records from seq `from`
    /// on first (what happened since a lab's load began, before its engines' ids were
    /// known), then every new one as it is kept.
    pub fn set_watch(&self, from: u64, watch: Option<Box<dyn Watch>>) {
        let mut guard = self
            .shared
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.shared.drain(&mut guard);
        let inner = &mut *guard;
        inner.watch = watch;
        if let Some(w) = inner.watch.as_mut() {
            let added: Vec<Box<[u8]>> = (from.max(inner.ring.first_seq())..inner.ring.next_seq())
                .filter_map(|seq| inner.ring.get(seq).and_then(|v| w.see(&v)))
                .collect();
            if !added.is_empty() {
                for rec in added {
                    inner.ring.push(rec);
                }
                self.shared.head.send_replace(inner.ring.next_seq() - 1);
            }
        }
    }

    /// Keeps a record made elsewhere (a step said done), in order with the calls.
    pub fn push_record(&self, rec: &[u8]) {
        self.send_record(rec);
    }

    /// The newest seq, and a way to wait for newer ones.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.head.subscribe()
    }

    /// How many calls have been recorded so far (as of the collector's last pass).
    pub fn published(&self) -> u64 {
        *self.shared.head.borrow()
    }
}

impl Shared {
    /// Moves what is on the channel into the ring; returns how many records came.
    fn drain(&self, inner: &mut Inner) -> usize {
        let mut n = 0;
        let mut batch = std::mem::take(&mut inner.spare);
        std::mem::swap(
            &mut batch,
            &mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner),
        );
        // A connection is noted before its first record is made, so all of them first.
        for (conn, local, peer) in batch.conns.drain(..) {
            inner.ring.open_conn(conn, local, peer);
        }
        let mut at = 0;
        while let Some(len) = batch
            .records
            .get(at..at + 4)
            .map(|l| u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize)
        {
            let Some(rec) = batch.records.get_mut(at..at + len) else {
                break;
            };
            at += len.max(4);
            let seq = inner.ring.push_slice(rec);
            n += 1;
            if let Some(w) = inner.watch.as_mut()
                && let Some(added) = inner.ring.get(seq).and_then(|v| w.see(&v))
            {
                inner.ring.push(added);
                n += 1;
            }
        }
        batch.records.clear();
        // A burst's buffer is kept for the next, unless it grew large.
        if batch.records.capacity() > SPARE_MAX {
            batch.records = Vec::new();
        }
        inner.spare = batch;
        if n > 0 {
            self.head.send_replace(inner.ring.next_seq() - 1);
        }
        n
    }
}

async fn collect(shared: Arc<Shared>, stop: CancellationToken) {
    // Long enough ago that the first call after a quiet spell is passed on at once.
    let mut last = tokio::time::Instant::now() - GATHER;
    // One stop future and one timer for the task's life: a busy workspace passes a thousand
    // times a second, and each new one was a registration and a removal.
    let stopped = stop.cancelled();
    let gather = tokio::time::sleep_until(last);
    tokio::pin!(stopped, gather);
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            _ = shared.wake.notified() => {}
        }
        // At most one pass per GATHER: a workspace whose calls come faster than that has them
        // taken a batch at a time (and its viewers woken once for the batch).
        gather.as_mut().reset(last + GATHER);
        gather.as_mut().await;
        // Cleared before taking, so a call recorded from here on wakes us again.
        shared.awake.store(false, Ordering::Release);
        {
            let mut inner = shared.inner.lock().unwrap_or_else(PoisonError::into_inner);
            shared.drain(&mut inner);
        }
        last = tokio::time::Instant::now();
    }
}

/// The ring while locked, for readers.
pub struct Locked<'a> {
    guard: MutexGuard<'a, Inner>,
}

impl Locked<'_> {
    /// The seq of the oldest record kept.
    pub fn first_seq(&self) -> u64 {
        self.guard.ring.first_seq()
    }

    /// The seq the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.guard.ring.next_seq()
    }

    /// Records kept, and the bytes they take.
    pub fn size(&self) -> (usize, usize) {
        (self.guard.ring.len(), self.guard.ring.bytes())
    }

    /// The record `seq`, if kept.
    pub fn view(&self, seq: u64) -> Option<View<'_>> {
        self.guard.ring.get(seq)
    }

    /// How many records engine `engine` has had (wrapping).
    pub fn engine_count(&self, engine: EngineId) -> u32 {
        self.guard.ring.engine_count(engine)
    }

    /// The addresses of the connection (the leg) a record refers to.
    pub fn conn_addrs(&self, v: &View<'_>) -> Option<(SocketAddr, SocketAddr)> {
        let key = v.conn_key()?;
        self.guard.ring.conn(key).map(|c| (c.local, c.peer))
    }

    /// Record `seq` as event JSON: rendered the first time anyone asks, then shared.
    pub fn json(&mut self, seq: u64) -> Option<Utf8Bytes> {
        let inner = &mut *self.guard;
        let v = inner.ring.get(seq)?;
        let conn = v.conn_key().and_then(|c| inner.ring.conn(c));
        let first = inner.ring.first_seq();
        Some(
            inner
                .cache
                .get(seq, first, || render::render(seq, &v, conn)),
        )
    }

    /// How many records have been rendered so far.
    pub fn renders(&self) -> u64 {
        self.guard.cache.renders()
    }

    /// Up to `limit` kept events with `seq > since` that `filter` wants, oldest first, with
    /// the `since` to ask next time.
    pub fn history(&mut self, filter: Filter, since: u64, limit: usize) -> (Vec<Utf8Bytes>, u64) {
        self.history_within(filter, since, limit, usize::MAX)
    }

    /// [`Locked::history`], stopping once the events' JSON passes `max_bytes` (one event at
    /// least), so a page's size is bounded whatever the events carry.
    pub fn history_within(
        &mut self,
        filter: Filter,
        since: u64,
        limit: usize,
        max_bytes: usize,
    ) -> (Vec<Utf8Bytes>, u64) {
        let end = filter.until.map_or(self.next_seq(), |u| {
            u.saturating_add(1).min(self.next_seq())
        });
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let mut seq = since.saturating_add(1).max(self.first_seq());
        let mut last = since;
        while seq < end {
            if self.view(seq).is_some_and(|v| filter.wants(&v)) {
                if out.len() == limit || bytes >= max_bytes {
                    return (out, last);
                }
                if let Some(j) = self.json(seq) {
                    bytes += j.len();
                    out.push(j);
                }
                last = seq;
            }
            seq += 1;
        }
        // Nothing more matches up to the newest event, so the caller may skip past it.
        (out, since.max(end - 1))
    }

    /// Up to `limit` kept events with `seq < before` that `filter` wants: the newest such,
    /// oldest first, with the `before` for the page older still (0 when none is kept). It
    /// stops once their JSON passes `max_bytes` (one event at least).
    pub fn history_before(
        &mut self,
        filter: Filter,
        before: u64,
        limit: usize,
        max_bytes: usize,
    ) -> (Vec<Utf8Bytes>, u64) {
        let first = self.first_seq();
        let mut found = Vec::new();
        let mut bytes = 0usize;
        let mut seq = before.min(self.next_seq());
        while seq > first && found.len() < limit && bytes < max_bytes {
            seq -= 1;
            if self.view(seq).is_some_and(|v| filter.wants(&v))
                && let Some(j) = self.json(seq)
            {
                bytes += j.len();
                found.push((seq, j));
            }
        }
        let older = found.last().is_some_and(|&(oldest, _)| {
            (first..oldest).any(|s| self.view(s).is_some_and(|v| filter.wants(&v)))
        });
        let next = if older {
            found.last().map_or(0, |(s, _)| *s)
        } else {
            0
        };
        found.reverse();
        (found.into_iter().map(|(_, j)| j).collect(), next)
    }
}

#[cfg(test)]
mod tests;
