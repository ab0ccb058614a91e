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
//! numbers it has seen. A stream ends with 1008 `revoked` when its credential is (a replaced
//! watch link, a signed-out session, a removed workspace) and 1001 at shutdown.

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

/// The largest frame a viewer may send us; viewers only listen, so this is generous.
const MAX_INCOMING: usize = 64 * 1024;
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
    Ok(ws
        .max_message_size(MAX_INCOMING)
        .max_frame_size(MAX_INCOMING)
        .on_upgrade(move |socket| serve(socket, space, viewer, frames, stall, slot, revoked)))
}

/// Close code 1008 (policy violation) with reason `revoked`.
fn revoked_close() -> Message {
    Message::Close(Some(axum::extract::ws::CloseFrame {
        code: 1008,
        reason: "revoked".into(),
    }))
}

async fn serve(
    socket: WebSocket,
    space: Arc<Workspace>,
    mut viewer: Viewer,
    first_frames: Vec<Utf8Bytes>,
    stall: Duration,
    _slot: ViewerSlot,
    revoked: tokio_util::sync::CancellationToken,
) {
    let (mut sink, mut stream) = socket.split();
    let born = Instant::now();
    let heard = Arc::new(AtomicU64::new(0));
    let heard_by_recv = heard.clone();
    let since_born = move || born.elapsed().as_millis() as u64;
    let shutdown = space.closing().clone();
    let mut head = space.capture().subscribe();
    let send = async move {
        let mut frames: Vec<Utf8Bytes> = first_frames;
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        loop {
            // Checked on every pass too, so a busy stream ends as soon as an idle one.
            if revoked.is_cancelled() {
                let _ = sink.send(revoked_close()).await;
                return Ok(());
            }
            let more = {
                let mut ring = space.capture().lock();
                viewer.pass(&mut ring, &mut frames)
            };
            if !frames.is_empty() {
                let write = async {
                    for f in frames.drain(..) {
                        sink.feed(Message::Text(f)).await?;
                    }
                    sink.flush().await
                };
                // A viewer that takes no bytes for this long is gone or hostile (its pings
                // could not go out either): close it, freeing its slot and buffers.
                match tokio::time::timeout(stall, write).await {
                    Ok(written) => written?,
                    Err(_) => return Ok(()),
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
                _ = revoked.cancelled() => {
                    let _ = sink.send(revoked_close()).await;
                    return Ok(());
                }
                _ = ping.tick() => {
                    let silent = since_born().saturating_sub(heard.load(Ordering::Relaxed));
                    if silent > 3 * PING_EVERY.as_millis() as u64 {
                        return Ok(());
                    }
                    sink.send(Message::Ping(Default::default())).await?;
                }
                _ = shutdown.cancelled() => {
                    // Removed: the credential is gone with it.
                    if space.is_removed() {
                        let _ = sink.send(revoked_close()).await;
                        return Ok(());
                    }
                    // Shutting down: the engines have stopped; pass on what is left, then
                    // say goodbye (1001, going away).
                    {
                        let mut ring = space.capture().lock();
                        while viewer.pass(&mut ring, &mut frames) {}
                    }
                    for f in frames.drain(..) {
                        sink.feed(Message::Text(f)).await?;
                    }
                    let bye = axum::extract::ws::CloseFrame {
                        code: 1001,
                        reason: "socketlab is shutting down".into(),
                    };
                    let _ = sink.send(Message::Close(Some(bye))).await;
                    return Ok(());
                }
                changed = head.changed(), if !saturated => {
                    if changed.is_err() {
                        return Ok(());
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
