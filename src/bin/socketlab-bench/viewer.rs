//! A WebSocket viewer that reads every event of one engine, counting them (and their
//! latency, when asked), on batched frames (`socketlab.batch.v1`) as the page reads them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::SystemTime;

use std::net::SocketAddr;

use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::servers::Lab;

/// A WebSocket viewer of one engine that reads everything.
pub(crate) struct Viewer {
    pub(crate) events: Arc<AtomicU64>,
    pub(crate) missed: Arc<AtomicU64>,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

impl Viewer {
    pub(crate) async fn attach(
        lab: &Lab,
        engine: &str,
        latencies: Option<Arc<std::sync::Mutex<Vec<u64>>>>,
    ) -> Viewer {
        Self::attach_as(lab.addr, None, engine, "all", latencies).await
    }

    /// A viewer of `engine` in `mode` (`all` or `live`) on the dashboard at `addr`, with a
    /// credential when given. A live viewer counts the events its summaries stand for too.
    pub(crate) async fn attach_as(
        addr: SocketAddr,
        bearer: Option<&str>,
        engine: &str,
        mode: &str,
        latencies: Option<Arc<std::sync::Mutex<Vec<u64>>>>,
    ) -> Viewer {
        let mut req = format!("ws://{addr}/ws?engine={engine}&mode={mode}")
            .into_client_request()
            .expect("a viewer URL");
        req.headers_mut().insert(
            "sec-websocket-protocol",
            "socketlab.batch.v1".parse().expect("a header"),
        );
        if let Some(b) = bearer {
            req.headers_mut().insert(
                "authorization",
                format!("Bearer {b}").parse().expect("a header"),
            );
        }
        // tungstenite zeroes its whole read buffer (128 KiB by default) on every poll: fifty
        // viewers doing that thousands of times a second was the bench's own process taking
        // the cores it shares with the server it measures.
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(16 * 1024);
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(req, Some(config), false)
            .await
            .expect("viewer connects");
        let events = Arc::new(AtomicU64::new(0));
        let missed = Arc::new(AtomicU64::new(0));
        let (e, m) = (events.clone(), missed.clone());
        let task = tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                let Message::Text(t) = msg else { continue };
                let t = t.as_str();
                let notices =
                    t.contains("\"kind\":\"lagged\"") || t.contains("\"kind\":\"summary\"");
                if !notices {
                    // The common case, cheaply: a frame of events, counted, and their times cut
                    // out rather than the frame parsed, so measuring costs the bench's own
                    // process little (it shares the machine's two cores with the server).
                    let now = SystemTime::now();
                    for ev in t.split("{\"seq\":").skip(1) {
                        if !ev.contains("\"kind\":\"received\"") {
                            continue;
                        }
                        e.fetch_add(1, Relaxed);
                        if let Some(lat) = &latencies
                            && let Some(at) =
                                time_of(ev).and_then(|s| humantime::parse_rfc3339(s).ok())
                            && let Ok(d) = now.duration_since(at)
                        {
                            lat.lock().unwrap().push(d.as_micros() as u64);
                        }
                    }
                    continue;
                }
                let objects = match serde_json::from_str(t) {
                    Ok(Value::Array(a)) => a,
                    Ok(v) => vec![v],
                    Err(_) => continue,
                };
                let now = SystemTime::now();
                for v in objects {
                    match v["kind"].as_str() {
                        Some("lagged") => {
                            m.fetch_add(v["missed"].as_u64().unwrap_or(0), Relaxed);
                        }
                        Some("summary") => {
                            e.fetch_add(v["counts"]["received"].as_u64().unwrap_or(0), Relaxed);
                        }
                        Some("received") => {
                            e.fetch_add(1, Relaxed);
                            if let Some(lat) = &latencies
                                && let Some(at) = v["time"]
                                    .as_str()
                                    .and_then(|s| humantime::parse_rfc3339(s).ok())
                                && let Ok(d) = now.duration_since(at)
                            {
                                lat.lock().unwrap().push(d.as_micros() as u64);
                            }
                        }
                        _ => {}
                    }
                }
            }
        });
        Viewer {
            events,
            missed,
            task,
        }
    }
}

/// The `time` member of an event's JSON.
fn time_of(event: &str) -> Option<&str> {
    let at = event.find("\"time\":\"")? + 8;
    let len = event[at..].find('"')?;
    Some(&event[at..at + len])
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
