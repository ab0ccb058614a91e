//! The generated servers run for real, each doing the same exchange as the engine it was
//! generated from: the same messages go to the engine and to the program, and what comes
//! back is compared (addresses and times masked).

use std::time::Duration;

use serde_json::{Value, json};
use socketlab::code::Lang;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::code_harness::*;
use crate::helpers::*;

/// Sends each message on one connection, reading what comes back after each.
async fn tcp_transcript(addr: &str, msgs: &[String]) -> (Vec<Vec<u8>>, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let me = s.local_addr().unwrap().to_string();
    let mut out = Vec::new();
    for m in msgs {
        s.write_all(m.as_bytes()).await.unwrap();
        out.push(read_quiet(&mut s, Duration::from_millis(1500)).await);
    }
    (out, me)
}

async fn same_tcp_replies(spec: Value, lines: &[&str], bare: &[&str]) {
    check_tools();
    let app = spawn_app().await;
    for lang in RUN {
        let msgs = messages(lang, lines, bare);
        let (e, code, port) = server_pair(&app, spec.clone(), lang).await;
        let (want, me) = tcp_transcript(&local_of(&e).to_string(), &msgs).await;
        let dir = temp_dir("code-run");
        let mut prog = run(lang, &code, &dir, b"", false).await;
        wait_bound(&mut prog, port, true).await;
        let (got, them) = tcp_transcript(&format!("127.0.0.1:{port}"), &msgs).await;
        for (i, m) in msgs.iter().enumerate() {
            let w = masked(&want[i], &[(me.clone(), "PEER")]);
            let g = masked(
                &got[i],
                &[(them.clone(), "PEER"), ("client".into(), "PEER")],
            );
            assert_eq!(
                g,
                w,
                "{} program, message {m:?}; it said:\n{}",
                lang.name(),
                prog.output()
            );
        }
        assert!(want.iter().any(|w| !w.is_empty()) || spec["behavior"] == "discard");
    }
}

#[tokio::test]
async fn tcp_servers_echo_uppercase_add_and_discard_as_their_engines_do() {
    same_tcp_replies(
        tcp_spec("echo"),
        &["hello world\n", "two\nlines\n"],
        &["hello"],
    )
    .await;
    same_tcp_replies(tcp_spec("uppercase"), &["hello world\n"], &["mixed Case"]).await;
    same_tcp_replies(
        tcp_spec("add"),
        &["50,40\n", "1,2\n3,4\n", " -7 , +012\n"],
        &["50,40", "-7, 12345678901234567890\n"],
    )
    .await;
    same_tcp_replies(tcp_spec("discard"), &["anyone there?\n"], &["hello"]).await;
}

#[tokio::test]
async fn tcp_servers_with_reply_rules_answer_as_their_engines_do() {
    let rules = json!([
        {"match": "exact", "pattern": "ping", "reply": "pong #{{counter}}"},
        {"match": "contains", "pattern": "time", "reply": "it is {{time}}"},
        {"match": "regex", "pattern": "^HELLO (\\w+)$", "reply": "hi {{match}}, you are {{peer}}"}
    ]);
    let spec = json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "uppercase", "options": {"rules": rules}});
    same_tcp_replies(
        spec,
        &[
            "ping\n",
            "ping\n",
            "what time is it\n",
            "HELLO bob\n",
            "other\n",
        ],
        &["ping"],
    )
    .await;
}

#[tokio::test]
async fn tcp_servers_that_greet_or_tell_the_time_then_close() {
    check_tools();
    let app = spawn_app().await;
    for behavior in ["greet", "daytime"] {
        let mut spec = json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": behavior});
        if behavior == "greet" {
            spec["options"] = json!({"greeting": "Welcome! It's \"$HOME\" [1]\n"});
        }
        for lang in RUN {
            let (e, code, port) = server_pair(&app, spec.clone(), lang).await;
            let mut s = TcpStream::connect(local_of(&e)).await.unwrap();
            let want = masked(&read_to_eof(&mut s).await, &[]);
            let dir = temp_dir("code-run");
            let mut prog = run(lang, &code, &dir, b"", false).await;
            wait_bound(&mut prog, port, true).await;
            let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            let got = masked(&read_to_eof(&mut s).await, &[]);
            assert!(!want.is_empty());
            assert_eq!(
                got,
                want,
                "{behavior} in {}:\n{}",
                lang.name(),
                prog.output()
            );
        }
    }
}

#[tokio::test]
async fn tcp_manual_servers_send_what_is_typed() {
    check_tools();
    let app = spawn_app().await;
    for lang in RUN {
        let (_, code, port) = server_pair(&app, tcp_spec("manual"), lang).await;
        let dir = temp_dir("code-run");
        let mut prog = run(lang, &code, &dir, b"pong\n", false).await;
        wait_bound(&mut prog, port, true).await;
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(b"ping\n").await.unwrap();
        let got = read_quiet(&mut s, Duration::from_secs(5)).await;
        assert_eq!(got, b"pong\n", "{}:\n{}", lang.name(), prog.output());
        assert!(prog.output().contains("ping"), "{}", prog.output());
    }
}

#[tokio::test]
async fn tcp_chat_rooms_pass_the_lectures_messages_on_as_their_engine_does() {
    check_tools();
    let app = spawn_app().await;
    let spec = json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "chat"});
    async fn room(addr: &str, bare: bool) -> Vec<String> {
        let mut members = Vec::new();
        let mut names = Vec::new();
        let mut heard = vec![Vec::new(); 3];
        for i in 0..3 {
            let s = TcpStream::connect(addr).await.unwrap();
            names.push((s.local_addr().unwrap().to_string(), ["M1", "M2", "M3"][i]));
            members.push(s);
            for (j, m) in members.iter_mut().enumerate() {
                heard[j].extend(read_quiet(m, Duration::from_millis(1500)).await);
            }
        }
        let first = if bare { "hello" } else { "hello\n" };
        // One at a time, so every room hears them in the same order.
        let pause = || tokio::time::sleep(Duration::from_millis(150));
        members[0].write_all(first.as_bytes()).await.unwrap();
        pause().await;
        members[1].write_all(b"hi all\n").await.unwrap();
        pause().await;
        drop(members.pop());
        for (j, m) in members.iter_mut().enumerate() {
            heard[j].extend(read_quiet(m, Duration::from_millis(1500)).await);
        }
        heard.iter().map(|h| masked(h, &names)).collect()
    }
    let dir = temp_dir("code-run");
    for lang in RUN {
        let (e, code, port) = server_pair(&app, spec.clone(), lang).await;
        let mut prog = run(lang, &code, &dir, b"", false).await;
        if lang == Lang::Bash {
            // nc holds one connection: the program says so and ends.
            let st = prog.child.wait().await.unwrap();
            assert_eq!(st.code(), Some(2));
            prog.line_with("use the Python or Tcl version").await;
            continue;
        }
        let want = room(&local_of(&e).to_string(), true).await;
        assert!(want[1].contains("M1: hello\n"), "{want:?}");
        wait_bound(&mut prog, port, true).await;
        let got = room(&format!("127.0.0.1:{port}"), true).await;
        assert_eq!(got, want, "{}:\n{}", lang.name(), prog.output());
    }
}
