//! Every datagram an engine sends goes through [`sendto`]: straight out with its event, or,
//! under `options.impair`, lost, sent twice, held back for the next one, or delayed, each
//! with an event saying so.
//!
//! Every datagram is accounted for by events: each one that goes in ends `sent` (or
//! `reordered`) or `dropped`, after a `delayed` while it waits; a duplicate is one more
//! `duplicated`. A datagram held back for `reorder` goes after the next one sent, or alone
//! after `delay_ms + jitter_ms` or [`MAX_HOLD`], whichever is longer; a stop drops what is
//! held or delayed, saying so.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::impair::{Fate, Impair};
use super::{Engine, Run};

/// The most bytes of datagrams one engine holds back for `impair.delay_ms` at once; past it
/// a datagram is lost, as at a router whose queue is full (with an event saying so), rather
/// than the server's memory growing with a flood times the delay.
pub(super) const MAX_DELAYED: usize = 4 << 20;
use crate::event::{Call, Draft, EventKind};
use crate::ids::ConnId;

/// Where a datagram's events go: a proxy's pair and leg, or the engine's own socket.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Via {
    /// The leg of a proxy's pair it goes on.
    pub conn: Option<ConnId>,
    /// Never sent twice, whatever `impair.duplicate` says: a reply to an address outside
    /// `--allow-target`, which must not get more than it sent.
    pub once: bool,
}

/// The longest a datagram is held back for `reorder` when no later one goes (unless the
/// delay asked for is longer): a lone request still gets its answer.
pub const MAX_HOLD: Duration = Duration::from_millis(100);

/// A datagram held back to go after the next one.
pub(super) struct Held {
    sock: Arc<UdpSocket>,
    local: SocketAddr,
    data: Vec<u8>,
    to: SocketAddr,
    leg: Via,
}

fn draft<'a>(kind: EventKind, local: SocketAddr, to: SocketAddr, leg: Via) -> Draft<'a> {
    let d = Draft::new(kind, Call::SendTo);
    match leg.conn {
        Some(c) => d.conn(c),
        None => d.local(local).peer(to),
    }
}

/// Records a `sendto()` that has happened (`kind` is `sent`, or `duplicated`/`reordered`).
#[allow(clippy::too_many_arguments)]
fn record(
    engine: &Engine,
    local: SocketAddr,
    data: &[u8],
    to: SocketAddr,
    leg: Via,
    kind: EventKind,
    note: Option<&str>,
    result: std::io::Result<usize>,
) -> Result<usize, String> {
    match result {
        Ok(n) => {
            engine.stats.sent(n);
            let mut d = draft(kind, local, to, leg).data(&data[..n]);
            if let Some(m) = note {
                d = d.message(m);
            }
            engine.emit(d);
            Ok(n)
        }
        Err(e) => {
            let msg = format!("sendto() {to} failed: {e}");
            engine.emit(draft(EventKind::Error, local, to, leg).message(&msg));
            Err(msg)
        }
    }
}

/// Records a plain `sendto()` of the engine's own socket that has happened.
pub(super) fn record_sendto(
    engine: &Engine,
    local: SocketAddr,
    data: &[u8],
    to: SocketAddr,
    result: std::io::Result<usize>,
) -> Result<usize, String> {
    record(
        engine,
        local,
        data,
        to,
        Via::default(),
        EventKind::Sent,
        None,
        result,
    )
}

/// Sends a datagram the way the engine's impairment says, with its events. Returns the
/// bytes handed to the socket (a datagram lost on purpose counts as sent: the program did
/// call `sendto()`).
pub(super) async fn sendto(
    engine: &Arc<Engine>,
    run: &Arc<Run>,
    sock: &Arc<UdpSocket>,
    local: SocketAddr,
    data: &[u8],
    to: SocketAddr,
    leg: Via,
) -> Result<usize, String> {
    let Some((fate, cfg)) = run.fate() else {
        let r = sock.send_to(data, to).await;
        let n = record(engine, local, data, to, leg, EventKind::Sent, None, r)?;
        // Impairment was turned off with datagrams still held: they go after this one, as
        // promised.
        for h in run.take_held() {
            let note = "held back on purpose and sent after a later datagram (the impairment was turned off meanwhile)";
            h.go(engine, EventKind::Reordered, note).await;
        }
        return Ok(n);
    };
    // What impairment did with the datagram, said with its bytes.
    let say = |kind: EventKind, msg: String| {
        engine.emit(draft(kind, local, to, leg).data(data).message(&msg));
    };
    match fate {
        Fate::Dropped => {
            say(
                EventKind::Dropped,
                format!(
                    "lost on purpose (impair.loss {}): this datagram never left",
                    cfg.loss
                ),
            );
            Ok(data.len())
        }
        Fate::Held if run.delayed.load(Relaxed) + data.len() > MAX_DELAYED => {
            let msg = format!(
                "lost: {MAX_DELAYED} bytes of datagrams are already held back or delayed, the most one engine holds (a router's queue is full too)"
            );
            say(EventKind::Dropped, msg);
            Ok(data.len())
        }
        Fate::Held => {
            // Held until the next datagram has gone: then it goes, out of order. Said now, so
            // the log shows where the datagram is meanwhile.
            let wait = MAX_HOLD.max(Duration::from_millis(cfg.delay_ms + cfg.jitter_ms));
            say(
                EventKind::Delayed,
                format!(
                    "held back on purpose, to go after the next datagram or alone after {} ms (impair.reorder {})",
                    wait.as_millis(),
                    cfg.reorder
                ),
            );
            let n = run.hold(Held {
                sock: sock.clone(),
                local,
                data: data.to_vec(),
                to,
                leg,
            });
            let (engine, run2) = (engine.clone(), run.clone());
            // Released alone if no later datagram has taken it along by then; a stop ends
            // the wait, and `settle` drops it with its event.
            run.spawn_side(async move {
                tokio::select! {
                    biased;
                    _ = run2.cancel.cancelled() => {}
                    _ = tokio::time::sleep(wait) => {
                        if let Some(h) = run2.release_held(n) {
                            let note = format!(
                                "held back on purpose (impair.reorder {}); no later datagram went within {} ms, so it went alone",
                                cfg.reorder,
                                wait.as_millis()
                            );
                            h.go(&engine, EventKind::Sent, &note).await;
                        }
                    }
                }
            });
            Ok(data.len())
        }
        Fate::Sent { delay, .. } if leg.once && delay.is_zero() => {
            let r = sock.send_to(data, to).await;
            let n = record(engine, local, data, to, leg, EventKind::Sent, None, r)?;
            after_sent(engine, run, sock, local, data, to, leg, 1, &cfg).await;
            Ok(n)
        }
        Fate::Sent { copies, delay } if delay.is_zero() => {
            let r = sock.send_to(data, to).await;
            let n = record(engine, local, data, to, leg, EventKind::Sent, None, r)?;
            after_sent(engine, run, sock, local, data, to, leg, copies, &cfg).await;
            Ok(n)
        }
        Fate::Sent { .. }
            if run.delayed.fetch_add(data.len(), Relaxed) + data.len() > MAX_DELAYED =>
        {
            run.delayed.fetch_sub(data.len(), Relaxed);
            let msg = format!(
                "lost: {} bytes of datagrams are already held back by impair.delay_ms {}, the most one engine holds (a router's queue is full too)",
                MAX_DELAYED, cfg.delay_ms
            );
            engine.emit(
                draft(EventKind::Dropped, local, to, leg)
                    .data(data)
                    .message(&msg),
            );
            Ok(data.len())
        }
        Fate::Sent { copies, delay } => {
            let msg = format!(
                "held {} ms on purpose (impair.delay_ms {}, jitter_ms {})",
                delay.as_millis(),
                cfg.delay_ms,
                cfg.jitter_ms
            );
            engine.emit(
                draft(EventKind::Delayed, local, to, leg)
                    .data(data)
                    .message(&msg),
            );
            let n = data.len();
            let copies = if leg.once { 1 } else { copies };
            let (engine, run2, sock, data) =
                (engine.clone(), run.clone(), sock.clone(), data.to_vec());
            // On the run, so a stop ends the wait and drops the datagram: the port is free
            // when stop returns, and no `sent` comes after `stopped`.
            run.spawn_side(async move {
                let cancelled = tokio::select! {
                    biased;
                    _ = run2.cancel.cancelled() => true,
                    _ = tokio::time::sleep(delay) => false,
                };
                run2.delayed.fetch_sub(data.len(), Relaxed);
                if cancelled {
                    let msg = format!(
                        "dropped: the engine stopped during this datagram's {} ms delay, so it was never sent",
                        delay.as_millis()
                    );
                    engine.emit(draft(EventKind::Dropped, local, to, leg).data(&data).message(&msg));
                    return;
                }
                let r = sock.send_to(&data, to).await;
                if record(&engine, local, &data, to, leg, EventKind::Sent, None, r).is_ok() {
                    after_sent(&engine, &run2, &sock, local, &data, to, leg, copies, &cfg).await;
                }
            });
            Ok(n)
        }
    }
}

/// After a datagram went: its duplicate, then the one held back, if any.
#[allow(clippy::too_many_arguments)]
async fn after_sent(
    engine: &Arc<Engine>,
    run: &Run,
    sock: &Arc<UdpSocket>,
    local: SocketAddr,
    data: &[u8],
    to: SocketAddr,
    leg: Via,
    copies: u8,
    cfg: &Impair,
) {
    if copies > 1 {
        let note = format!(
            "the same datagram again, on purpose (impair.duplicate {})",
            cfg.duplicate
        );
        let r = sock.send_to(data, to).await;
        let _ = record(
            engine,
            local,
            data,
            to,
            leg,
            EventKind::Duplicated,
            Some(&note),
            r,
        );
    }
    for h in run.take_held() {
        let note = format!(
            "held back on purpose and sent after a later datagram (impair.reorder {})",
            cfg.reorder
        );
        h.go(engine, EventKind::Reordered, &note).await;
    }
}

impl Held {
    /// Sends it now, with its event (`kind`: `reordered` after a later datagram, `sent` when
    /// it goes alone) saying why it was held.
    async fn go(self, engine: &Engine, kind: EventKind, note: &str) {
        let r = self.sock.send_to(&self.data, self.to).await;
        let _ = record(
            engine,
            self.local,
            &self.data,
            self.to,
            self.leg,
            kind,
            Some(note),
            r,
        );
    }

    /// Its bytes, as counted against [`MAX_DELAYED`].
    pub(super) fn len(&self) -> usize {
        self.data.len()
    }

    /// Says that this datagram, still held back when its engine stopped, was never sent.
    pub(super) fn dropped_at_stop(self, engine: &Engine) {
        engine.emit(
            draft(EventKind::Dropped, self.local, self.to, self.leg)
                .data(&self.data)
                .message("dropped: the engine stopped while this datagram was held back (impair.reorder), so it was never sent"),
        );
    }
}
