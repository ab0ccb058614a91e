//! Engines: one socket endpoint each (TCP server or client, UDP server or client), run as
//! tokio tasks. An [`Engine`] is the handle the registry keeps; each start is a [`Run`] with
//! its own cancellation token and task tracker, so stopping is `cancel` then `wait`, and "the
//! port is free when stop returns" holds by construction.

pub mod behavior;
pub mod budget;
pub mod chat;
mod conn;
mod env;
pub mod impair;
pub mod pool;
mod proxy;
pub mod rules;
mod send;
pub mod spec;
mod stats;
mod tcp;
mod udp;
mod udp_proxy;
mod udp_send;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::ApiError;
use crate::event::{Draft, format_time};
pub use conn::{Conn, ConnView, Outbox, UpstreamView};
pub use env::Env;
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

/// One start of an engine: its sockets' tasks and how to reach them.
pub struct Run {
    generation: u64,
    cancel: CancellationToken,
    tracker: TaskTracker,
    local: SocketAddr,
    peer: Option<SocketAddr>,
    conns: Mutex<BTreeMap<u64, Arc<Conn>>>,
    udp: Option<mpsc::Sender<UdpCmd>>,
    ended: Mutex<Option<String>>,
    /// Why it is being stopped, when not by a user's request (an idle workspace).
    stop_reason: Mutex<Option<String>>,
}

impl Run {
    fn new(
        generation: u64,
        cancel: CancellationToken,
        local: SocketAddr,
        peer: Option<SocketAddr>,
    ) -> Self {
        Self {
            generation,
            cancel,
            tracker: TaskTracker::new(),
            local,
            peer,
            conns: Mutex::new(BTreeMap::new()),
            udp: None,
            ended: Mutex::new(None),
            stop_reason: Mutex::new(None),
        }
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

enum State {
    Running(Arc<Run>),
    Stopped { reason: Option<String> },
    Failed { error: String },
}

/// How long stop waits for tasks to end before reporting them stuck.
const STOP_DEADLINE: Duration = Duration::from_secs(5);

/// One engine: its spec, counters, and current run, if any.
pub struct Engine {
    /// `e1`.
    pub id: Arc<str>,
    /// The number in the id (`e1` is 1), as records refer to it.
    pub num: u32,
    /// What the user asked for.
    pub spec: EngineSpec,
    /// When it was created.
    pub created: SystemTime,
    bind_addrs: Vec<SocketAddr>,
    target_addrs: Vec<SocketAddr>,
    stats: Stats,
    env: Arc<Env>,
    // std Mutex: read for views and swapped at start/stop, never held across `.await`.
    state: Mutex<State>,
    last_local: Mutex<Option<SocketAddr>>,
    // tokio Mutex: start and stop of one engine must not interleave, and they await I/O.
    lifecycle: tokio::sync::Mutex<u64>,
    /// Cancels the repeated sends going now (replaced by a fresh one at each stop).
    repeats: Mutex<CancellationToken>,
    /// Repeated sends going now.
    repeating: AtomicUsize,
    /// UDP impairment: its settings and generator (none when off), and a datagram held back.
    impair: Mutex<Option<impair::Impairer>>,
    held: Mutex<Option<udp_send::Held>>,
    /// Bytes of datagrams held back by `impair.delay_ms` now, bounded (see `udp_send`).
    delayed: AtomicUsize,
}

/// An engine as API.md's Engine object shows it.
#[derive(Debug, Clone, Serialize)]
pub struct EngineView {
    /// Engine id.
    pub id: Arc<str>,
    /// Engine kind.
    pub kind: Kind,
    /// Label.
    pub name: Option<String>,
    /// Behavior.
    pub behavior: behavior::Behavior,
    /// `running`, `stopped` or `failed`.
    pub state: &'static str,
    /// Why it failed, or why it stopped by itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The address actually bound (the last one, when stopped).
    pub local: Option<SocketAddr>,
    /// The target asked for (clients).
    pub target: Option<String>,
    /// The address connected to (tcp-client) or sent to by default (udp-client).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<SocketAddr>,
    /// The bind address asked for.
    pub bind: Option<String>,
    /// Options in force.
    pub options: spec::Options,
    /// When it was created.
    pub created: String,
    /// Counters.
    pub stats: StatsView,
    /// Open connections.
    pub connections: Vec<ConnView>,
}

/// Describes a failed `bind()` so a student knows what to do.
fn bind_error(addr: SocketAddr, e: &std::io::Error) -> ApiError {
    use std::io::ErrorKind::*;
    match e.kind() {
        AddrInUse => ApiError::AddressInUse(format!(
            "{addr} is already in use (another program or engine is bound there); pick another \
             port, or use port 0 to let the OS choose a free one"
        )),
        AddrNotAvailable => ApiError::InvalidAddress(format!(
            "cannot bind {addr}: this machine has no such address; use 127.0.0.1 or [::1]"
        )),
        PermissionDenied => ApiError::Forbidden(format!(
            "binding {addr} needs privileges socketlab does not have; use a port of 1024 or more"
        )),
        _ => ApiError::InvalidAddress(format!("cannot bind {addr}: {e}")),
    }
}

impl Engine {
    /// A stopped engine for `spec` with its addresses already resolved and checked.
    pub fn new(
        id: Arc<str>,
        spec: EngineSpec,
        bind_addrs: Vec<SocketAddr>,
        target_addrs: Vec<SocketAddr>,
        env: Arc<Env>,
    ) -> Self {
        let num = id
            .strip_prefix('e')
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        Self {
            id,
            num,
            spec,
            created: SystemTime::now(),
            bind_addrs,
            target_addrs,
            stats: Stats::default(),
            env,
            state: Mutex::new(State::Stopped { reason: None }),
            last_local: Mutex::new(None),
            lifecycle: tokio::sync::Mutex::new(0),
            repeats: Mutex::new(CancellationToken::new()),
            repeating: AtomicUsize::new(0),
            impair: Mutex::new(None),
            held: Mutex::new(None),
            delayed: AtomicUsize::new(0),
        }
        .impaired()
    }

    fn impaired(self) -> Self {
        self.set_impair(self.spec.options.impair);
        self
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets when it was created (an engine loaded from disk keeps its first creation time).
    pub fn with_created(mut self, created: SystemTime) -> Self {
        self.created = created;
        self
    }

    /// The address it was last bound to.
    pub fn last_local(&self) -> Option<SocketAddr> {
        *self
            .last_local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers the address it was bound to before (an engine loaded from disk), so a
    /// restart binds the same port when it can.
    pub fn with_last_local(self, local: Option<SocketAddr>) -> Self {
        *self
            .last_local
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = local;
        self
    }

    /// Marks a stopped engine as unable to start, with the reason (an engine loaded from disk
    /// whose addresses the policy no longer allows).
    pub fn mark_failed(&self, error: String) {
        let mut state = self.state();
        if !matches!(&*state, State::Running(_)) {
            *state = State::Failed { error };
        }
    }

    /// Whether this engine's addresses were resolved (false for one marked failed on load).
    fn addresses_known(&self) -> bool {
        !(self.spec.kind.is_server() && self.bind_addrs.is_empty()
            || !self.spec.kind.is_server() && self.target_addrs.is_empty())
    }

    fn emit(&self, draft: Draft<'_>) {
        self.env.capture.push(self.num, &draft);
    }

    fn running(&self) -> Option<Arc<Run>> {
        match &*self.state() {
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
            let why = match &*self.state() {
                State::Failed { error } => error.clone(),
                _ => "its addresses are unknown".into(),
            };
            return Err(ApiError::Forbidden(why));
        }
        *generation += 1;
        let cancel = self.env.root.child_token();
        let result = match self.spec.kind {
            Kind::TcpServer => tcp::start_server(self, *generation, cancel).await,
            Kind::TcpClient => tcp::start_client(self, *generation, cancel).await,
            Kind::UdpServer | Kind::UdpClient => udp::start(self, *generation, cancel).await,
            Kind::TcpProxy => proxy::start(self, *generation, cancel).await,
            Kind::UdpProxy => udp_proxy::start(self, *generation, cancel).await,
        };
        let mut state = self.state();
        match result {
            Ok(run) => {
                *self
                    .last_local
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(run.local);
                // A run can end by itself before we get here (a client whose server closes
                // at once); `finish` then ran already and left its reason.
                let ended = run
                    .ended
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                *state = match ended {
                    None => State::Running(run),
                    Some(reason) => State::Stopped {
                        reason: Some(reason),
                    },
                };
                Ok(())
            }
            Err(e) => {
                *state = State::Failed {
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

    /// Stops the engine, saying why in its `stopped` event when it was not a user's request.
    pub async fn stop_because(self: &Arc<Self>, reason: Option<&str>) {
        let _guard = self.lifecycle.lock().await;
        let Some(run) = self.running() else { return };
        if let Some(r) = reason {
            *run.stop_reason
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(r.to_string());
        }
        run.cancel.cancel();
        run.tracker.close();
        if tokio::time::timeout(STOP_DEADLINE, run.tracker.wait())
            .await
            .is_err()
        {
            tracing::error!(engine = %self.id, "engine tasks did not end within the stop deadline");
        }
        let mut state = self.state();
        if matches!(&*state, State::Running(r) if r.generation == run.generation) {
            *state = State::Stopped { reason: None };
        }
    }

    /// Called by a run's main task as it ends, whether stopped or ended by itself.
    fn finish(&self, run: &Run, reason: &str) {
        let asked = run
            .stop_reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
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
        // Under the state lock, so `start` (which records a new run under it) sees either
        // the run still going or its reason left here.
        let mut state = self.state();
        match &*state {
            State::Running(r) if r.generation == run.generation => {
                *state = State::Stopped {
                    reason: ended_by_itself.then_some(why),
                };
            }
            _ => {
                *run.ended.lock().unwrap_or_else(PoisonError::into_inner) = Some(why);
            }
        }
    }

    /// Where to bind on this start: the port bound last time first, when the spec said port
    /// 0, so restarting a server keeps the address its clients know; then the spec's address,
    /// or, in a workspace with a port block, each port of the block in turn for port 0.
    fn bind_plan(&self) -> Vec<SocketAddr> {
        let mut plan = Vec::new();
        let spec_addr = self.bind_addrs.first().copied();
        if let (Some(spec), Some(last)) = (
            spec_addr,
            *self
                .last_local
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        ) && spec.port() == 0
            && spec.ip() == last.ip()
            // Only where the policy allows now: a restart with other --ports, or a file
            // edited by hand, must not bring a server back outside its block.
            && self.env.config.policy.check("bind", last).is_ok()
        {
            plan.push(last);
        }
        match (spec_addr, self.env.config.policy.port_block) {
            (Some(spec), Some((lo, hi))) if spec.port() == 0 => {
                plan.extend((lo..=hi).map(|p| SocketAddr::new(spec.ip(), p)));
            }
            _ => plan.extend(spec_addr),
        }
        plan
    }

    /// The error for a start that could bind none of its plan: the last error, or, when port
    /// 0 was to pick inside a port block, that the block is full.
    fn no_bind(&self, last: Option<ApiError>) -> ApiError {
        let picked = self.bind_addrs.first().is_some_and(|a| a.port() == 0);
        match (self.env.config.policy.port_block, last) {
            (Some((lo, hi)), Some(ApiError::AddressInUse(_))) if picked => {
                ApiError::AddressInUse(format!(
                    "every port of your workspace's ports {lo}-{hi} is in use; stop or delete an \
                     engine you no longer need, then try again"
                ))
            }
            (_, Some(e)) => e,
            (_, None) => {
                ApiError::InvalidAddress("no address to bind; give bind as host:port".into())
            }
        }
    }

    /// Registers a new connection on `run`; returns it with its command receiver.
    fn add_conn(
        &self,
        run: &Run,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> (Arc<Conn>, mpsc::Receiver<ConnCmd>) {
        let num = self.env.conn_ids.fetch_add(1, Relaxed);
        let (out, rx) = Outbox::new(CONN_QUEUE, self.env.config.limits.max_message);
        let conn = Arc::new(Conn {
            id: format!("c{num}").into(),
            num,
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
        run.conns().insert(num, conn.clone());
        self.env.capture.open_conn(num, local, peer);
        self.stats.connections_open.fetch_add(1, Relaxed);
        self.stats.connections_total.fetch_add(1, Relaxed);
        (conn, rx)
    }

    fn remove_conn(&self, run: &Run, conn: &Conn) {
        if run.conns().remove(&conn.num).is_some() {
            self.stats.connections_open.fetch_sub(1, Relaxed);
            self.env.give_conn_place();
        }
        conn.done.cancel();
    }

    /// The engine as the API shows it.
    pub fn view(&self) -> EngineView {
        let (state, error, run) = match &*self.state() {
            State::Running(r) => ("running", None, Some(r.clone())),
            State::Stopped { reason } => ("stopped", reason.clone(), None),
            State::Failed { error } => ("failed", Some(error.clone()), None),
        };
        let local = match &run {
            Some(r) => Some(r.local),
            None => *self
                .last_local
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        };
        let peer = match (&run, self.spec.kind) {
            (Some(r), _) => r.peer,
            (None, Kind::UdpClient) => self.target_addrs.first().copied(),
            _ => None,
        };
        let connections = run
            .as_ref()
            .map(|r| r.conns().values().map(|c| c.view()).collect())
            .unwrap_or_default();
        EngineView {
            id: self.id.clone(),
            kind: self.spec.kind,
            name: self.spec.name.clone(),
            behavior: self.spec.behavior,
            state,
            error,
            local,
            target: self.spec.target.clone(),
            peer,
            bind: self.spec.bind.clone(),
            options: Options {
                // What the datagrams follow now: a PATCH may have changed it since the start.
                impair: self
                    .impair_settings()
                    .or(self.spec.options.impair.filter(|i| i.is_off())),
                ..self.spec.options.clone()
            },
            created: format_time(self.created),
            stats: self.stats.view(),
            connections,
        }
    }

    fn not_running(&self) -> ApiError {
        ApiError::NotRunning(format!(
            "engine {} is not running; start it with POST /api/engines/{}/start",
            self.id, self.id
        ))
    }
}
