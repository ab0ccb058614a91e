//! Engines: one socket endpoint each (TCP server or client, UDP server or client), run as
//! tokio tasks. An [`Engine`] is the handle the registry keeps: what outlives a run and is
//! saved, behind one lock. Each start is a [`Run`] holding everything live, with its own
//! cancellation token and task tracker, so stopping is cancel, wait, drop, and "the port is
//! free and nothing more is said when stop returns" holds by construction. Engine code
//! spawns only on a run's tracker (`clippy.toml` forbids `tokio::spawn`).

pub mod behavior;
mod bind;
pub mod budget;
pub mod chat;
mod conn;
mod env;
pub mod impair;
pub mod pool;
mod proxy;
pub mod rules;
mod run;
mod saved;
mod send;
pub mod spec;
mod stats;
mod tcp;
mod udp;
mod udp_proxy;
mod udp_send;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
use crate::event::{Draft, format_time};
use crate::ids::EngineId;
use bind::bind_error;
pub use conn::{Conn, ConnView, Outbox, UpstreamView};
pub use env::Env;
pub use run::Run;
use run::Starting;
pub use saved::{Restored, SavedEngine};
pub use send::{MAX_REPEAT, SendOutcome, SendTarget};
pub use spec::{EngineSpec, Kind, Options};
pub use stats::{Stats, StatsView};

/// A command for a connection's task (the actor pattern: the API never touches the socket).
#[derive(Debug)]
pub enum ConnCmd {
    /// Write `data`, then half-close if asked; report the bytes written.
    Send {
        /// The bytes to write.
        data: Bytes,
        /// `shutdown(SHUT_WR)` after writing.
        shutdown_write: bool,
        /// Where to report the outcome, if anyone waits for it.
        reply: Option<oneshot::Sender<Result<usize, String>>>,
        /// The bytes' place in the connection's outbox, given back once they are written.
        room: Option<tokio::sync::OwnedSemaphorePermit>,
    },
}

/// A datagram to send from a UDP engine.
#[derive(Debug)]
pub(crate) struct UdpCmd {
    to: SocketAddr,
    data: Bytes,
    reply: oneshot::Sender<Result<usize, String>>,
}

/// How many commands may queue for one connection before senders wait (API) or drop (chat).
const CONN_QUEUE: usize = 256;

enum State {
    Running(Arc<Run>),
    Stopped { reason: Option<String> },
    Failed { error: String },
}

/// How long stop waits for tasks to end before reporting them stuck.
const STOP_DEADLINE: Duration = Duration::from_secs(5);

/// One engine: what outlives its runs (the spec, its counters, the address it last had,
/// what it shows) and its current [`Run`], if any.
pub struct Engine {
    /// `e1`.
    pub id: EngineId,
    /// The engine kind (never changes).
    kind: Kind,
    bind_addrs: Vec<SocketAddr>,
    target_addrs: Vec<SocketAddr>,
    stats: Stats,
    env: Arc<Env>,
    // std Mutex: read for views and swapped at start/stop, never held across `.await`.
    kept: Mutex<Kept>,
    // tokio Mutex: start and stop of one engine must not interleave, and they await I/O.
    lifecycle: tokio::sync::Mutex<u64>,
}

/// What an engine keeps across runs and saves, behind its one lock.
struct Kept {
    /// What the user asked for, with a `PATCH`ed impairment.
    spec: Arc<EngineSpec>,
    created: SystemTime,
    last_local: Option<SocketAddr>,
    state: State,
}

/// An engine as API.md's Engine object shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EngineView {
    /// Engine id.
    #[schema(value_type = String, pattern = "^e[0-9]+$")]
    pub id: EngineId,
    /// Engine kind.
    pub kind: Kind,
    /// Label.
    #[schema(required)]
    pub name: Option<String>,
    /// Behavior.
    pub behavior: behavior::Behavior,
    /// `running`, `stopped` or `failed`.
    #[schema(value_type = String)]
    pub state: &'static str,
    /// Why it failed, or why it stopped by itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The address actually bound (the last one, when stopped).
    #[schema(value_type = Option<String>, required)]
    pub local: Option<SocketAddr>,
    /// The target asked for (clients).
    #[schema(required)]
    pub target: Option<String>,
    /// The address connected to (tcp-client) or sent to by default (udp-client).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub peer: Option<SocketAddr>,
    /// The bind address asked for.
    #[schema(required)]
    pub bind: Option<String>,
    /// Options in force (API.md's EngineSpec options, defaults applied).
    #[schema(value_type = Object)]
    pub options: spec::Options,
    /// When it was created.
    pub created: String,
    /// Counters.
    pub stats: StatsView,
    /// Open connections.
    pub connections: Vec<ConnView>,
    /// Repeated sends (`"repeat"` > 1) still going; 0 when none is.
    pub repeating: usize,
}

impl Engine {
    /// A stopped engine `id` for `spec` with its addresses already resolved and checked.
    pub fn new(
        id: EngineId,
        spec: EngineSpec,
        bind_addrs: Vec<SocketAddr>,
        target_addrs: Vec<SocketAddr>,
        env: Arc<Env>,
    ) -> Self {
        Self {
            id,
            kind: spec.kind,
            bind_addrs,
            target_addrs,
            stats: Stats::default(),
            env,
            kept: Mutex::new(Kept {
                spec: Arc::new(spec),
                created: SystemTime::now(),
                last_local: None,
                state: State::Stopped { reason: None },
            }),
            lifecycle: tokio::sync::Mutex::new(0),
        }
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The engine kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The spec as it is now (with a `PATCH`ed impairment).
    pub fn spec(&self) -> Arc<EngineSpec> {
        self.kept().spec.clone()
    }

    /// The address it was last bound to.
    pub fn last_local(&self) -> Option<SocketAddr> {
        self.kept().last_local
    }

    /// Sets (or clears) the UDP impairment: kept in the spec, so it is saved and comes back
    /// after a restart, and followed by a running engine from its next datagram on.
    pub fn set_impair(&self, cfg: Option<impair::Impair>) {
        let mut kept = self.kept();
        let mut spec = (*kept.spec).clone();
        spec.options.impair = cfg;
        kept.spec = Arc::new(spec);
        if let State::Running(run) = &kept.state {
            run.set_impair(cfg);
        }
    }

    /// Marks a stopped engine as unable to start, with the reason (an engine loaded from disk
    /// whose addresses the policy no longer allows).
    pub fn mark_failed(&self, error: String) {
        let mut kept = self.kept();
        if !matches!(kept.state, State::Running(_)) {
            kept.state = State::Failed { error };
        }
    }

    fn emit(&self, draft: Draft<'_>) {
        self.env.capture.push(self.id, &draft);
    }

    /// Records two calls made one right after the other (see [`crate::capture::Capture::push_all`]).
    fn emit_pair(&self, first: Draft<'_>, then: Draft<'_>) {
        self.env.capture.push_all(self.id, &[&first, &then]);
    }

    fn running(&self) -> Option<Arc<Run>> {
        match &self.kept().state {
            State::Running(r) => Some(r.clone()),
            _ => None,
        }
    }

    /// Whether the engine is running now.
    pub fn is_running(&self) -> bool {
        self.running().is_some()
    }

    /// Starts the engine (bind and listen, or connect); returns once it is ready. A no-op if
    /// it is running already. On failure the engine is `failed` with the reason.
    pub async fn start(self: &Arc<Self>) -> Result<(), ApiError> {
        let mut generation = self.lifecycle.lock().await;
        if self.is_running() {
            return Ok(());
        }
        if !self.addresses_known() {
            let why = match &self.kept().state {
                State::Failed { error } => error.clone(),
                _ => "its addresses are unknown".into(),
            };
            return Err(ApiError::forbidden(why));
        }
        *generation += 1;
        let starting = Starting {
            generation: *generation,
            cancel: self.env.root.child_token(),
            spec: self.spec(),
        };
        let result = match self.kind {
            Kind::TcpServer => tcp::start_server(self, starting).await,
            Kind::TcpClient => tcp::start_client(self, starting).await,
            Kind::UdpServer | Kind::UdpClient => udp::start(self, starting).await,
            Kind::TcpProxy => proxy::start(self, starting).await,
            Kind::UdpProxy => udp_proxy::start(self, starting).await,
        };
        let mut kept = self.kept();
        match result {
            Ok(run) => {
                kept.last_local = Some(run.local);
                // A PATCH between the spec's snapshot and now: the run follows it too.
                if kept.spec.options.impair != run.spec.options.impair {
                    run.set_impair(kept.spec.options.impair);
                }
                // A run can end by itself before we get here (a client whose server closes
                // at once); `end_run` then ran already and left its reason.
                let ended = run.live().ended.take();
                kept.state = match ended {
                    None => State::Running(run),
                    Some(reason) => State::Stopped {
                        reason: Some(reason),
                    },
                };
                Ok(())
            }
            Err(e) => {
                kept.state = State::Failed {
                    error: e.to_string(),
                };
                Err(e)
            }
        }
    }

    /// Stops the engine: closes every connection and socket, and returns when they are
    /// closed and the port is free. A no-op if it is not running.
    pub async fn stop(self: &Arc<Self>) {
        self.stop_because(None).await;
    }

    /// Stops the engine, saying why in its `stopped` event when it was not a user's request:
    /// cancels the run, waits for its tasks, and drops it.
    pub async fn stop_because(self: &Arc<Self>, reason: Option<&str>) {
        let _guard = self.lifecycle.lock().await;
        let Some(run) = self.running() else { return };
        if let Some(r) = reason {
            run.live().stop_reason = Some(r.to_string());
        }
        run.cancel.cancel();
        run.tracker.close();
        if tokio::time::timeout(STOP_DEADLINE, run.tracker.wait())
            .await
            .is_err()
        {
            tracing::error!(engine = %self.id, "engine tasks did not end within the stop deadline");
        }
        let mut kept = self.kept();
        if matches!(&kept.state, State::Running(r) if r.generation == run.generation) {
            kept.state = State::Stopped { reason: None };
        }
    }

    /// Called by a run's main task as it ends, whether stopped or ended by itself.
    fn end_run(&self, run: &Run, reason: &str) {
        let asked = run.live().stop_reason.take();
        let why = if let Some(asked) = asked {
            format!("stopped: {asked}")
        } else if run.cancel.is_cancelled() {
            if self.env.root.is_cancelled() {
                "stopped: socketlab is shutting down".to_string()
            } else {
                "stopped by request".to_string()
            }
        } else {
            format!("stopped: {reason}")
        };
        self.emit(
            Draft::new(crate::event::EventKind::Stopped, crate::event::Call::Close)
                .local(run.local)
                .message(&why),
        );
        let ended_by_itself = !run.cancel.is_cancelled();
        // Under the engine's lock, so `start` (which records a new run under it) sees either
        // the run still going or its reason left here.
        let mut kept = self.kept();
        match &kept.state {
            State::Running(r) if r.generation == run.generation => {
                kept.state = State::Stopped {
                    reason: ended_by_itself.then_some(why),
                };
            }
            _ => run.live().ended = Some(why),
        }
    }

    /// Registers a new connection on `run`; returns it with its command receiver.
    fn add_conn(
        &self,
        run: &Run,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> (Arc<Conn>, mpsc::Receiver<ConnCmd>) {
        let id = self.env.next_conn();
        let (out, rx) = Outbox::new(CONN_QUEUE, self.env.config.limits.max_message);
        let conn = Arc::new(Conn {
            id,
            peer,
            local,
            opened: SystemTime::now(),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            out,
            close: run.cancel.child_token(),
            done: CancellationToken::new(),
            upstream: std::sync::OnceLock::new(),
            up_in: AtomicU64::new(0),
            up_out: AtomicU64::new(0),
        });
        run.live().conns.insert(id, conn.clone());
        self.env.capture.open_conn(id, local, peer);
        self.stats.connections_open.fetch_add(1, Relaxed);
        self.stats.connections_total.fetch_add(1, Relaxed);
        (conn, rx)
    }

    fn remove_conn(&self, run: &Run, conn: &Conn) {
        if run.live().conns.remove(&conn.id).is_some() {
            self.stats.connections_open.fetch_sub(1, Relaxed);
            self.env.give_conn_place();
        }
        conn.done.cancel();
    }

    /// The engine as the API shows it.
    pub fn view(&self) -> EngineView {
        let (spec, created, last_local, state, error, run) = {
            let kept = self.kept();
            let (state, error, run) = match &kept.state {
                State::Running(r) => ("running", None, Some(r.clone())),
                State::Stopped { reason } => ("stopped", reason.clone(), None),
                State::Failed { error } => ("failed", Some(error.clone()), None),
            };
            (
                kept.spec.clone(),
                kept.created,
                kept.last_local,
                state,
                error,
                run,
            )
        };
        let local = run.as_ref().map(|r| r.local).or(last_local);
        let peer = match (&run, self.kind) {
            (Some(r), _) => r.peer,
            (None, Kind::UdpClient) => self.target_addrs.first().copied(),
            _ => None,
        };
        let connections = run
            .as_ref()
            .map(|r| r.live().conns.values().map(|c| c.view()).collect())
            .unwrap_or_default();
        EngineView {
            id: self.id,
            kind: self.kind,
            name: spec.name.clone(),
            behavior: spec.behavior,
            state,
            error,
            local,
            target: spec.target.clone(),
            peer,
            bind: spec.bind.clone(),
            options: spec.options.clone(),
            created: format_time(created),
            stats: self.stats.view(),
            connections,
            repeating: run.as_ref().map_or(0, |r| {
                r.repeating.load(std::sync::atomic::Ordering::Relaxed)
            }),
        }
    }

    fn not_running(&self) -> ApiError {
        ApiError::not_running(format!(
            "engine {} is not running; start it with POST /api/engines/{}/start",
            self.id, self.id
        ))
    }
}
