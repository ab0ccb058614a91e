//! Tests of `record.rs`.

use super::*;

#[test]
fn a_datagram_record_round_trips_in_under_128_bytes() {
    let local: SocketAddr = "127.0.0.1:12000".parse().unwrap();
    let peer: SocketAddr = "127.0.0.1:50123".parse().unwrap();
    let data = [b'x'; 64];
    let d = Draft::new(EventKind::Received, Call::RecvFrom)
        .local(local)
        .peer(peer)
        .data(&data);
    let t = UNIX_EPOCH + std::time::Duration::from_micros(1_790_000_000_123_456);
    let rec = encode(EngineId::new(7), &d, 4096, t);
    assert!(rec.len() <= 120, "{} bytes", rec.len());
    let v = View::new(&rec);
    assert_eq!(View::len_of(&rec), rec.len());
    assert_eq!(
        (v.engine(), v.conn(), v.kind(), v.call()),
        (
            EngineId::new(7),
            None,
            EventKind::Received,
            Some(Call::RecvFrom)
        )
    );
    assert_eq!((v.local(), v.peer()), (Some(local), Some(peer)));
    assert_eq!((v.bytes(), v.preview()), (64, &data[..]));
    assert_eq!((v.message(), v.extra(), v.time()), (None, None, t));
}

#[test]
fn a_connections_record_leaves_its_addresses_to_the_connection_table() {
    let a: SocketAddr = "[::1]:5000".parse().unwrap();
    let data = vec![0xffu8; 10_000];
    let d = Draft::new(EventKind::Sent, Call::Send)
        .conn(ConnId::new(42).leg(Leg::Server))
        .local(a)
        .peer(a)
        .data(&data)
        .message("héllo")
        .extra(Extra::File {
            file: FileId::new(3),
            name: "notes.txt",
            bytes: 10_000,
            sha256: "ab12",
        });
    let mut rec = encode(EngineId::new(1), &d, 4096, SystemTime::now());
    set_engine_n(&mut rec, 9);
    let at = Stream {
        sent: 7,
        received: u32::MAX,
        fin_local: true,
    };
    set_stream(&mut rec, at);
    let v = View::new(&rec);
    assert_eq!(v.stream(), Some(at));
    let conn = ConnId::new(42).leg(Leg::Server);
    assert_eq!((v.conn(), v.local(), v.peer()), (Some(conn), None, None));
    assert_eq!(
        (v.leg(), v.conn_key()),
        (Some(Leg::Server), Some(conn.key()))
    );
    assert_eq!(
        (v.bytes(), v.preview().len(), v.engine_n()),
        (10_000, 4096, 9)
    );
    assert_eq!(
        (v.message(), v.extra()),
        (
            Some("héllo"),
            Some(Extra::File {
                file: FileId::new(3),
                name: "notes.txt",
                bytes: 10_000,
                sha256: "ab12",
            })
        )
    );
    let plain = encode(
        EngineId::new(1),
        &Draft::new(EventKind::Stopped, Call::Close).local(a),
        4096,
        SystemTime::now(),
    );
    let v = View::new(&plain);
    assert_eq!(
        (v.local(), v.has_data(), v.call()),
        (Some(a), false, Some(Call::Close))
    );
}

#[test]
fn a_long_message_is_cut_on_a_character_boundary() {
    let long = "é".repeat(40_000);
    let rec = encode(
        EngineId::new(1),
        &Draft::new(EventKind::Error, Call::Recv).message(&long),
        16,
        SystemTime::now(),
    );
    let m = View::new(&rec).message().unwrap();
    assert!(m.len() <= u16::MAX as usize && m.chars().all(|c| c == 'é'));
}
