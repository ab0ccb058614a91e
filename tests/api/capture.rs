//! The capture: the ring's bounds, rendering once for every reader, `mode=live` summaries that
//! account for every event, and exact lag counts for `mode=all` viewers.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use socketlab::Config;
use socketlab::config::Limits;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};

use crate::helpers::*;

/// Sends `n` datagrams to a discard server and waits until all are recorded.
async fn datagrams(app: &TestApp, id: &str, target: &str, n: usize) {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..n {
        s.send_to(format!("d{i}").as_bytes(), target).await.unwrap();
        if i % 200 == 199 {
            // The kernel's socket buffer holds a few hundred small datagrams; pace them.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    app.wait_engine(id, "every datagram received", |v| {
        v["stats"]["messages_in"] == n as u64
    })
    .await;
}

async fn capture_state(app: &TestApp) -> Value {
    let (_, me) = app.get("/api/workspace").await;
    me["capture"].clone()
}

#[tokio::test]
async fn the_ring_is_bounded_by_count_and_by_bytes() {
    let config = Config {
        limits: Limits {
            history: 500,
            ..Limits::default()
        },
        ..Config::default()
    };
    let app = spawn_app_with(config).await;
    let e = app.engine(udp_spec("discard")).await;
    let id = e["id"].as_str().unwrap();
    datagrams(&app, id, e["local"].as_str().unwrap(), 2000).await;
    let c = capture_state(&app).await;
    let next = c["next_seq"].as_u64().unwrap();
    assert_eq!(c["events"], 500);
    assert_eq!(
        c["first_seq"].as_u64().unwrap(),
        next - 500,
        "the newest 500 kept"
    );
    let (_, h) = app.get("/api/events?since=0&limit=10000").await;
    let evs = h["events"].as_array().unwrap();
    assert_eq!(evs.len(), 500);
    assert_eq!(evs[499]["text"], "d1999");

    // By bytes: 64-byte datagrams in a 64 KiB budget.
    let config = Config {
        limits: Limits {
            history_bytes: 64 * 1024,
            ..Limits::default()
        },
        ..Config::default()
    };
    let app = spawn_app_with(config).await;
    let e = app.engine(udp_spec("discard")).await;
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..2000 {
        s.send_to(&[b'0' + (i % 10) as u8; 64], e["local"].as_str().unwrap())
            .await
            .unwrap();
        if i % 200 == 199 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    app.wait_engine(e["id"].as_str().unwrap(), "all received", |v| {
        v["stats"]["messages_in"] == 2000
    })
    .await;
    let c = capture_state(&app).await;
    let (kept, bytes) = (c["events"].as_u64().unwrap(), c["bytes"].as_u64().unwrap());
    assert!(bytes <= 64 * 1024, "{bytes}");
    assert!(
        kept >= 500,
        "at least 500 events of 64 bytes in 64 KiB: {kept}"
    );
    assert!(
        bytes / kept <= 128,
        "{} bytes per 64-byte event",
        bytes / kept
    );
}

#[tokio::test]
async fn two_viewers_and_the_history_share_one_rendering() {
    let app = spawn_app().await;
    let e = app.engine(udp_spec("discard")).await;
    let id = e["id"].as_str().unwrap();
    datagrams(&app, id, e["local"].as_str().unwrap(), 100).await;
    let before = capture_state(&app).await;
    assert_eq!(
        before["rendered"], 0,
        "nothing rendered until read: {before}"
    );
    let events = before["next_seq"].as_u64().unwrap() - 1;
    let mut a = app.ws("?since=0").await;
    let mut b = app.ws("?since=0").await;
    let mut frames: Vec<Vec<String>> = Vec::new();
    for ws in [&mut a, &mut b] {
        let mut out = Vec::new();
        while (out.len() as u64) < events {
            let msg = tokio::time::timeout(
                Duration::from_secs(5),
                futures_util::StreamExt::next(&mut ws.stream),
            )
            .await
            .unwrap()
            .unwrap()
            .unwrap();
            if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
                // The hello says where the stream starts; the events are what is compared.
                if !t.as_str().starts_with("{\"kind\":\"hello\"") {
                    out.push(t.as_str().to_string());
                }
            }
        }
        frames.push(out);
    }
    let r = app
        .http
        .get(format!("{}/api/events?since=0&limit=10000", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(frames[0], frames[1], "both viewers got the same bytes");
    let spliced = format!("{{\"events\":[{}],\"next\":{events}}}", frames[0].join(","));
    assert_eq!(r, spliced, "and so did the history, byte for byte");
    let after = capture_state(&app).await;
    assert_eq!(
        after["rendered"].as_u64(),
        Some(events),
        "each event rendered once: {after}"
    );
}

#[tokio::test]
async fn a_live_viewer_gets_the_replay_it_asked_for_whole_not_summarised() {
    let app = spawn_app().await;
    let e = app
        .engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo"}))
        .await;
    let id = e["id"].as_str().unwrap().to_string();
    // 300 round trips as fast as they go: 600 recv()/send() events in well under a second.
    let mut s = TcpStream::connect(local_of(&e)).await.unwrap();
    for round in 0..300 {
        s.write_all(format!("{round:04}").as_bytes()).await.unwrap();
        assert_eq!(read_until(&mut s, |b| b.len() >= 4).await.len(), 4);
    }
    let kept = app.events(&id).await;
    let last = kept.last().unwrap()["seq"].clone();
    // A page opened now steps through every call of it: no summary in the replay.
    let mut live = app
        .ws(&format!("?mode=live&rate=100&engine={id}&since=0"))
        .await;
    let got = live
        .until("the newest kept event", |ev| ev["seq"] == last)
        .await;
    assert!(got.iter().all(|ev| ev["kind"] != "summary"));
    let seqs = |v: &[Value]| v.iter().map(|ev| ev["seq"].clone()).collect::<Vec<_>>();
    assert_eq!(seqs(&got), seqs(&kept));
}

#[tokio::test]
async fn live_summaries_count_every_event_and_point_at_exactly_the_skipped_ones() {
    let app = spawn_app().await;
    let e = app
        .engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo"}))
        .await;
    let id = e["id"].as_str().unwrap().to_string();
    let mut live = app.ws(&format!("?mode=live&rate=100&engine={id}")).await;
    // Three connections, 600 small round trips each: 3,600 recv()/send() events, far more
    // than 100 a second.
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(TcpStream::connect(local_of(&e)).await.unwrap());
    }
    for round in 0..600 {
        for s in &mut conns {
            s.write_all(format!("{round:04}").as_bytes()).await.unwrap();
        }
        for s in &mut conns {
            assert_eq!(read_until(s, |b| b.len() >= 4).await.len(), 4);
        }
    }
    drop(conns);
    let closes = std::cell::Cell::new(0);
    let mut seen = live
        .until("the last connection's close", |ev| {
            if ev["kind"] == "closed" {
                closes.set(closes.get() + 1);
            }
            closes.get() == 3
        })
        .await;
    // Summaries may still be due for the last window.
    while let Some(ev) = live.next_within(Duration::from_millis(400)).await {
        seen.push(ev);
    }
    let summaries: Vec<&Value> = seen.iter().filter(|e| e["kind"] == "summary").collect();
    assert!(!summaries.is_empty(), "a flood is summarised");
    let single = seen
        .iter()
        .filter(|e| e["kind"] == "received" || e["kind"] == "sent")
        .count() as u64;
    let counted: u64 = summaries
        .iter()
        .flat_map(|s| s["counts"].as_object().unwrap().values())
        .map(|n| n.as_u64().unwrap())
        .sum();
    let all = app.events(&id).await;
    let data = all
        .iter()
        .filter(|e| e["kind"] == "received" || e["kind"] == "sent")
        .count() as u64;
    assert_eq!(data, 3600);
    assert_eq!(
        single + counted,
        data,
        "{single} sent as they are + {counted} counted"
    );
    // Every non-data event went out as it is.
    let lifecycle = |evs: &[Value]| {
        evs.iter()
            .filter(|e| e["kind"] == "accepted" || e["kind"] == "closed")
            .count()
    };
    assert_eq!(lifecycle(&seen), lifecycle(&all));
    // Each summary's range, fetched from the history, is exactly the events it counted.
    for s in &summaries {
        let (first, last) = (
            s["first_seq"].as_u64().unwrap(),
            s["last_seq"].as_u64().unwrap(),
        );
        let (_, h) = app
            .get(&format!(
                "/api/events?engine={id}&conn={}&since={}&until={last}&limit=10000",
                s["conn"].as_str().unwrap(),
                first - 1
            ))
            .await;
        let got = h["events"].as_array().unwrap();
        let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
        for ev in got {
            assert!(ev["seq"].as_u64().unwrap() >= first && ev["seq"].as_u64().unwrap() <= last);
            assert_eq!(ev["conn"], s["conn"]);
            *by_kind
                .entry(ev["kind"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        // Events of this connection the stream sent as they are may fall inside the range
        // too; what the summary counted is the rest.
        let sent_inside = seen
            .iter()
            .filter(|e| {
                e["conn"] == s["conn"] && e["seq"].as_u64().is_some_and(|q| q >= first && q <= last)
            })
            .count() as u64;
        let counted: u64 = s["counts"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert_eq!(got.len() as u64, counted + sent_inside, "summary {s}");
        for (kind, latest) in s["latest"].as_object().unwrap() {
            assert_eq!(latest["kind"], kind.as_str());
            assert!(
                latest["seq"].as_u64().unwrap() <= last && latest["seq"].as_u64().unwrap() >= first
            );
        }
        let bytes: u64 = s["bytes_in"].as_u64().unwrap() + s["bytes_out"].as_u64().unwrap();
        assert_eq!(bytes, 4 * counted, "each recv()/send() carried 4 bytes");
    }
}

#[tokio::test]
async fn a_lagging_viewer_of_one_engine_is_told_exactly_what_it_missed_among_others() {
    let config = Config {
        limits: Limits {
            viewer_buffer: 32,
            ..Limits::default()
        },
        ..Config::default()
    };
    let app = spawn_app_with(config).await;
    let a = app.engine(udp_spec("discard")).await;
    let b = app.engine(udp_spec("discard")).await;
    let a_id = a["id"].as_str().unwrap().to_string();
    let mut ws = app.ws(&format!("?engine={a_id}")).await;
    // Both engines busy at once, while the viewer reads nothing.
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..3000u32 {
        let to = if i % 3 == 0 { &b } else { &a };
        s.send_to(&i.to_le_bytes(), to["local"].as_str().unwrap())
            .await
            .unwrap();
        if i % 200 == 199 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    app.wait_engine(&a_id, "a's datagrams", |v| {
        v["stats"]["messages_in"] == 2000
    })
    .await;
    app.post(&format!("/api/engines/{a_id}/stop"), json!({}))
        .await;
    let seen = ws.until("a's stop", |e| e["kind"] == "stopped").await;
    let missed: u64 = seen
        .iter()
        .filter(|e| e["kind"] == "lagged")
        .map(|e| e["missed"].as_u64().unwrap())
        .sum();
    let shown = seen.iter().filter(|e| e["kind"] != "lagged").count() as u64;
    assert!(missed > 0, "it lagged");
    assert!(
        seen.iter()
            .all(|e| e["kind"] == "lagged" || e["engine"] == a_id.as_str())
    );
    // Everything of a's after the viewer came (all but its socket() and bind()) was shown or
    // counted.
    let all_a = app.events(&a_id).await.len() as u64;
    assert_eq!(shown + missed, all_a - 2, "shown {shown} + missed {missed}");
}

#[tokio::test]
async fn live_mode_and_rate_are_checked() {
    let app = spawn_app().await;
    for q in ["?mode=fast", "?mode=live&rate=0", "?mode=live&rate=5001"] {
        let (st, text) = raw_http(
            app.addr,
            &ws_request(&app.addr.to_string(), &format!("/ws{q}"), ""),
        )
        .await;
        assert_eq!(st, 400, "{q}: {text}");
        assert!(text.contains("invalid_spec"), "{text}");
    }
    let (st, v) = app.get("/api/events?conn=seven").await;
    assert!(assert_error(st, &v, 400, "invalid_spec").contains("c12"));
}
