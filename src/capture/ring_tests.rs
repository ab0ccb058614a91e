//! Tests of `ring.rs`.

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

#[test]
fn records_of_every_size_keep_their_bytes_and_the_count_of_bytes_exact() {
    // Inline records up to the largest, boxed ones just past it: each comes back whole, and
    // the byte count (now read from the index on eviction) stays the sum of what is kept.
    let sizes: Vec<usize> = (0..600).chain([4000, 1, 470, 471, 472]).collect();
    let recs: Vec<Box<[u8]>> = sizes
        .iter()
        .map(|&n| rec(1, None, &vec![(n % 251) as u8; n]))
        .collect();
    assert!(recs.iter().any(|r| r.len() == BOXED) && recs.iter().any(|r| r.len() > BOXED));
    let mut r = Ring::new(usize::MAX, 64 * 1024);
    for (round, _) in (0..20).enumerate() {
        for (i, x) in recs.iter().enumerate() {
            let seq = r.push(x.clone());
            let got = r.get(seq).unwrap();
            let want = View::new(x);
            assert_eq!(
                (got.raw().len(), got.preview()),
                (x.len(), want.preview()),
                "round {round} record {i}"
            );
            let kept: usize = (r.first_seq()..r.next_seq())
                .map(|s| Ring::cost(r.get(s).unwrap().raw().len()))
                .sum();
            assert_eq!(r.bytes(), kept, "round {round} record {i}");
        }
    }
    assert!(r.bytes() <= 64 * 1024);
}
