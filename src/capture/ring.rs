//! The capture ring: records packed into chunks of bytes, an index of where each begins, and
//! bounds by count and by bytes (the oldest go first). Records are numbered here, in the
//! order they arrive, so `seq` is strictly increasing and never reused.
//!
//! Memory is the records' bytes plus 8 per record of index: about 112 bytes for a 64-byte
//! `recv()`. Chunks free whole once every record in them is gone, and one is kept spare so a
//! steady stream does not allocate.

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::numhash::NumMap;
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
/// An inline record's index entry packs its chunk number, its offset in the chunk and its
/// length: evicting the oldest record then reads its length from the index, not from a
/// record no one has touched for minutes (a cache miss per record of a busy class).
const LEN_BITS: u32 = 10;
const OFFSET_BITS: u32 = 18;
const _: () = assert!(BOXED < 1 << LEN_BITS && CHUNK <= 1 << OFFSET_BITS);

fn pack(chunk: u64, offset: usize, len: usize) -> u64 {
    chunk << (OFFSET_BITS + LEN_BITS) | (offset as u64) << LEN_BITS | len as u64
}

/// An inline record's chunk number, offset and length.
fn unpack(pos: u64) -> (u64, usize, usize) {
    (
        pos >> (OFFSET_BITS + LEN_BITS),
        ((pos >> LEN_BITS) & ((1 << OFFSET_BITS) - 1)) as usize,
        (pos & ((1 << LEN_BITS) - 1)) as usize,
    )
}

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
    /// Per record: [`pack`]ed chunk number, offset and length, or `BOX_BIT` | box number.
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
    conns: NumMap<u32, ConnAddrs>,
    /// Per engine number, how many records it has had (wrapping).
    // By engine: a hash map, as an id is whatever a file said (e4000000000 must not size a
    // vector).
    engine_counts: NumMap<EngineId, u32>,
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
            conns: NumMap::default(),
            engine_counts: NumMap::default(),
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
        let room = self
            .chunks
            .back()
            .map_or(0, |c| c.capacity().min(CHUNK) - c.len().min(CHUNK));
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
        self.index.push_back(pack(chunk_no, offset, len));
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
        self.first_seq += 1;
        if pos & BOX_BIT != 0 {
            if let Some(b) = self.boxes.pop_front() {
                self.bytes -= Self::cost(b.len());
            }
            self.first_box += 1;
            return;
        }
        let (chunk, _, len) = unpack(pos);
        self.bytes -= Self::cost(len);
        if let Some(live) = self.chunk_live.get_mut((chunk - self.first_chunk) as usize) {
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
        let (chunk, offset, len) = unpack(pos);
        let chunk = &self.chunks[(chunk - self.first_chunk) as usize];
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
#[path = "ring_tests.rs"]
mod tests;
