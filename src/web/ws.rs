//! `GET /ws`: the live event stream. History after `since` first, then live events, one JSON
//! text frame each (`mode=all`, the default), or, with `mode=live` (what the page uses),
//! events while at most `rate` a second and summaries past that. A viewer reads the
//! workspace's capture at its own pace; one that falls behind is told exactly how many events
//! it missed, and never slows an engine.
//!
//! The first frame is a `hello` with the capture's `epoch` (its numbering's run) and range. A
//! `since` from another epoch, or past the newest event (the server restarted and numbers
//! from 1 again), replays from the oldest kept event after a `hello` with `"restarted": true`,
//! so a page that reconnects across a restart clears what it held instead of waiting for
//! numbers it has seen.
//!
//! A client offering the subprotocol `socketlab.batch.v1` gets each text frame as a JSON array
//! of what would have been frames, what one pass over the capture found (at most 64 KiB a
//! frame): one frame and one write for a burst instead of one per event.
//!
//! Closing follows RFC 6455: a client's Close is echoed; a frame the client got wrong is
//! answered with 1002 (protocol), 1007 (invalid UTF-8) or 1009 (over 64 KiB); socketlab ends a
//! stream with 1008 `revoked` when its credential is (a replaced watch link, a signed-out
//! session, a removed workspace), 1008 `lagged` when the viewer took nothing for
//! `--viewer-stall`, and 1001 at shutdown, then waits briefly for the client's echo.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;

use super::bad_query;
use super::caller::Caller;
use super::viewer::{Mode, Viewer};
use crate::capture::Filter;
use crate::capture::live::{DEFAULT_RATE, MAX_RATE};
use crate::error::ApiError;
use crate::workspace::{Role, Workspace};

/// The subprotocol of batched frames: each text frame a JSON array of what would have been
/// frames, at most `GATHER_BYTES` a frame.
pub const BATCH_PROTOCOL: &str = "socketlab.batch.v1";
/// The largest frame a viewer may send us; viewers only listen, so this is generous.
const MAX_INCOMING: usize = 64 * 1024;
/// The most bytes of frames waiting to go to one viewer before it is cut off.
const MAX_UNSENT: usize = 4 << 20;
/// How much of a viewer's bytes one read asks for. tungstenite zeroes this much of its read
/// buffer on every poll of the stream (128 KiB by default, a memset each time the task
/// wakes, which fifty busy viewers pay thousands of times a second); a viewer only sends
/// pings, pongs and a Close, and a larger frame still grows the buffer as it arrives.
const READ_CHUNK: usize = 4 * 1024;
/// The most pings a viewer may send in a second (a page sends none).
const MAX_PINGS_PER_SEC: u32 = 100;
/// How often a viewer is pinged; one that has answered nothing for three of these is gone
/// (a laptop closed mid-lecture) and its slot is freed.
const PING_EVERY: Duration = Duration::from_secs(20);

/// Query of `GET /ws`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsQuery {
    engine: Option<String>,
    since: Option<u64>,
    /// The epoch `since` belongs to.
    epoch: Option<String>,
    mode: Option<String>,
    rate: Option<u32>,
}

/// Frees a viewer slot when the viewer goes.
struct ViewerSlot(Arc<AtomicUsize>);

impl Drop for ViewerSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `GET /ws?engine=&since=&mode=&rate=`
pub async fn upgrade(
    caller: Caller,
    q: Result<Query<WsQuery>, QueryRejection>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let space = caller.ws.clone();
    let Query(q) = q.map_err(bad_query)?;
    let mode = match q.mode.as_deref() {
        None | Some("all") => Mode::All,
        Some("live") => Mode::Live,
        Some(other) => {
            return Err(ApiError::invalid_spec(format!(
                "mode: \"{}\" is not a stream mode; use all (every event) or live (events, and summaries when there are too many to read)",
                other.chars().take(20).collect::<String>()
            )));
        }
    };
    let rate = q.rate.unwrap_or(DEFAULT_RATE);
    if !(1..=MAX_RATE).contains(&rate) {
        return Err(ApiError::invalid_spec(format!(
            "rate: {rate} is out of range; give 1 to {MAX_RATE} events a second (default {DEFAULT_RATE})"
        )));
    }
    let filter = Filter {
        engine: match &q.engine {
            Some(e) => Some(space.engine(super::params::named(e)?)?.id),
            None => None,
        },
        ..Filter::default()
    };
    // Watchers have places of their own: a room full of them never keeps the owner out.
    let limits = &space.config().limits;
    let (viewers, max, flag) = if caller.role == Role::Watcher {
        (space.watchers(), limits.max_watchers, "--max-watchers")
    } else {
        (space.viewers(), limits.max_viewers, "--max-viewers")
    };
    if viewers.fetch_add(1, Ordering::Relaxed) >= max {
        viewers.fetch_sub(1, Ordering::Relaxed);
        let who = if caller.role == Role::Watcher {
            "watch-link viewers"
        } else {
            "viewers"
        };
        return Err(ApiError::limit_reached(format!(
            "{max} {who} are watching already, the most allowed ({flag}); close another tab or viewer"
        )));
    }
    let slot = ViewerSlot(viewers.clone());
    // The place in the ring is taken now, before the handshake completes: nothing recorded
    // from here on is missed.
    let (viewer, frames) = {
        let ring = space.capture().lock();
        let epoch = space.capture().epoch();
        let (first, next) = (ring.first_seq(), ring.next_seq());
        let restarted = q.since.is_some()
            && (q.epoch.as_deref().is_some_and(|e| e != epoch)
                || q.since.is_some_and(|s| s >= next));
        let since = if restarted { Some(0) } else { q.since };
        let (viewer, notice) = Viewer::new(
            &ring,
            filter,
            q.engine,
            since,
            mode,
            rate,
            limits.viewer_buffer,
        );
        let hello = crate::capture::render::hello(
            crate::capture::render::Hello {
                epoch,
                first_seq: first,
                next_seq: next,
                after: viewer.started_after(),
                engine: viewer.engine(),
                restarted,
            },
            SystemTime::now(),
        );
        let frames: Vec<Utf8Bytes> = std::iter::once(hello).chain(notice).collect();
        (viewer, frames)
    };
    let stall = limits.viewer_stall;
    let revoked = caller.revoked.clone();
    let batched = ws
        .requested_protocols()
        .any(|p| p.as_bytes() == BATCH_PROTOCOL.as_bytes());
    let ws = if batched {
        ws.protocols([BATCH_PROTOCOL])
    } else {
        ws
    };
    Ok(ws
        .max_message_size(MAX_INCOMING)
        .max_frame_size(MAX_INCOMING)
        .max_write_buffer_size(MAX_UNSENT)
        .read_buffer_size(READ_CHUNK)
        .on_upgrade(move |socket| {
            serve(socket, space, viewer, frames, stall, slot, revoked, batched)
        }))
}

/// How a stream ends, and the Close frame that says so (RFC 6455 §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The peer sent its Close: tungstenite has queued the echo; flush it and go.
    PeerClosed,
    /// We close with this code and reason, then wait briefly for the peer's echo.
    Close(u16, &'static str),
    /// Like `Close`, but the peer's bytes cannot be read on (a frame over the limit whose
    /// payload is still unread): send the Close and go without reading.
    CloseNow(u16, &'static str),
    /// The connection is gone (EOF, a write error): nothing can be said.
    Gone,
}

/// How long a Close frame may take to go out, and how long the peer's echo is waited for.
const CLOSE_WRITE: Duration = Duration::from_secs(1);
const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// The largest batched frame. A batch is what one pass over the capture finds: the collector
/// hands events over a batch per millisecond at most, so a frame waits for nothing more
/// (API.md allows 5 ms; waiting added its milliseconds to every event's latency).
const GATHER_BYTES: usize = 64 * 1024;

/// The close code for a frame the peer got wrong, from tungstenite's error.
fn close_for(err: &axum::Error) -> End {
    use tokio_tungstenite::tungstenite::Error as WsError;
    let inner = std::error::Error::source(err)
        .and_then(|e| e.downcast_ref::<WsError>())
        .or_else(|| {
            let e: &(dyn std::error::Error + 'static) = err;
            e.downcast_ref::<WsError>()
        });
    match inner {
        Some(WsError::Capacity(_)) => {
            End::CloseNow(1009, "frames from a viewer are at most 64 KiB")
        }
        Some(WsError::Utf8(_)) => {
            End::Close(1007, "invalid UTF-8 in a text frame or a close reason")
        }
        Some(WsError::WriteBufferFull(_)) => End::CloseNow(1008, "lagged"),
        Some(WsError::Protocol(
            tokio_tungstenite::tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        )) => End::Gone,
        Some(WsError::Io(_)) | Some(WsError::ConnectionClosed) | Some(WsError::AlreadyClosed) => {
            End::Gone
        }
        _ => End::Close(1002, "protocol error"),
    }
}

/// One or more `socketlab.batch.v1` frames for `frames`: JSON arrays of at most
/// `GATHER_BYTES` (one object larger than that goes alone).
fn batch_frames(frames: &mut Vec<Utf8Bytes>) -> Vec<Utf8Bytes> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for f in frames.drain(..) {
        if !cur.is_empty() && cur.len() + f.as_str().len() + 2 > GATHER_BYTES {
            cur.push(']');
            out.push(Utf8Bytes::from(std::mem::take(&mut cur)));
        }
        cur.push(if cur.is_empty() { '[' } else { ',' });
        cur.push_str(f.as_str());
    }
    if !cur.is_empty() {
        cur.push(']');
        out.push(Utf8Bytes::from(cur));
    }
    out
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    socket: WebSocket,
    space: Arc<Workspace>,
    mut viewer: Viewer,
    first_frames: Vec<Utf8Bytes>,
    stall: Duration,
    _slot: ViewerSlot,
    revoked: tokio_util::sync::CancellationToken,
    batched: bool,
) {
    let (mut sink, mut stream) = socket.split();
    let born = Instant::now();
    let heard = Arc::new(AtomicU64::new(0));
    let heard_by_recv = heard.clone();
    let since_born = move || born.elapsed().as_millis() as u64;
    let shutdown = space.closing().clone();
    let mut head = space.capture().subscribe();
    let sink_ref = &mut sink;
    let send = async move {
        let sink = sink_ref;
        let mut frames: Vec<Utf8Bytes> = first_frames;
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        loop {
            // Checked on every pass too, so a busy stream ends as soon as an idle one.
            if revoked.is_cancelled() {
                return End::Close(1008, "revoked");
            }
            let more = {
                let mut ring = space.capture().lock();
                viewer.pass(&mut ring, &mut frames)
            };
            if !frames.is_empty() {
                let out = if batched {
                    batch_frames(&mut frames)
                } else {
                    std::mem::take(&mut frames)
                };
                let write = async {
                    for f in out {
                        sink.feed(Message::Text(f)).await?;
                    }
                    sink.flush().await
                };
                // A viewer that takes no bytes for this long is gone or hostile (its pings
                // could not go out either): close it, freeing its slot and buffers.
                match tokio::time::timeout(stall, write).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return End::Gone,
                    Err(_) => return End::CloseNow(1008, "lagged"),
                }
            }
            if more {
                // A long backlog is read a batch at a time; let the engines run between.
                tokio::task::yield_now().await;
                continue;
            }
            let due = viewer.due().map(tokio::time::Instant::from_std);
            let saturated = viewer.saturated();
            tokio::select! {
                biased;
                _ = revoked.cancelled() => return End::Close(1008, "revoked"),
                _ = ping.tick() => {
                    let silent = since_born().saturating_sub(heard.load(Ordering::Relaxed));
                    if silent > 3 * PING_EVERY.as_millis() as u64 {
                        return End::CloseNow(1001, "no answer to pings");
                    }
                    if sink.send(Message::Ping(Default::default())).await.is_err() {
                        return End::Gone;
                    }
                }
                _ = shutdown.cancelled() => {
                    // Removed: the credential is gone with it.
                    if space.is_removed() {
                        return End::Close(1008, "revoked");
                    }
                    // Shutting down: the engines have stopped; pass on what is left, then
                    // say goodbye (1001, going away).
                    {
                        let mut ring = space.capture().lock();
                        while viewer.pass(&mut ring, &mut frames) {}
                    }
                    let out = if batched {
                        batch_frames(&mut frames)
                    } else {
                        std::mem::take(&mut frames)
                    };
                    for f in out {
                        if sink.feed(Message::Text(f)).await.is_err() {
                            return End::Gone;
                        }
                    }
                    return End::Close(1001, "socketlab is shutting down");
                }
                changed = head.changed(), if !saturated => {
                    if changed.is_err() {
                        return End::Gone;
                    }
                }
                _ = async {
                    match due {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => {}
            }
        }
    };
    let stream_ref = &mut stream;
    let recv = async move {
        // Viewers only listen; we read to answer pings and notice close or junk frames.
        let (mut window, mut pings) = (Instant::now(), 0u32);
        while let Some(msg) = stream_ref.next().await {
            heard_by_recv.store(since_born(), Ordering::Relaxed);
            match msg {
                Ok(Message::Close(_)) => return End::PeerClosed,
                Err(e) => return close_for(&e),
                Ok(Message::Ping(_)) => {
                    // Each ping queues a pong whether or not the client reads: a client that
                    // pings and never reads would grow that queue without end.
                    if window.elapsed() >= Duration::from_secs(1) {
                        (window, pings) = (Instant::now(), 0);
                    }
                    pings += 1;
                    if pings > MAX_PINGS_PER_SEC {
                        return End::CloseNow(1008, "too many pings");
                    }
                }
                Ok(_) => {}
            }
        }
        End::Gone
    };
    let end = tokio::select! {
        end = send => end,
        end = recv => end,
    };
    let (code, reason) = match end {
        End::Gone => return,
        End::PeerClosed => {
            // The echo tungstenite queued goes out with a flush; then the server closes the
            // TCP connection first, as §7.1.1 asks.
            let _ = tokio::time::timeout(CLOSE_WRITE, sink.flush()).await;
            return;
        }
        End::Close(code, reason) | End::CloseNow(code, reason) => (code, reason),
    };
    let frame = Message::Close(Some(axum::extract::ws::CloseFrame {
        code,
        reason: reason.into(),
    }));
    if !matches!(
        tokio::time::timeout(CLOSE_WRITE, sink.send(frame)).await,
        Ok(Ok(()))
    ) {
        return;
    }
    if matches!(end, End::Close(..)) {
        // Wait for the peer's Close (or its end) so the peer reads ours before the TCP
        // connection goes: each frame it sends meanwhile is bounded by MAX_INCOMING.
        let _ = tokio::time::timeout(CLOSE_LINGER, async {
            while let Some(Ok(m)) = stream.next().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}
