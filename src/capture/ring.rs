//! The capture ring: records packed into chunks of bytes, an index of where each begins, and
//! bounds by count and by bytes (the oldest go first). Records are numbered here, in the
//! order they arrive, so `seq` is strictly increasing and never reused.
//!
//! Memory is the records' bytes plus 8 per record of index: about 112 bytes for a 64-byte
//! `recv()`. Chunks free whole once every record in them is gone, and one is kept spare so a
//! steady stream does not allocate.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use super::record::{self, View};
use crate::ids::{ConnId, EngineId};

/// Bytes of one chunk of the arena.
const CHUNK: usize = 256 * 1024;

/// Bytes of index per record, counted in the byte bound.
const INDEX: usize = 8;

/// Records longer than this (a `recv()` of more than about 470 bytes) are kept as the
/// allocation the engine made, not copied into a chunk: a 4 KiB preview copied once less
/// per event is most of what a bulk transfer's capture costs.
const BOXED: usize = 512;
/// What a boxed record costs besides its bytes: its pointer and length in the box queue,
/// and the allocator's header.
const BOX_COST: usize = 32;
/// The index bit that says a record is boxed (its low bits are then its box number).
const BOX_BIT: u64 = 1 << 63;

/// A connection's addresses, which its records refer to by number.
#[derive(Debug, Clone, Copy)]
pub struct ConnAddrs {
    /// The local address.
    pub local: SocketAddr,
    /// The peer's address.
    pub peer: SocketAddr,
    /// The newest seq that refers to it, so the entry goes once no kept record does.
    last_seq: u64,
    /// Whether its `closed` record has come (an open connection keeps its entry however
    /// long it stays quiet).
    closed: bool,
    /// Where its streams are now, for the next data record's position.
    stream: record::Stream,
}

/// The ring of one workspace.
#[derive(Debug)]
pub struct Ring {
    chunks: VecDeque<Vec<u8>>,
    /// Records still kept in each chunk: a chunk goes once it has none.
    chunk_live: VecDeque<u32>,
    spare: Option<Vec<u8>>,
    /// The absolute number of `chunks[0]`.
    first_chunk: u64,
    /// Per record: absolute chunk number << 32 | offset in it, or `BOX_BIT` | box number.
    index: VecDeque<u64>,
    /// Boxed records, oldest first, and the absolute number of `boxes[0]`.
    boxes: VecDeque<Box<[u8]>>,
    first_box: u64,
    /// The seq of `index[0]`.
    first_seq: u64,
    next_seq: u64,
    bytes: usize,
    max_count: usize,
    max_bytes: usize,
    conns: HashMap<u32, ConnAddrs>,
    /// Per engine number, how many records it has had (wrapping).
    // By engine: a hash map, as an id is whatever a file said (e4000000000 must not size a
    // vector).
    engine_counts: HashMap<EngineId, u32>,
    /// The newest record's time (µs since the epoch), so the next is never earlier.
    last_time: u64,
}

/// A record stamped earlier than the one before it by less than this was made by another
/// task a moment before and queued behind it: it takes the time before it, so the ring (and
/// a pcap of it) goes forward in time. A larger step back is the clock being set, and stays.
const REORDERED_WITHIN_US: u64 = 1_000_000;

/// A record being appended: its own box, or bytes to copy.
enum Rec<'a> {
    Boxed(Box<[u8]>),
    Slice(&'a mut [u8]),
}

impl Rec<'_> {
    fn bytes(&mut self) -> &mut [u8] {
        match self {
            Rec::Boxed(b) => b,
            Rec::Slice(s) => s,
        }
    }

    fn into_box(self) -> Box<[u8]> {
        match self {
            Rec::Boxed(b) => b,
            Rec::Slice(s) => Box::from(&*s),
        }
    }
}

impl Ring {
    /// An empty ring keeping at most `max_count` records and `max_bytes` bytes of them.
    pub fn new(max_count: usize, max_bytes: usize) -> Self {
        Self {
            chunks: VecDeque::new(),
            chunk_live: VecDeque::new(),
            spare: None,
            first_chunk: 0,
            index: VecDeque::new(),
            boxes: VecDeque::new(),
            first_box: 0,
            first_seq: 1,
            next_seq: 1,
            bytes: 0,
            max_count,
            max_bytes,
            conns: HashMap::new(),
            engine_counts: HashMap::new(),
            last_time: 0,
        }
    }

    /// The seq of the oldest record kept (or of the next one, when empty).
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// The seq the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Records kept.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Bytes the kept records take (with their index).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// How many records engine `engine` has had (wrapping), the last one's `engine_n`.
    pub fn engine_count(&self, engine: EngineId) -> u32 {
        self.engine_counts.get(&engine).copied().unwrap_or(0)
    }

    /// Notes a connection's addresses before its first record.
    pub fn open_conn(&mut self, conn: ConnId, local: SocketAddr, peer: SocketAddr) {
        self.conns.insert(
            conn.key(),
            ConnAddrs {
                local,
                peer,
                last_seq: self.next_seq,
                closed: false,
                stream: record::Stream::default(),
            },
        );
    }

    /// A connection's addresses, by its key (each leg of a proxy's pair has its own).
    pub fn conn(&self, key: u32) -> Option<&ConnAddrs> {
        self.conns.get(&key)
    }

    fn cost(len: usize) -> usize {
        if len > BOXED {
            len + INDEX + BOX_COST
        } else {
            len + INDEX
        }
    }

    /// Appends a record, numbering it and its engine's count; returns its seq.
    pub fn push(&mut self, rec: Box<[u8]>) -> u64 {
        self.push_rec(Rec::Boxed(rec))
    }

    /// Appends a record held elsewhere (in the queue's buffer): copied in, or into a box of
    /// its own when large.
    pub fn push_slice(&mut self, rec: &mut [u8]) -> u64 {
        self.push_rec(Rec::Slice(rec))
    }

    fn push_rec(&mut self, mut rec: Rec<'_>) -> u64 {
        let len = rec.bytes().len();
        let cost = Self::cost(len);
        if cost > self.max_bytes || self.max_count == 0 {
            // Bigger than the whole budget: it is numbered, and gone at once.
            let seq = self.next_seq;
            self.next_seq += 1;
            self.evict_all();
            self.first_seq = self.next_seq;
            return seq;
        }
        let count = self
            .engine_counts
            .entry(View::new(rec.bytes()).engine())
            .or_insert(0);
        *count = count.wrapping_add(1);
        record::set_engine_n(rec.bytes(), *count);
        let t = record::time_us(rec.bytes());
        if t < self.last_time && self.last_time - t < REORDERED_WITHIN_US {
            record::set_time_us(rec.bytes(), self.last_time);
        } else {
            self.last_time = t;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(c) = View::new(rec.bytes()).conn_key()
            && let Some(entry) = self.conns.get_mut(&c)
        {
            use crate::event::EventKind;
            record::set_stream(rec.bytes(), entry.stream);
            let view = View::new(rec.bytes());
            entry.last_seq = seq;
            entry.closed |= view.kind() == EventKind::Closed;
            if view.stream().is_some() {
                let s = &mut entry.stream;
                match view.kind() {
                    EventKind::Sent => s.sent = s.sent.wrapping_add(view.bytes()),
                    EventKind::Received => s.received = s.received.wrapping_add(view.bytes()),
                    _ => {}
                }
            }
            if view.kind() == EventKind::Shutdown {
                entry.stream.fin_local = true;
            }
        }
        if len > BOXED {
            let n = self.first_box + self.boxes.len() as u64;
            self.boxes.push_back(rec.into_box());
            self.index.push_back(BOX_BIT | n);
            self.bytes += cost;
            self.evict();
            return seq;
        }
        let room = self.chunks.back().map_or(0, |c| c.capacity() - c.len());
        if room < len {
            let mut chunk = self
                .spare
                .take()
                .unwrap_or_else(|| Vec::with_capacity(CHUNK.max(len)));
            chunk.clear();
            if chunk.capacity() < len {
                chunk.reserve(len);
            }
            self.chunks.push_back(chunk);
            self.chunk_live.push_back(0);
        }
        let chunk_no = self.first_chunk + self.chunks.len() as u64 - 1;
        let last = self.chunks.back_mut().expect("a chunk was just made");
        let offset = last.len();
        last.extend_from_slice(rec.bytes());
        if let Some(live) = self.chunk_live.back_mut() {
            *live += 1;
        }
        self.index.push_back(chunk_no << 32 | offset as u64);
        self.bytes += cost;
        self.evict();
        seq
    }

    fn evict(&mut self) {
        while self.index.len() > self.max_count || self.bytes > self.max_bytes {
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        let Some(pos) = self.index.pop_front() else {
            return;
        };
        let len = self.view_at(pos).raw().len();
        self.bytes -= Self::cost(len);
        self.first_seq += 1;
        if pos & BOX_BIT != 0 {
            self.boxes.pop_front();
            self.first_box += 1;
            return;
        }
        if let Some(live) = self
            .chunk_live
            .get_mut(((pos >> 32) - self.first_chunk) as usize)
        {
            *live -= 1;
        }
        // Free the chunks no kept record lives in any more (but the one being filled).
        while self.chunks.len() > 1 && self.chunk_live.front() == Some(&0) {
            if let Some(c) = self.chunks.pop_front() {
                self.spare = Some(c);
            }
            self.chunk_live.pop_front();
            self.first_chunk += 1;
            self.forget_conns();
        }
    }

    fn evict_all(&mut self) {
        while !self.index.is_empty() {
            self.pop_front();
        }
    }

    /// Drops the entries of closed connections no kept record refers to; the table is then
    /// bounded by the open connections and the ring.
    fn forget_conns(&mut self) {
        let first = self.first_seq;
        self.conns.retain(|_, c| !c.closed || c.last_seq >= first);
    }

    fn view_at(&self, pos: u64) -> View<'_> {
        if pos & BOX_BIT != 0 {
            return View::new(&self.boxes[((pos & !BOX_BIT) - self.first_box) as usize]);
        }
        let chunk = &self.chunks[(pos >> 32) as usize - self.first_chunk as usize];
        let offset = (pos & 0xffff_ffff) as usize;
        let len = View::len_of(&chunk[offset..]);
        View::new(&chunk[offset..offset + len])
    }

    /// The record `seq`, if kept.
    pub fn get(&self, seq: u64) -> Option<View<'_>> {
        if seq < self.first_seq || seq >= self.next_seq {
            return None;
        }
        let pos = *self.index.get((seq - self.first_seq) as usize)?;
        Some(self.view_at(pos))
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::capture::record::encode;
    use crate::event::{Call, Draft, EventKind};

    fn rec(engine: u32, conn: Option<u32>, data: &[u8]) -> Box<[u8]> {
        let mut d = Draft::new(EventKind::Received, Call::Recv).data(data);
        d.conn = conn.map(ConnId::new);
        encode(EngineId::new(engine), &d, 4096, SystemTime::now())
    }

    #[test]
    fn a_record_stamped_a_moment_before_the_one_queued_ahead_of_it_takes_its_time() {
        let at = |us: u64| SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(us);
        let d = Draft::new(EventKind::Received, Call::Recv).data(b"x");
        let mut r = Ring::new(100, usize::MAX);
        for us in [5_000_000, 4_999_819, 5_000_100, 2_000_000, 2_000_050] {
            r.push(encode(EngineId::new(1), &d, 16, at(us)));
        }
        let times: Vec<SystemTime> = (1..=5).map(|s| r.get(s).unwrap().time()).collect();
        // 181 µs back: queued behind a later one, so it takes that time; 3 s back: the clock
        // was set, and the time stays.
        assert_eq!(
            times,
            [
                at(5_000_000),
                at(5_000_000),
                at(5_000_100),
                at(2_000_000),
                at(2_000_050)
            ]
        );
    }

    #[test]
    fn bounded_by_count_keeping_the_newest() {
        let mut r = Ring::new(5, usize::MAX);
        for i in 0..12u8 {
            r.push(rec(1, None, &[i]));
        }
        assert_eq!((r.len(), r.first_seq(), r.next_seq()), (5, 8, 13));
        assert!(r.get(7).is_none() && r.get(13).is_none());
        assert_eq!(r.get(8).unwrap().preview(), &[7]);
        assert_eq!(r.get(12).unwrap().preview(), &[11]);
    }

    #[test]
    fn bounded_by_bytes_and_freeing_whole_chunks() {
        let one = rec(1, None, &[0u8; 64]).len() + INDEX;
        let mut r = Ring::new(usize::MAX, 10_000 * one);
        for i in 0..100_000u32 {
            r.push(rec(1, None, &[(i % 251) as u8; 64]));
        }
        assert!(r.bytes() <= 10_000 * one);
        assert_eq!(r.len(), 10_000);
        assert_eq!(r.bytes() / r.len(), one, "bytes per 64-byte event: {one}");
        assert!(one <= 128, "{one}");
        // The arena holds about the bytes kept, not everything ever pushed.
        let arena: usize = r.chunks.iter().map(Vec::capacity).sum();
        assert!(arena <= 10_000 * one + 2 * CHUNK, "{arena}");
        let last = r.get(100_000).unwrap();
        assert_eq!(last.preview()[0], (99_999 % 251) as u8);
        assert_eq!(last.engine_n(), 100_000);
    }

    #[test]
    fn big_records_are_kept_whole_beside_the_chunks_and_bounded_the_same() {
        let mut r = Ring::new(usize::MAX, 40_000);
        for i in 0..200u32 {
            let data = vec![(i % 250) as u8; if i % 3 == 0 { 4096 } else { 64 }];
            r.push(rec(1, None, &data));
        }
        assert!(r.bytes() <= 40_000);
        // Oldest first, whatever their size, and every kept one readable.
        for seq in r.first_seq()..r.next_seq() {
            let v = r.get(seq).unwrap();
            let i = seq - 1;
            assert_eq!(v.preview().len(), if i % 3 == 0 { 4096 } else { 64 });
            assert_eq!(v.preview()[0], (i % 250) as u8);
        }
        assert!(r.boxes.len() <= r.len());
    }

    #[test]
    fn a_record_over_the_whole_budget_is_numbered_and_not_kept() {
        let mut r = Ring::new(100, 300);
        r.push(rec(1, None, b"small"));
        let big = r.push(rec(1, None, &[1u8; 1000]));
        assert_eq!(big, 2);
        assert!(r.is_empty() && r.get(2).is_none());
        assert_eq!(r.push(rec(1, None, b"next")), 3);
        assert_eq!(r.get(3).unwrap().preview(), b"next");
    }

    #[test]
    fn connections_are_found_by_number_while_open_or_referred_to() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let one = rec(1, Some(7), b"x").len() + INDEX;
        let mut r = Ring::new(usize::MAX, CHUNK / 2);
        r.open_conn(ConnId::new(7), a, b);
        r.open_conn(ConnId::new(8), b, a);
        r.push(rec(1, Some(7), b"x"));
        let mut closed = Draft::new(EventKind::Closed, Call::Close);
        closed.conn = Some(ConnId::new(8));
        r.push(encode(EngineId::new(1), &closed, 16, SystemTime::now()));
        assert_eq!(r.conn(7).unwrap().peer, b);
        // Enough other traffic to push both connections' records (and their chunk) out.
        for _ in 0..(2 * CHUNK / one) {
            r.push(rec(1, None, b"y"));
        }
        assert!(r.get(1).is_none());
        assert!(
            r.conn(8).is_none(),
            "a closed connection's entry goes with its records"
        );
        assert_eq!(
            r.conn(7).unwrap().peer,
            b,
            "an open one stays, however quiet"
        );
    }

    #[test]
    fn each_engine_counts_its_own_records() {
        let mut r = Ring::new(100, usize::MAX);
        for e in [1, 2, 1, 1, 2] {
            r.push(rec(e, None, b"."));
        }
        let n: Vec<(u32, u32)> = (1..=5)
            .map(|s| {
                r.get(s)
                    .map(|v| (v.engine().number(), v.engine_n()))
                    .unwrap()
            })
            .collect();
        assert_eq!(n, [(1, 1), (2, 1), (1, 2), (1, 3), (2, 2)]);
    }
}
