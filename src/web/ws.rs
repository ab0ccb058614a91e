//! `GET /ws`: the live event stream. History after `since` first, then live events, one JSON
//! text frame each; a viewer that falls behind is told how many events it missed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio_util::sync::CancellationToken;

use super::bad_query;
use super::guard::Scope;
use crate::error::ApiError;
use crate::event::{EventBus, Record, format_time};

/// The largest frame a viewer may send us; viewers only listen, so this is generous.
const MAX_INCOMING: usize = 64 * 1024;
/// Events written before a flush, so a burst goes out in few syscalls.
const BATCH: usize = 2048;
/// Bytes of events written before a flush, so large previews do not pile up in memory.
const BATCH_BYTES: usize = 512 * 1024;
/// How long a busy viewer gathers events after the first before writing them. While it
/// sleeps it is not waiting on the channel, so publishing wakes nobody: one wake-up and one
/// write per millisecond instead of one per event keeps a viewer of a busy engine from
/// costing the engine half its CPU.
const GATHER: Duration = Duration::from_millis(4);
/// Events per 100 ms above which a viewer counts as busy and gathers; below it, each event
/// goes out at once, so a quiet engine's events arrive within microseconds.
const BUSY: u64 = 2_000;
/// How often a viewer is pinged; one that has answered nothing for three of these is gone
/// (a laptop closed mid-lecture) and its slot is freed.
const PING_EVERY: Duration = Duration::from_secs(20);

/// Query of `GET /ws`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsQuery {
    engine: Option<String>,
    since: Option<u64>,
}

/// Frees a viewer slot when the viewer goes.
struct ViewerSlot(Arc<AtomicUsize>);

impl Drop for ViewerSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `GET /ws?engine=&since=`
pub async fn upgrade(
    Scope(space): Scope,
    q: Result<Query<WsQuery>, QueryRejection>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    if let Some(e) = &q.engine {
        space.engine(e)?;
    }
    let max = space.config().limits.max_viewers;
    let viewers = space.viewers();
    if viewers.fetch_add(1, Ordering::Relaxed) >= max {
        viewers.fetch_sub(1, Ordering::Relaxed);
        return Err(ApiError::LimitReached(format!(
            "{max} viewers are watching already, the most allowed (--max-viewers); close another tab or viewer"
        )));
    }
    let slot = ViewerSlot(viewers.clone());
    // Subscribe now, before the handshake completes: nothing published from here on is lost.
    let (replay, rx) = space.bus().subscribe(q.since);
    let viewer = Viewer {
        bus: space.bus().clone(),
        engine: q.engine,
        rx,
        last_seen: q.since.unwrap_or(0),
        stall: space.config().limits.viewer_stall,
    };
    // Ends when the server has stopped its engines, or this workspace is removed.
    let shutdown = space.closing().clone();
    Ok(ws
        .max_message_size(MAX_INCOMING)
        .max_frame_size(MAX_INCOMING)
        .on_upgrade(move |socket| serve(socket, viewer, replay, shutdown, slot)))
}

struct Viewer {
    bus: Arc<EventBus>,
    engine: Option<String>,
    rx: broadcast::Receiver<Arc<Record>>,
    /// The newest seq taken off the channel, shown or filtered out.
    last_seen: u64,
    /// How long a write to this viewer may wait (`Limits::viewer_stall`).
    stall: Duration,
}

impl Viewer {
    fn wants(&self, r: &Record) -> bool {
        self.engine.as_deref().is_none_or(|e| *r.engine == *e)
    }

    /// The frames for one record taken off the channel: a `lagged` notice first when
    /// events this viewer watches were skipped before it.
    fn frames(&mut self, r: &Arc<Record>, lagged: bool, out: &mut Vec<Utf8Bytes>) {
        if lagged {
            let missed = self
                .bus
                .count_between(self.engine.as_deref(), self.last_seen, r.seq);
            if missed > 0 {
                out.push(lagged_frame(
                    missed,
                    r.seq - 1,
                    self.engine.as_deref(),
                    self.last_seen,
                ));
            }
        }
        self.last_seen = r.seq;
        if self.wants(r) {
            out.push(r.json.clone());
        }
    }
}

fn lagged_frame(missed: u64, seq: u64, engine: Option<&str>, after: u64) -> Utf8Bytes {
    let v = serde_json::json!({
        "kind": "lagged",
        "missed": missed,
        "seq": seq,
        "time": format_time(SystemTime::now()),
        "engine": engine,
        "message": format!(
            "this viewer fell behind and skipped {missed} events; GET /api/events?since={after} \
             returns those still in the history"
        ),
    });
    Utf8Bytes::from(v.to_string())
}

async fn serve(
    socket: WebSocket,
    mut viewer: Viewer,
    replay: Vec<Arc<Record>>,
    shutdown: CancellationToken,
    _slot: ViewerSlot,
) {
    let (mut sink, mut stream) = socket.split();
    let born = Instant::now();
    let heard = Arc::new(AtomicU64::new(0));
    let heard_by_recv = heard.clone();
    let since_born = move || born.elapsed().as_millis() as u64;
    let send = async move {
        for r in &replay {
            viewer.last_seen = r.seq;
            if viewer.wants(r) {
                sink.feed(Message::Text(r.json.clone())).await?;
            }
        }
        sink.flush().await?;
        let mut frames = Vec::new();
        // Survives batches: a lag is reported with the next event that arrives.
        let mut lagged = false;
        let (mut window, mut in_window, mut busy) = (Instant::now(), 0u64, false);
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        loop {
            let mut item = tokio::select! {
                biased;
                _ = ping.tick() => {
                    let silent = since_born().saturating_sub(heard.load(Ordering::Relaxed));
                    if silent > 3 * PING_EVERY.as_millis() as u64 {
                        return Ok(());
                    }
                    sink.send(Message::Ping(Default::default())).await?;
                    continue;
                }
                _ = shutdown.cancelled() => {
                    // The engines have stopped: pass on what is still queued, then say goodbye.
                    while let Ok(r) = viewer.rx.try_recv() {
                        if viewer.wants(&r) {
                            sink.feed(Message::Text(r.json.clone())).await?;
                        }
                    }
                    let _ = sink.send(Message::Close(None)).await;
                    return Ok(());
                }
                r = viewer.rx.recv() => r,
            };
            let mut taken = 0;
            let mut bytes = 0;
            let mut gathered = !busy;
            loop {
                match item {
                    Ok(r) => {
                        viewer.frames(&r, lagged, &mut frames);
                        lagged = false;
                        taken += 1;
                        bytes += r.json.len();
                    }
                    Err(RecvError::Lagged(_)) => lagged = true,
                    Err(RecvError::Closed) => return Ok(()),
                }
                if taken >= BATCH || bytes >= BATCH_BYTES {
                    break;
                }
                let next = loop {
                    match viewer.rx.try_recv() {
                        Ok(r) => break Some(Ok(r)),
                        Err(TryRecvError::Lagged(n)) => break Some(Err(RecvError::Lagged(n))),
                        Err(TryRecvError::Closed) => break Some(Err(RecvError::Closed)),
                        Err(TryRecvError::Empty) if !gathered => {
                            gathered = true;
                            tokio::time::sleep(GATHER).await;
                        }
                        Err(TryRecvError::Empty) => break None,
                    }
                };
                match next {
                    Some(i) => item = i,
                    None => break,
                }
            }
            let write = async {
                for f in frames.drain(..) {
                    sink.feed(Message::Text(f)).await?;
                }
                sink.flush().await
            };
            // A viewer that takes no bytes for this long is gone or hostile (its pings could
            // not go out either): close it, freeing its slot and buffers.
            match tokio::time::timeout(viewer.stall, write).await {
                Ok(written) => written?,
                Err(_) => return Ok(()),
            }
            in_window += taken as u64;
            if window.elapsed() >= Duration::from_millis(100) {
                busy = in_window > BUSY;
                (window, in_window) = (Instant::now(), 0);
            }
        }
    };
    let recv = async move {
        // Viewers only listen; we read to answer pings and notice close or junk frames.
        while let Some(msg) = stream.next().await {
            heard_by_recv.store(since_born(), Ordering::Relaxed);
            match msg {
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    tokio::select! {
        r = send => {
            let _: Result<(), axum::Error> = r;
        }
        _ = recv => {}
    }
}
