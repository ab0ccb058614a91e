//! The capture's readers and collector.

use super::*;
use crate::event::{Call, EventKind};

fn sent(conn: u32, data: &[u8]) -> Draft<'_> {
    Draft::new(EventKind::Sent, Call::Send)
        .conn(ConnId::new(conn))
        .data(data)
}

#[tokio::test]
async fn a_reader_sees_every_call_recorded_before_it_asked() {
    let cap = Capture::new(1000, usize::MAX, 4096);
    let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
    cap.open_conn(ConnId::new(4), a, b);
    for i in 0..100u8 {
        cap.push(
            EngineId::new(if i % 2 == 0 { 1 } else { 2 }),
            &sent(4, &[i]),
        );
    }
    // No waiting for the collector: the reader takes what is on the channel.
    let mut l = cap.lock();
    assert_eq!((l.first_seq(), l.next_seq()), (1, 101));
    let (evs, next) = l.history(
        Filter {
            engine: Some(EngineId::new(2)),
            ..Filter::default()
        },
        0,
        10,
    );
    assert_eq!((evs.len(), next), (10, 20));
    let v: serde_json::Value = serde_json::from_str(evs[0].as_str()).unwrap();
    assert_eq!(
        (v["seq"].as_u64(), v["engine"].as_str(), v["peer"].as_str()),
        (Some(2), Some("e2"), Some("127.0.0.1:2"))
    );
    let (older, before) = l.history_before(
        Filter {
            engine: Some(EngineId::new(1)),
            ..Filter::default()
        },
        11,
        2,
        usize::MAX,
    );
    let seqs: Vec<u64> = older
        .iter()
        .map(|j| {
            serde_json::from_str::<serde_json::Value>(j.as_str()).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!((seqs, before), (vec![7, 9], 7));
    let (until, _) = l.history(
        Filter {
            until: Some(5),
            ..Filter::default()
        },
        2,
        100,
    );
    assert_eq!(until.len(), 3);
}

#[tokio::test]
async fn the_collector_moves_records_and_wakes_viewers() {
    let cap = Capture::new(1000, usize::MAX, 4096);
    let mut head = cap.subscribe();
    cap.push(EngineId::new(1), &Draft::new(EventKind::Bound, Call::Bind));
    tokio::time::timeout(Duration::from_secs(5), head.changed())
        .await
        .expect("the collector ran")
        .unwrap();
    assert_eq!(*head.borrow(), 1);
    assert_eq!(cap.published(), 1);
}

#[tokio::test]
async fn two_readers_share_one_rendering() {
    let cap = Capture::new(1000, usize::MAX, 4096);
    cap.push(EngineId::new(1), &sent(1, b"once"));
    let first = cap.lock().json(1).unwrap();
    let (again, _) = cap.lock().history(Filter::default(), 0, 10);
    assert_eq!(first.as_str(), again[0].as_str());
    assert_eq!(cap.lock().renders(), 1);
}
