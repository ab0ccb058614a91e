//! Sending by hand: the API's send route posts to a connection's task (or the datagram
//! loop) and waits for the bytes to be written, within a deadline.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use axum::body::Bytes;
use serde::Serialize;
use tokio::sync::oneshot;

use super::{Conn, Engine, Kind, Run, STOP_DEADLINE, UdpCmd};
use crate::error::ApiError;
use crate::ids::{ConnId, ConnPick};

/// The result of a send, as API.md's send route returns it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SendOutcome {
    /// Bytes sent to each recipient.
    pub bytes: usize,
    /// Who got them.
    pub sent_to: Vec<String>,
    /// For a repeated send: how many times in all (the first is done when this returns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat: Option<u32>,
    /// For a repeated send: the pause between two.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
}

/// The most times one send may be repeated.
pub const MAX_REPEAT: u32 = 10_000;

/// Where a send goes, already decoded and checked.
#[derive(Debug, Clone)]
pub struct SendTarget {
    /// A connection, or `*`.
    pub conn: Option<ConnPick>,
    /// A UDP destination.
    pub to: Option<SocketAddr>,
    /// Half-close after sending (tcp-client).
    pub shutdown_write: bool,
}

/// How long a send may wait for a connection that is not reading.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

impl Engine {
    /// Sends `data` `times` times, `interval` apart: the first now (its outcome returned),
    /// the rest in the background until done, the engine stops, or
    /// [`Engine::stop_repeats`]. Each send is its own `send()` with its own event.
    pub async fn send_repeated(
        self: &Arc<Self>,
        data: Bytes,
        target: SendTarget,
        times: u32,
        interval: Duration,
    ) -> Result<SendOutcome, ApiError> {
        let mut first = self.send(data.clone(), target.clone()).await?;
        if times <= 1 {
            return Ok(first);
        }
        let run = self.running().ok_or_else(|| self.not_running())?;
        // A child of the run's token: a stop of the engine ends it too.
        let stop = run.repeats();
        let engine = self.clone();
        run.repeating.fetch_add(1, Relaxed);
        let counted = run.clone();
        run.tracker.spawn(async move {
            struct Done(Arc<Run>);
            impl Drop for Done {
                fn drop(&mut self) {
                    self.0.repeating.fetch_sub(1, Relaxed);
                }
            }
            let _done = Done(counted);
            for _ in 1..times {
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(interval) => {}
                }
                if stop.is_cancelled() || engine.send(data.clone(), target.clone()).await.is_err() {
                    // A failed send has its own error event; the rest would fail the same way.
                    return;
                }
            }
        });
        first.repeat = Some(times);
        first.interval_ms = Some(interval.as_millis() as u64);
        Ok(first)
    }

    /// Ends every repeated send of this engine; returns how many were going.
    pub fn stop_repeats(&self) -> usize {
        self.running().map_or(0, |run| run.stop_repeats())
    }

    /// Sends `data` as the target says; returns once it is written.
    pub async fn send(&self, data: Bytes, target: SendTarget) -> Result<SendOutcome, ApiError> {
        let run = self.running().ok_or_else(|| self.not_running())?;
        let n = data.len();
        if self.kind.is_proxy() {
            return Err(ApiError::invalid_spec(format!(
                "engine {} is a {}: it relays what its client and server send and sends nothing of its own; send from the client or the server",
                self.id,
                self.kind.name()
            )));
        }
        match self.kind {
            Kind::UdpServer | Kind::UdpClient => {
                if target.conn.is_some() || target.shutdown_write {
                    return Err(ApiError::invalid_spec(
                        "UDP has no connections: leave out conn and shutdown, and use to for the destination".into(),
                    ));
                }
                let to = match (target.to, self.kind) {
                    (Some(to), _) => to,
                    (None, Kind::UdpClient) => run
                        .peer
                        .or(self.target_addrs.first().copied())
                        .ok_or_else(|| {
                            ApiError::invalid_spec(
                                "field to is missing; give the destination host:port".into(),
                            )
                            .at("to")
                        })?,
                    (None, _) => {
                        return Err(ApiError::invalid_spec(
                            "field to is missing: a udp-server sends with sendto(), so say where, e.g. \"to\": \"127.0.0.1:50000\" (a sender's address from the log)".into(),
                        ).at("to"));
                    }
                };
                let tx = run.udp.clone().ok_or_else(|| self.not_running())?;
                let (reply, rx) = oneshot::channel();
                tx.send(UdpCmd { to, data, reply })
                    .await
                    .map_err(|_| self.not_running())?;
                // The socket is there; the OS refused this datagram (the message says why).
                let sent = rx
                    .await
                    .map_err(|_| self.not_running())?
                    .map_err(ApiError::send_failed)?;
                Ok(SendOutcome {
                    bytes: sent,
                    sent_to: vec![to.to_string()],
                    repeat: None,
                    interval_ms: None,
                })
            }
            Kind::TcpServer | Kind::TcpClient | Kind::TcpProxy | Kind::UdpProxy => {
                if target.to.is_some() {
                    return Err(ApiError::invalid_spec(
                        "field to is for UDP; a TCP engine sends on a connection (use conn)".into(),
                    )
                    .at("to"));
                }
                let conns: Vec<Arc<Conn>> = {
                    let all = &run.live().conns;
                    match (self.kind, target.conn) {
                        (Kind::TcpClient, _) => all.values().cloned().collect(),
                        (_, Some(ConnPick::All)) => all.values().cloned().collect(),
                        (_, Some(ConnPick::One(id))) => vec![self.find_conn(all, id)?],
                        (_, None) => {
                            return Err(ApiError::invalid_spec(format!(
                                "field conn is missing: say which connection, e.g. \"conn\": \"c2\", or \"*\" for all; open now: {}",
                                open_list(all)
                            )).at("conn"));
                        }
                    }
                };
                if target.shutdown_write && self.kind != Kind::TcpClient {
                    return Err(ApiError::invalid_spec(
                        "field shutdown is for a tcp-client; a server closes a connection with DELETE /api/engines/{id}/connections/{conn}".into(),
                    ).at("shutdown"));
                }
                if self.kind == Kind::TcpClient && conns.is_empty() {
                    return Err(self.not_running());
                }
                let sends = conns
                    .iter()
                    .map(|c| send_on(c, data.clone(), target.shutdown_write));
                let results = futures_util::future::join_all(sends).await;
                let mut sent_to = Vec::new();
                for (c, r) in conns.iter().zip(results) {
                    match r {
                        Ok(_) => sent_to.push(c.peer.to_string()),
                        Err(e) if conns.len() == 1 => return Err(e),
                        Err(_) => {}
                    }
                }
                Ok(SendOutcome {
                    bytes: n,
                    sent_to,
                    repeat: None,
                    interval_ms: None,
                })
            }
        }
    }
    /// Closes one connection of a running engine; returns once it is closed.
    pub async fn close_conn(&self, conn_id: ConnId) -> Result<(), ApiError> {
        let run = self.running().ok_or_else(|| self.not_running())?;
        let conn = self.find_conn(&run.live().conns, conn_id)?;
        conn.close.cancel();
        let _ = tokio::time::timeout(STOP_DEADLINE, conn.done.cancelled()).await;
        Ok(())
    }
}

impl Engine {
    /// The open connection `id`, or a `not_found` that lists the open ones.
    fn find_conn(
        &self,
        all: &BTreeMap<ConnId, Arc<Conn>>,
        id: ConnId,
    ) -> Result<Arc<Conn>, ApiError> {
        all.get(&id).cloned().ok_or_else(|| {
            ApiError::not_found(format!(
                "engine {} has no open connection {id}; open now: {}",
                self.id,
                open_list(all)
            ))
        })
    }
}

fn open_list(all: &BTreeMap<ConnId, Arc<Conn>>) -> String {
    if all.is_empty() {
        "none".into()
    } else {
        all.values()
            .map(|c| format!("{} ({})", c.id, c.peer))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

async fn send_on(conn: &Conn, data: Bytes, shutdown_write: bool) -> Result<usize, ApiError> {
    let gone = || ApiError::not_running(format!("connection {} is closed", conn.id));
    let (reply, rx) = oneshot::channel();
    let timed_out = || {
        ApiError::not_running(format!(
            "send on {} timed out after {} s: the peer {} is not reading, so its receive window is full",
            conn.id,
            SEND_TIMEOUT.as_secs(),
            conn.peer
        ))
    };
    tokio::time::timeout(SEND_TIMEOUT, conn.out.send(data, shutdown_write, reply))
        .await
        .map_err(|_| timed_out())?
        .map_err(|_| gone())?;
    tokio::time::timeout(SEND_TIMEOUT, rx)
        .await
        .map_err(|_| timed_out())?
        .map_err(|_| gone())?
        .map_err(ApiError::not_running)
}
