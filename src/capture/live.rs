//! What a `mode=live` viewer sends: every event while the stream carries at most `rate` a
//! second; past that, for the rest of each 100 ms window, the `recv()`s and `send()`s of each
//! busy connection are counted instead of sent, and one summary per connection goes out at the
//! window's end, with exact counts, the seq range they cover, and the newest event of each
//! kind. Other events (connects, closes, errors) always go out. Pure logic, no I/O.

use crate::ids::{ConnId, EngineId};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::event::EventKind;

/// The window summaries cover.
pub const WINDOW: Duration = Duration::from_millis(100);
/// The default and the largest `rate`.
pub const DEFAULT_RATE: u32 = 200;
/// The largest `rate` a viewer may ask for.
pub const MAX_RATE: u32 = 5000;

/// What the sampler needs of one event.
#[derive(Debug, Clone, Copy)]
pub struct Item {
    /// Its seq.
    pub seq: u64,
    /// Its engine.
    pub engine: EngineId,
    /// Its connection, a proxy's pair as one (UDP events are summarised per engine).
    pub conn: Option<ConnId>,
    /// What happened.
    pub kind: EventKind,
    /// Bytes of data.
    pub bytes: u32,
}

/// The counts standing in for one connection's events of one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The engine.
    pub engine: EngineId,
    /// The connection (a proxy's pair as one), if any.
    pub conn: Option<ConnId>,
    /// `recv()`s and `send()`s counted (in that order: this runs for every event of a
    /// flood, so no map per event).
    counted: [u64; 2],
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// The first summarised event's seq.
    pub first_seq: u64,
    /// The last summarised event's seq.
    pub last_seq: u64,
    newest: [Option<u64>; 2],
}

const KINDS: [EventKind; 2] = [EventKind::Received, EventKind::Sent];

impl Summary {
    /// Events per kind, as the summary frame shows them.
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        KINDS
            .iter()
            .zip(self.counted)
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (k.name(), n))
            .collect()
    }

    /// The newest event of each kind, by seq.
    pub fn latest(&self) -> BTreeMap<&'static str, u64> {
        KINDS
            .iter()
            .zip(self.newest)
            .filter_map(|(k, s)| Some((k.name(), s?)))
            .collect()
    }
}

/// One viewer's sampler.
#[derive(Debug)]
pub struct Sampler {
    per_window: u32,
    tokens: u32,
    window_start: Instant,
    /// This window's summaries, one per connection, and where each is in that list. A flood
    /// is most often one busy connection, so the summary the last event went into is tried
    /// before the map.
    pending: Vec<Summary>,
    index: HashMap<(EngineId, Option<ConnId>), usize>,
    /// The summary the last event counted went into.
    last: usize,
}

impl Sampler {
    /// A sampler letting `rate` events a second through as they are.
    pub fn new(rate: u32, now: Instant) -> Self {
        let per_window = (rate / (1000 / WINDOW.as_millis() as u32)).max(1);
        Self {
            per_window,
            tokens: per_window,
            window_start: now,
            pending: Vec::new(),
            index: HashMap::new(),
            last: 0,
        }
    }

    /// Whether `item` goes out as it is (true) or into its connection's summary (false).
    pub fn offer(&mut self, item: &Item, now: Instant) -> bool {
        if now.duration_since(self.window_start) >= WINDOW && self.pending.is_empty() {
            self.window_start = now;
            self.tokens = self.per_window;
        }
        if !item.kind.is_data() {
            return true;
        }
        if self.tokens > 0 && self.pending.is_empty() {
            self.tokens -= 1;
            return true;
        }
        let key = (item.engine, item.conn);
        let at = match self.pending.get(self.last) {
            Some(s) if (s.engine, s.conn) == key => self.last,
            _ => match self.index.get(&key) {
                Some(&i) => i,
                None => {
                    self.index.insert(key, self.pending.len());
                    self.pending.push(Summary {
                        engine: item.engine,
                        conn: item.conn,
                        counted: [0; 2],
                        bytes_in: 0,
                        bytes_out: 0,
                        first_seq: item.seq,
                        last_seq: item.seq,
                        newest: [None; 2],
                    });
                    self.pending.len() - 1
                }
            },
        };
        self.last = at;
        let s = &mut self.pending[at];
        let k = usize::from(item.kind != EventKind::Received);
        s.counted[k] += 1;
        s.newest[k] = Some(item.seq);
        if k == 0 {
            s.bytes_in += u64::from(item.bytes);
        } else {
            s.bytes_out += u64::from(item.bytes);
        }
        s.last_seq = item.seq;
        false
    }

    /// Whether this window's allowance is spent and summaries are being gathered: nothing
    /// more goes out as it is until the window ends, so there is no hurry to read.
    pub fn saturated(&self) -> bool {
        self.tokens == 0 && !self.pending.is_empty()
    }

    /// When the summaries waiting now are due, if any are.
    pub fn due(&self) -> Option<Instant> {
        (!self.pending.is_empty()).then_some(self.window_start + WINDOW)
    }

    /// The summaries of a window that has ended (none before its end); a new window begins.
    pub fn flush(&mut self, now: Instant) -> Vec<Summary> {
        if self.pending.is_empty() || now < self.window_start + WINDOW {
            return Vec::new();
        }
        self.window_start = now;
        self.tokens = self.per_window;
        self.index.clear();
        let mut out = std::mem::take(&mut self.pending);
        out.sort_by_key(|s| (s.engine, s.conn));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(seq: u64, conn: u32, kind: EventKind) -> Item {
        Item {
            seq,
            engine: EngineId::new(1),
            conn: Some(ConnId::new(conn)),
            kind,
            bytes: 10,
        }
    }

    #[test]
    fn below_the_rate_every_event_goes_out() {
        let t = Instant::now();
        let mut s = Sampler::new(200, t);
        for i in 0..20 {
            assert!(s.offer(&item(i, 1, EventKind::Received), t));
        }
        assert!(s.due().is_none());
        // The next window has its own allowance.
        let later = t + WINDOW;
        assert!(s.offer(&item(21, 1, EventKind::Sent), later));
    }

    #[test]
    fn above_it_counts_add_up_exactly_per_connection() {
        let t = Instant::now();
        let mut s = Sampler::new(200, t);
        let mut out = 0u64;
        let kinds = [EventKind::Received, EventKind::Sent];
        for i in 1..=1000u64 {
            let it = item(i, (i % 3) as u32, kinds[(i % 2) as usize]);
            if s.offer(&it, t) {
                out += 1;
            }
        }
        // Lifecycle events always go out, even mid-flood.
        assert!(s.offer(&item(1001, 1, EventKind::Closed), t));
        assert_eq!(out, 20, "the window's allowance at 200/s");
        assert!(
            s.flush(t + WINDOW / 2).is_empty(),
            "not before the window ends"
        );
        let sums = s.flush(t + WINDOW);
        assert_eq!(sums.len(), 3);
        let counted: u64 = sums.iter().flat_map(|s| s.counts().into_values()).sum();
        assert_eq!(out + counted, 1000);
        for sum in &sums {
            assert_eq!(
                sum.bytes_in + sum.bytes_out,
                10 * sum.counts().values().sum::<u64>()
            );
            assert!(sum.first_seq > 20 && sum.last_seq >= 998);
            assert_eq!(sum.latest().len(), 2);
        }
        assert!(s.due().is_none());
        assert!(
            s.offer(&item(2000, 1, EventKind::Sent), t + WINDOW),
            "a fresh allowance"
        );
    }
}
