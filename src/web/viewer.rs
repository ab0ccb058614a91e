//! One viewer's reading of its workspace's capture: a cursor into the ring, the frames for
//! what it has not seen yet (`mode=all`: every event; `mode=live`: events, or summaries when
//! there are too many to read), and exact accounting when it falls behind.

use std::time::{Instant, SystemTime};

use axum::extract::ws::Utf8Bytes;
use serde_json::json;

use crate::capture::live::{Item, Sampler, Summary, WINDOW};
use crate::capture::{Filter, Locked};
use crate::event::format_time;
use crate::ids::ConnId;

/// Events taken per pass, so one write carries a batch and the ring is not held long.
const BATCH: usize = 2048;
/// Bytes of events taken per pass.
const BATCH_BYTES: usize = 512 * 1024;
/// A `mode=live` viewer's replay: at most this many of the newest records.
pub const LIVE_REPLAY: u64 = 1000;
/// The most events a second one `mode=all` viewer is sent, and the most bytes of them: twice
/// the page's live rate, and a second of either at once. Past that it falls behind and
/// skips ahead with a `lagged` notice that counts what it missed, as when its reader is slow:
/// rendering and writing every event of a flood for one viewer would take the engines' CPU
/// (`nginx`'s `limit_rate` is the same bound for the same reason).
pub const ALL_MAX_EVENTS: f64 = 10_000.0;
/// The most bytes of events a second one `mode=all` viewer is sent (see [`ALL_MAX_EVENTS`]).
pub const ALL_MAX_BYTES: f64 = 32.0 * 1024.0 * 1024.0;

/// A `mode=all` viewer's allowance: token buckets of events and bytes, refilled with time.
#[derive(Debug, Clone, Copy)]
struct Pace {
    events: f64,
    bytes: f64,
    at: Instant,
}

impl Pace {
    fn new(now: Instant) -> Self {
        Self {
            events: ALL_MAX_EVENTS,
            bytes: ALL_MAX_BYTES,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        self.events = (self.events + dt * ALL_MAX_EVENTS).min(ALL_MAX_EVENTS);
        self.bytes = (self.bytes + dt * ALL_MAX_BYTES).min(ALL_MAX_BYTES);
    }

    fn allows(&self) -> bool {
        self.events >= 1.0 && self.bytes > 0.0
    }

    /// When the allowance is back, if it is spent.
    fn back_at(&self) -> Option<Instant> {
        if self.allows() {
            return None;
        }
        // Back when a hundredth of a second's worth is: a paced viewer wakes a hundred times
        // a second, not once per event it may send.
        let wait = ((ALL_MAX_EVENTS / 100.0 - self.events) / ALL_MAX_EVENTS)
            .max(-self.bytes / ALL_MAX_BYTES)
            .max(0.001);
        Some(self.at + std::time::Duration::from_secs_f64(wait))
    }
}

/// What a viewer was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every event.
    All,
    /// Events while at most `rate` a second, then summaries.
    Live,
}

/// A viewer's place in the ring.
pub struct Viewer {
    filter: Filter,
    /// The engine id asked for, as lag notices name it.
    engine_label: Option<String>,
    /// The next seq to look at.
    cursor: u64,
    /// Seqs below this are the replay the viewer asked for, never skipped for lag.
    replay_end: u64,
    /// How far behind the newest event a viewer may fall before it skips ahead.
    behind: u64,
    /// The engine's count at the last record of it this viewer went past (for a viewer of one
    /// engine), or the last seq it went past: what a lag's `missed` is counted from.
    last_engine_n: u32,
    last_seq: u64,
    /// A skip not yet reported: reported with the next event the viewer is sent.
    skipped: bool,
    sampler: Option<Sampler>,
    /// A `mode=all` viewer's allowance.
    pace: Option<Pace>,
    /// Whether the last pass stopped with events waiting and the allowance spent.
    paced: bool,
}

impl Viewer {
    /// A viewer starting at `since + 1` (or at the newest event, with no `since`), in the
    /// ring as it is now. In live mode, a long replay starts at the newest `LIVE_REPLAY`
    /// records, after a notice saying where the older ones are.
    pub fn new(
        ring: &Locked<'_>,
        filter: Filter,
        engine_label: Option<String>,
        since: Option<u64>,
        mode: Mode,
        rate: u32,
        behind: usize,
    ) -> (Self, Option<Utf8Bytes>) {
        let next = ring.next_seq();
        let mut cursor = since
            .map_or(next, |s| s.saturating_add(1))
            .max(ring.first_seq());
        let mut notice = None;
        if mode == Mode::Live && next.saturating_sub(cursor) > LIVE_REPLAY {
            let from = next - LIVE_REPLAY;
            notice = Some(history_notice(cursor, from));
            cursor = from;
        }
        // The engine's count just before what this viewer will be shown, so a later skip is
        // counted exactly even if the records it skips are gone from the ring by then: one
        // less than its first record from the cursor on, or all it has had when none is.
        let last_engine_n = match filter.engine {
            Some(e) => (cursor..next)
                .find_map(|s| ring.view(s).filter(|v| filter.wants(v)))
                .map_or(ring.engine_count(e), |v| v.engine_n().wrapping_sub(1)),
            None => 0,
        };
        let viewer = Self {
            filter,
            engine_label,
            cursor,
            replay_end: next,
            behind: behind.max(1) as u64,
            last_engine_n,
            last_seq: cursor.saturating_sub(1),
            skipped: false,
            sampler: (mode == Mode::Live).then(|| Sampler::new(rate, Instant::now())),
            pace: (mode == Mode::All).then(|| Pace::new(Instant::now())),
            paced: false,
        };
        (viewer, notice)
    }

    /// When the summaries waiting are due, if any.
    /// The seq the stream goes on after: its first event has a larger one.
    pub fn started_after(&self) -> u64 {
        self.last_seq
    }

    /// The engine this viewer shows (`?engine=`), if one.
    pub fn engine(&self) -> Option<&str> {
        self.engine_label.as_deref()
    }

    pub fn due(&self) -> Option<Instant> {
        let paced = self
            .pace
            .as_ref()
            .filter(|_| self.paced)
            .and_then(Pace::back_at);
        match (self.sampler.as_ref().and_then(Sampler::due), paced) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether a live viewer under a flood can wait for its window's end rather than read each
    /// new batch: it would only count them. Ten passes a second instead of a thousand.
    pub fn saturated(&self) -> bool {
        self.paced || self.sampler.as_ref().is_some_and(Sampler::saturated)
    }

    /// The frames for what has come since the last pass (a batch at most), and whether more
    /// is waiting.
    pub fn pass(&mut self, ring: &mut Locked<'_>, out: &mut Vec<Utf8Bytes>) -> bool {
        let next = ring.next_seq();
        let first = ring.first_seq();
        // Past the replay, a mode=all viewer too far behind skips ahead to stay live (a live
        // viewer sends at most its rate and counts the rest, so it always catches up); one
        // whose next record is gone from the ring skips to the oldest kept.
        if self.sampler.is_none()
            && self.cursor >= self.replay_end
            && next.saturating_sub(self.cursor) > self.behind
        {
            self.cursor = next - self.behind;
            self.skipped = true;
        }
        if self.cursor < first {
            self.cursor = first;
            self.skipped = true;
        }
        let now = Instant::now();
        if let Some(p) = &mut self.pace {
            p.refill(now);
        }
        let (mut taken, mut bytes) = (0, 0);
        while self.cursor < next
            && taken < BATCH
            && bytes < BATCH_BYTES
            && self.pace.as_ref().is_none_or(Pace::allows)
        {
            let seq = self.cursor;
            self.cursor += 1;
            let Some(v) = ring.view(seq) else { continue };
            if !self.filter.wants(&v) {
                continue;
            }
            let item = Item {
                seq,
                engine: v.engine(),
                conn: v.conn().map(ConnId::pair),
                kind: v.kind(),
                bytes: v.bytes(),
            };
            let engine_n = v.engine_n();
            if self.skipped {
                let missed = match self.filter.engine {
                    Some(_) => u64::from(engine_n.wrapping_sub(self.last_engine_n).wrapping_sub(1)),
                    None => seq - self.last_seq - 1,
                };
                if missed > 0 {
                    out.push(self.lagged(missed, seq - 1, self.last_seq));
                }
                self.skipped = false;
            }
            self.last_engine_n = engine_n;
            self.last_seq = seq;
            // The replay asked for (at most LIVE_REPLAY kept events) is sent whole: the page
            // steps through what happened before it opened, call by call. Sampling is for
            // what pours in live.
            let send = match &mut self.sampler {
                Some(s) if seq >= self.replay_end => s.offer(&item, now),
                _ => true,
            };
            if send && let Some(j) = ring.json(seq) {
                bytes += j.len();
                // The replay asked for is sent whole; only what pours in live is paced.
                if seq >= self.replay_end
                    && let Some(p) = &mut self.pace
                {
                    p.events -= 1.0;
                    p.bytes -= j.len() as f64;
                }
                out.push(j);
            }
            taken += 1;
        }
        self.paced = self.cursor < next && self.pace.as_ref().is_some_and(|p| !p.allows());
        if self.paced {
            return false;
        }
        if let Some(s) = &mut self.sampler {
            for sum in s.flush(now) {
                out.push(summary_frame(&sum, ring));
            }
        }
        self.cursor < next
    }

    fn lagged(&self, missed: u64, seq: u64, after: u64) -> Utf8Bytes {
        let v = json!({
            "kind": "lagged",
            "missed": missed,
            "seq": seq,
            "time": format_time(SystemTime::now()),
            "engine": self.engine_label,
            "message": format!(
                "this viewer fell behind and skipped {missed} events; GET /api/events?since={after} \
                 returns those still in the history"
            ),
        });
        Utf8Bytes::from(v.to_string())
    }
}

fn history_notice(first: u64, from: u64) -> Utf8Bytes {
    let v = json!({
        "kind": "history",
        "time": format_time(SystemTime::now()),
        "first_seq": first,
        "next_seq": from,
        "message": format!(
            "older events (from seq {first}) are kept: this live view starts at seq {from}; \
             GET /api/events?before={from} pages back through them"
        ),
    });
    Utf8Bytes::from(v.to_string())
}

fn summary_frame(s: &Summary, ring: &mut Locked<'_>) -> Utf8Bytes {
    let mut v = json!({
        "kind": "summary",
        "time": format_time(SystemTime::now()),
        "engine": s.engine,
        "window_ms": WINDOW.as_millis() as u64,
        "counts": s.counts(),
        "bytes_in": s.bytes_in,
        "bytes_out": s.bytes_out,
        "first_seq": s.first_seq,
        "last_seq": s.last_seq,
    });
    if let Some(c) = s.conn {
        v["conn"] = c.to_string().into();
    }
    // The newest event of each kind goes in as the JSON already rendered for it (and
    // shared with every other reader), not parsed back into a value and printed again.
    let mut out = v.to_string();
    out.pop();
    out.push_str(",\"latest\":{");
    let mut first = true;
    for (kind, seq) in s.latest() {
        let Some(j) = ring.json(seq) else { continue };
        if !first {
            out.push(',');
        }
        first = false;
        out.push('"');
        out.push_str(kind);
        out.push_str("\":");
        out.push_str(j.as_str());
    }
    out.push_str("}}");
    Utf8Bytes::from(out)
}
