//! The generated UDP servers, file servers and clients run for real, each doing the same
//! exchange as the engine it was generated from.

use std::time::Duration;

use serde_json::{Value, json};
use socketlab::code::Lang;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};

use crate::code_harness::*;
use crate::files::{bytes, sha, upload};
use crate::helpers::*;

/// Sends each datagram from one socket, collecting the replies to each.
async fn udp_transcript(to: &str, msgs: &[String]) -> (Vec<Vec<u8>>, String) {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = s.local_addr().unwrap().to_string();
    let mut out = Vec::new();
    for m in msgs {
        s.send_to(m.as_bytes(), to).await.unwrap();
        out.push(recv_quiet(&s, Duration::from_millis(1500)).await);
    }
    (out, me)
}

#[tokio::test]
async fn udp_servers_answer_datagrams_as_their_engines_do() {
    check_tools();
    let app = spawn_app().await;
    let rules =
        json!([{"match": "exact", "pattern": "ping", "reply": "pong #{{counter}} to {{peer}}"}]);
    let cases: Vec<(Value, &[&str], &[&str])> = vec![
        (udp_spec("echo"), &["hello\n"], &["hello"]),
        (udp_spec("uppercase"), &["hello\n"], &["mixed Case"]),
        (udp_spec("add"), &["50,40\n", "1,2\n3,4\n"], &["50,40"]),
        (
            json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "greet", "options": {"greeting": "Hi! It's \"$HOME\"\n"}}),
            &["hello\n"],
            &[],
        ),
        (udp_spec("daytime"), &["what time is it?\n"], &[]),
        (udp_spec("discard"), &["anyone?\n"], &[]),
        (
            json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "echo", "options": {"rules": rules}}),
            &["ping\n", "ping\n", "other\n"],
            &[],
        ),
    ];
    for (spec, lines, bare) in cases {
        for lang in RUN {
            let msgs = messages(lang, lines, bare);
            let (e, code, port) = server_pair(&app, spec.clone(), lang).await;
            let (want, me) = udp_transcript(&local_of(&e).to_string(), &msgs).await;
            let dir = temp_dir("code-run");
            let mut prog = run(lang, &code, &dir, b"", false).await;
            wait_bound(&mut prog, port, false).await;
            let (got, them) = udp_transcript(&format!("127.0.0.1:{port}"), &msgs).await;
            for (i, m) in msgs.iter().enumerate() {
                let w = masked(&want[i], &[(me.clone(), "PEER")]);
                let g = masked(
                    &got[i],
                    &[(them.clone(), "PEER"), ("client".into(), "PEER")],
                );
                assert_eq!(
                    g,
                    w,
                    "{} {}, datagram {m:?}:\n{}",
                    lang.name(),
                    spec["behavior"],
                    prog.output()
                );
            }
            if spec["behavior"] != "discard" {
                assert!(want.iter().all(|w| !w.is_empty()), "{spec}: {want:?}");
            }
        }
    }
}

#[tokio::test]
async fn file_servers_send_the_file_whole_and_receive_servers_keep_it() {
    check_tools();
    let app = spawn_app().await;
    let data = bytes(300 * 1024, 9);
    let (st, meta) = upload(&app.http, &app.base, "lecture notes.txt", data.clone()).await;
    assert_eq!(st, 201);
    let spec = json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "file", "options": {"file": meta["id"]}});
    for lang in RUN {
        let (e, code, port) = server_pair(&app, spec.clone(), lang).await;
        let mut s = TcpStream::connect(local_of(&e)).await.unwrap();
        assert_eq!(sha(&read_to_eof(&mut s).await), sha(&data));
        let dir = temp_dir("code-run");
        std::fs::write(dir.join("lecture notes.txt"), &data).unwrap();
        let mut prog = run(lang, &code, &dir, b"", false).await;
        wait_bound(&mut prog, port, true).await;
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let got = read_to_eof(&mut s).await;
        assert_eq!(
            sha(&got),
            sha(&data),
            "{}: {} bytes:\n{}",
            lang.name(),
            got.len(),
            prog.output()
        );
    }
    let spec = tcp_spec("receive");
    for lang in RUN {
        let (e, code, port) = server_pair(&app, spec.clone(), lang).await;
        let dir = temp_dir("code-run");
        let mut prog = run(lang, &code, &dir, b"", false).await;
        wait_bound(&mut prog, port, true).await;
        for addr in [local_of(&e).to_string(), format!("127.0.0.1:{port}")] {
            let mut s = TcpStream::connect(&addr).await.unwrap();
            s.write_all(&data).await.unwrap();
            s.shutdown().await.unwrap();
            let _ = read_to_eof(&mut s).await;
        }
        let evs = app
            .wait_event(e["id"].as_str().unwrap(), "the file kept", kind_is("file"))
            .await;
        let kept = evs.iter().find(|e| e["kind"] == "file").unwrap();
        assert_eq!(kept["sha256"], sha(&data));
        let path = dir.join("received-1.bin");
        for _ in 0..500 {
            if std::fs::metadata(&path).is_ok_and(|m| m.len() == data.len() as u64) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let saved = std::fs::read(&path).unwrap_or_default();
        assert_eq!(
            sha(&saved),
            sha(&data),
            "{}: {} bytes:\n{}",
            lang.name(),
            saved.len(),
            prog.output()
        );
    }
}

/// What a server engine received on connection `conn`, once nothing more comes for 300 ms.
async fn received_on(app: &TestApp, id: &str, conn: &str) -> Vec<u8> {
    let mut last = Vec::new();
    for _ in 0..50 {
        let data: Vec<u8> = app
            .events(id)
            .await
            .iter()
            .filter(|e| e["kind"] == "received" && e["conn"] == conn)
            .flat_map(|e| {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(e["data"].as_str().unwrap())
                    .unwrap()
            })
            .collect();
        if !data.is_empty() && data == last {
            return data;
        }
        last = data;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    last
}

/// The newest connection a server engine accepted.
async fn newest_conn(app: &TestApp, id: &str, after: usize) -> String {
    for _ in 0..500 {
        let accepted: Vec<String> = app
            .events(id)
            .await
            .iter()
            .filter(|e| e["kind"] == "accepted")
            .map(|e| e["conn"].as_str().unwrap().to_string())
            .collect();
        if accepted.len() > after {
            return accepted.last().unwrap().clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("engine {id} accepted no connection in 5 s");
}

#[tokio::test]
async fn tcp_clients_send_what_is_typed_and_react_as_their_engines_do() {
    check_tools();
    let app = spawn_app().await;
    let echo = app.engine(tcp_spec("echo")).await;
    let echo_id = echo["id"].as_str().unwrap();
    let server = app.engine(tcp_spec("manual")).await;
    let sid = server["id"].as_str().unwrap().to_string();
    let mut accepted = 0;
    for lang in RUN {
        // A manual client sends each line typed, and prints what comes back.
        let c = app
            .engine(json!({"kind": "tcp-client", "target": local_of(&echo).to_string()}))
            .await;
        let code = code_of(&app, c["id"].as_str().unwrap(), lang).await;
        app.delete(&format!("/api/engines/{}", c["id"].as_str().unwrap()))
            .await;
        let dir = temp_dir("code-run");
        let before = app
            .events(echo_id)
            .await
            .iter()
            .filter(|e| e["kind"] == "accepted")
            .count();
        let prog = run(lang, &code, &dir, b"hello\nworld\n", true).await;
        let conn = newest_conn(&app, echo_id, before).await;
        assert_eq!(
            received_on(&app, echo_id, &conn).await,
            b"hello\nworld\n",
            "{}",
            lang.name()
        );
        prog.line_with("world").await;
        // Reacting clients: the server says something, the client answers as its engine does.
        for (behavior, say) in [
            ("echo", "hello\n"),
            ("uppercase", "hello\n"),
            ("add", "50,40\n"),
            ("discard", "hello\n"),
        ] {
            let spec = json!({"kind": "tcp-client", "target": local_of(&server).to_string(), "behavior": behavior});
            let c = app.engine(spec).await;
            let cid = c["id"].as_str().unwrap().to_string();
            let conn = newest_conn(&app, &sid, accepted).await;
            accepted += 1;
            let code = code_of(&app, &cid, lang).await;
            app.post(
                &format!("/api/engines/{sid}/send"),
                json!({"conn": conn, "data": say}),
            )
            .await;
            let want = received_on(&app, &sid, &conn).await;
            app.delete(&format!("/api/engines/{cid}")).await;
            let prog = run(lang, &code, &dir, b"", false).await;
            let conn = newest_conn(&app, &sid, accepted).await;
            accepted += 1;
            let (st, v) = app
                .post(
                    &format!("/api/engines/{sid}/send"),
                    json!({"conn": conn, "data": say}),
                )
                .await;
            assert_eq!(st.as_u16(), 200, "{v}");
            let got = received_on(&app, &sid, &conn).await;
            assert_eq!(
                got,
                want,
                "{} {behavior} client:\n{}",
                lang.name(),
                prog.output()
            );
            if behavior != "discard" {
                assert!(!want.is_empty());
            }
        }
    }
}

#[tokio::test]
async fn a_saving_tcp_client_keeps_the_file_a_server_sends() {
    check_tools();
    let app = spawn_app().await;
    let data = bytes(200 * 1024, 4);
    let (_, meta) = upload(&app.http, &app.base, "notes.bin", data.clone()).await;
    let server = app
        .engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "file", "options": {"file": meta["id"]}}))
        .await;
    for lang in RUN {
        let c = app
            .engine(json!({"kind": "tcp-client", "target": local_of(&server).to_string(), "behavior": "discard", "options": {"save": true}}))
            .await;
        let id = c["id"].as_str().unwrap();
        let code = code_of(&app, id, lang).await;
        let evs = app.wait_event(id, "the file kept", kind_is("file")).await;
        assert_eq!(
            evs.iter().find(|e| e["kind"] == "file").unwrap()["sha256"],
            sha(&data)
        );
        let dir = temp_dir("code-run");
        let prog = run(lang, &code, &dir, b"", true).await;
        prog.line_with("saved received.bin").await;
        let saved = std::fs::read(dir.join("received.bin")).unwrap();
        assert_eq!(
            sha(&saved),
            sha(&data),
            "{}:\n{}",
            lang.name(),
            prog.output()
        );
    }
}

#[tokio::test]
async fn udp_clients_send_what_is_typed_and_react_as_their_engines_do() {
    check_tools();
    let app = spawn_app().await;
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let target = peer.local_addr().unwrap().to_string();
    let mut buf = vec![0u8; 65536];
    for lang in RUN {
        let c = app
            .engine(json!({"kind": "udp-client", "target": target}))
            .await;
        let code = code_of(&app, c["id"].as_str().unwrap(), lang).await;
        app.delete(&format!("/api/engines/{}", c["id"].as_str().unwrap()))
            .await;
        let dir = temp_dir("code-run");
        let prog = run(lang, &code, &dir, b"hello\n", true).await;
        let (n, from) = tokio::time::timeout(Duration::from_secs(5), peer.recv_from(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{}: no datagram:\n{}", lang.name(), prog.output()))
            .unwrap();
        assert_eq!(&buf[..n], b"hello\n");
        peer.send_to(b"HI THERE\n", from).await.unwrap();
        prog.line_with("HI THERE").await;
        for (behavior, say) in [
            ("echo", "hello\n"),
            ("uppercase", "hello\n"),
            ("add", "50,40\n"),
            ("discard", "hello\n"),
        ] {
            let c = app
                .engine(json!({"kind": "udp-client", "target": target, "behavior": behavior}))
                .await;
            let id = c["id"].as_str().unwrap().to_string();
            let code = code_of(&app, &id, lang).await;
            peer.send_to(say.as_bytes(), local_of(&c)).await.unwrap();
            let want = recv_quiet(&peer, Duration::from_millis(1500)).await;
            app.delete(&format!("/api/engines/{id}")).await;
            let prog = run(lang, &code, &dir, b"", false).await;
            // Where the program is: Bash's first datagram says it; the others print it.
            let port: u16 = if lang == Lang::Bash {
                let (_, from) =
                    tokio::time::timeout(Duration::from_secs(5), peer.recv_from(&mut buf))
                        .await
                        .unwrap()
                        .unwrap();
                from.port()
            } else {
                let line = prog.line_with("bound to").await;
                line.split(|c: char| !c.is_ascii_digit())
                    .rfind(|s| !s.is_empty())
                    .unwrap()
                    .parse()
                    .unwrap()
            };
            peer.send_to(say.as_bytes(), ("127.0.0.1", port))
                .await
                .unwrap();
            let got = recv_quiet(
                &peer,
                Duration::from_millis(if want.is_empty() { 500 } else { 5000 }),
            )
            .await;
            assert_eq!(
                got,
                want,
                "{} {behavior} client:\n{}",
                lang.name(),
                prog.output()
            );
            if behavior != "discard" {
                assert!(!want.is_empty());
            }
        }
    }
}
