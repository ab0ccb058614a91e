//! The chat room: broadcast to the others with the sender's ip:port, joins and leaves
//! announced, and the 11th client refused.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn line(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    while !out.ends_with(b"\n") {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut byte)).await {
            Ok(Ok(1)) => out.push(byte[0]),
            other => panic!("no full line (got {:?}): {other:?}", text(&out)),
        }
    }
    text(&out)
}

async fn nothing_more(s: &mut TcpStream) {
    let mut buf = [0u8; 256];
    match tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await {
        Err(_) => {}
        Ok(r) => panic!(
            "expected silence, got {r:?} {:?}",
            r.as_ref().map(|n| text(&buf[..*n]))
        ),
    }
}

#[tokio::test]
async fn chat_with_three_clients() {
    let app = spawn_app().await;
    let e = app.engine(tcp_spec("chat")).await;
    assert_eq!(e["options"]["max_clients"], 10);
    let addr = local_of(&e);
    let mut a = TcpStream::connect(addr).await.unwrap();
    let a_name = a.local_addr().unwrap().to_string();
    assert_eq!(
        line(&mut a).await,
        format!("*** welcome {a_name}; 1 online\n")
    );
    let mut b = TcpStream::connect(addr).await.unwrap();
    let b_name = b.local_addr().unwrap().to_string();
    assert_eq!(
        line(&mut b).await,
        format!("*** welcome {b_name}; 2 online\n")
    );
    assert_eq!(
        line(&mut a).await,
        format!("*** {b_name} joined (2 online)\n")
    );
    let mut c = TcpStream::connect(addr).await.unwrap();
    let c_name = c.local_addr().unwrap().to_string();
    assert_eq!(
        line(&mut c).await,
        format!("*** welcome {c_name}; 3 online\n")
    );
    assert_eq!(
        line(&mut a).await,
        format!("*** {c_name} joined (3 online)\n")
    );
    assert_eq!(
        line(&mut b).await,
        format!("*** {c_name} joined (3 online)\n")
    );

    // A message is what one recv() returned, as for the lecture's servers (and add): two
    // writes a moment apart are two messages, each passed on as a line.
    a.write_all(b"hello ").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    a.write_all(b"room\n").await.unwrap();
    for m in [&mut b, &mut c] {
        assert_eq!(line(m).await, format!("{a_name}: hello \n"));
        assert_eq!(line(m).await, format!("{a_name}: room\n"));
    }
    nothing_more(&mut a).await;

    drop(b);
    assert_eq!(
        line(&mut a).await,
        format!("*** {b_name} left (2 online)\n")
    );
    assert_eq!(
        line(&mut c).await,
        format!("*** {b_name} left (2 online)\n")
    );
    c.write_all(b"bye\n").await.unwrap();
    assert_eq!(line(&mut a).await, format!("{c_name}: bye\n"));
    nothing_more(&mut c).await;

    // The log shows the server's sends to each member.
    let id = e["id"].as_str().unwrap();
    let evs = app
        .wait_event(id, "the bye relayed", |e| {
            e["kind"] == "sent" && e["text"] == format!("{c_name}: bye\n")
        })
        .await;
    let relayed = evs
        .iter()
        .find(|e| e["kind"] == "sent" && e["text"] == format!("{c_name}: bye\n"))
        .unwrap();
    assert_eq!(relayed["peer"], a_name);
}

#[tokio::test]
async fn the_eleventh_client_is_refused() {
    let app = spawn_app().await;
    let e = app.engine(tcp_spec("chat")).await;
    let id = e["id"].as_str().unwrap();
    let addr = local_of(&e);
    let mut members = Vec::new();
    for i in 1..=10 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        assert!(line(&mut s).await.contains(&format!("{i} online")));
        members.push(s);
    }
    let mut eleventh = TcpStream::connect(addr).await.unwrap();
    let eleventh_name = eleventh.local_addr().unwrap().to_string();
    assert_eq!(
        read_to_eof(&mut eleventh).await,
        b"",
        "the 11th is closed without a word"
    );
    let evs = app.wait_event(id, "refused", kind_is("refused")).await;
    let refused = evs.iter().find(|e| e["kind"] == "refused").unwrap();
    assert_eq!(refused["peer"], eleventh_name);
    assert_eq!(refused["call"], "accept()");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("max_clients 10"),
        "{refused}"
    );
    let v = app.engine_view(id).await;
    assert_eq!(v["stats"]["connections_open"], 10);
    assert_eq!(v["connections"].as_array().unwrap().len(), 10);

    // When one leaves, a newcomer gets in.
    drop(members.pop());
    app.wait_engine(id, "9 open", |v| v["stats"]["connections_open"] == 9)
        .await;
    let mut late = TcpStream::connect(addr).await.unwrap();
    assert!(line(&mut late).await.starts_with("*** welcome"));
}

#[tokio::test]
async fn the_lectures_chat_client_without_newlines_reaches_the_other_two() {
    let app = spawn_app().await;
    let e = app.engine(tcp_spec("chat")).await;
    let addr = local_of(&e);
    let mut members = Vec::new();
    for i in 0..3 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        line(&mut s).await; // the welcome
        for m in members.iter_mut() {
            line(m).await; // the others hear of the newcomer
        }
        members.push(s);
        assert_eq!(members.len(), i + 1);
    }
    let names: Vec<String> = members
        .iter()
        .map(|s| s.local_addr().unwrap().to_string())
        .collect();
    // As the lecture's client does it: s.sendall("hello"), no newline.
    members[0].write_all(b"hello").await.unwrap();
    for m in &mut members[1..] {
        assert_eq!(line(m).await, format!("{}: hello\n", names[0]));
    }
    nothing_more(&mut members[0]).await;
    // And as nc does it: a line at a time, several in one segment.
    members[2].write_all(b"one\ntwo\n").await.unwrap();
    for m in &mut members[..2] {
        assert_eq!(line(m).await, format!("{}: one\n", names[2]));
        assert_eq!(line(m).await, format!("{}: two\n", names[2]));
    }
}
