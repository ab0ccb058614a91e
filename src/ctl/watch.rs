//! `socketlab ctl watch`: the event stream printed like the page's log, one line per event,
//! coloured on a terminal; it follows the server across a restart (its `hello` says so).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::http::{Failure, Remote};

/// The arrows the page's log shows per kind.
fn arrow(kind: &str) -> &'static str {
    match kind {
        "received" => "←",
        "sent" => "→",
        "accepted" => "⇠",
        "connected" => "⇢",
        "closed" | "dropped" => "✕",
        "refused" => "⊘",
        "error" => "!",
        "lagged" => "⚠",
        "listening" | "bound" => "●",
        "stopped" => "■",
        "shutdown" => "⇥",
        "summary" => "Σ",
        "file" => "▣",
        "created" => "○",
        "step" => "✓",
        "eof" => "⇤",
        _ => "·",
    }
}

/// The ANSI colour of a kind, as the page colours it.
fn colour(kind: &str) -> &'static str {
    match kind {
        "received" => "\x1b[34m",
        "sent" => "\x1b[35m",
        "accepted" | "connected" | "listening" | "bound" | "created" => "\x1b[32m",
        "closed" | "stopped" | "eof" => "\x1b[31m",
        "error" | "refused" => "\x1b[1;31m",
        "lagged" => "\x1b[33m",
        "step" => "\x1b[1;32m",
        _ => "",
    }
}

/// One event as a log line: time, engine, arrow, call, connection, peer, bytes, data or note.
pub fn line(ev: &Value, colours: bool) -> String {
    let kind = ev["kind"].as_str().unwrap_or("?");
    let time = ev["time"]
        .as_str()
        .map_or("", |t| t.get(11..23).unwrap_or(t));
    let s = |k: &str| ev[k].as_str().unwrap_or("").to_string();
    let call = ev["call"].as_str().unwrap_or(kind);
    let what = match kind {
        "step" => format!(
            "lab {}: step {} done ({})",
            s("lab"),
            ev["step"].as_u64().unwrap_or(0) + 1,
            if ev["how"] == "self" {
                "as the student said"
            } else {
                "socketlab saw it"
            }
        ),
        "summary" => format!("{} events summarised", ev["count"].as_u64().unwrap_or(0)),
        "lagged" => format!("{} events skipped", ev["missed"].as_u64().unwrap_or(0)),
        _ => match ev["text"].as_str() {
            // Bytes from the network are shown escaped: a peer cannot move the cursor.
            Some(t) => format!("{:?}", t),
            None => s("message"),
        },
    };
    let bytes = ev["bytes"]
        .as_u64()
        .map_or(String::new(), |b| format!("{b} B"));
    let text = format!(
        "{time} {:<4} {} {:<10} {:<4} {:<21} {:>7} {what}",
        s("engine"),
        arrow(kind),
        call,
        s("conn"),
        // A socket without a peer (a bind(), a listen()) shows its own address there.
        ev["peer"].as_str().or(ev["local"].as_str()).unwrap_or(""),
        bytes
    );
    if colours && !colour(kind).is_empty() {
        format!("{}{text}\x1b[0m", colour(kind))
    } else {
        text
    }
}

/// Prints the stream (of one engine's events, with `engine`) until interrupted, following the
/// server across restarts; returns only on an error that retrying cannot mend.
pub async fn watch(remote: &Remote, engine: Option<&str>) -> Result<(), Failure> {
    let colours = std::io::stdout().is_terminal();
    let (mut since, mut epoch): (Option<u64>, Option<String>) = (None, None);
    let mut out = std::io::stdout();
    let mut waited = false;
    loop {
        let mut url = format!("ws://{}{}/ws?mode=all", remote.authority, remote.prefix);
        if let Some(e) = engine {
            url.push_str(&format!("&engine={e}"));
        }
        if let (Some(s), Some(ep)) = (since, &epoch) {
            url.push_str(&format!("&since={s}&epoch={ep}"));
        }
        let mut req = url
            .into_client_request()
            .map_err(|e| format!("the stream's URL: {e}"))?;
        // Batched frames: one frame (and one parse) for a burst, read the same way.
        req.headers_mut().insert(
            "sec-websocket-protocol",
            tokio_tungstenite::tungstenite::http::HeaderValue::from_static("socketlab.batch.v1"),
        );
        if let Some(t) = &remote.token {
            let v = format!("Bearer {t}")
                .parse()
                .map_err(|_| "the token is not a valid header value".to_string())?;
            req.headers_mut().insert("authorization", v);
        }
        // A 16 KiB read buffer: tungstenite zeroes all of it on every poll (128 KiB by default).
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(16 * 1024);
        let connect = tokio_tungstenite::connect_async_with_config(req, Some(config), false);
        let mut stream = match connect.await {
            Ok((s, _)) => s,
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                let body = res.body().as_deref().unwrap_or_default();
                return Err(super::http::api_message(res.status().as_u16(), body));
            }
            Err(e) if since.is_none() && !waited => {
                return Err(format!(
                    "cannot reach socketlab at {}: {e}; is it running?",
                    remote.authority
                ));
            }
            Err(_) => {
                // The server is away (restarting): try again shortly.
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        waited = true;
        while let Some(msg) = stream.next().await {
            let Ok(Message::Text(t)) = msg else {
                continue;
            };
            let Ok(frame) = serde_json::from_str::<Value>(t.as_str()) else {
                continue;
            };
            let objects = match frame {
                Value::Array(a) => a,
                one => vec![one],
            };
            for ev in objects {
                if ev["kind"] == "hello" {
                    if ev["restarted"] == true {
                        let _ =
                            writeln!(out, "--- socketlab restarted: what follows is its new run");
                    }
                    epoch = ev["epoch"].as_str().map(str::to_string);
                    if since.is_none() || ev["restarted"] == true {
                        since = ev["next_seq"].as_u64().map(|n| n.saturating_sub(1));
                    }
                    continue;
                }
                if let Some(seq) = ev["seq"].as_u64() {
                    since = Some(seq);
                }
                let _ = writeln!(out, "{}", line(&ev, colours));
            }
            let _ = out.flush();
        }
        let _ = writeln!(
            out,
            "--- the stream ended; waiting for socketlab to come back"
        );
        let _ = out.flush();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
