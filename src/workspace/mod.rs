//! Workspaces: the unit that owns engines and events. Each has its own registry of engines,
//! its own capture (its own `seq`, history and viewers), its own limits and budgets, and,
//! with a data directory, its own file on disk.
//!
//! - [`set`]: every workspace of the server; credentials, joining, removal, the janitor.
//! - [`startup`]: the set made from the data directory at startup.
//! - [`join`]: the class code and the rate limit on wrong guesses of it.
//! - [`store`]: files on disk, written atomically.
//!
//! Nothing here knows about HTTP; `web` finds the caller's workspace once, in the guard, and
//! every handler works inside it.

pub mod handout;
pub mod join;
pub mod labs;
mod maker;
pub mod names;
mod progress;
mod save;
mod secrets;
pub mod set;
pub mod startup;
pub mod store;
pub use progress::{RunView, StepView};
pub use save::SAVE_RETRY;
use secrets::Secrets;
mod view;

use crate::ids::EngineId;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::capture::Capture;
use crate::engine::{Engine, EngineSpec, EngineView};
use crate::error::ApiError;

use crate::registry::Registry;
pub use set::Workspaces;
use store::Store;
pub use view::{CaptureView, ClassView, LimitsView, WorkspaceSummary, WorkspaceView};

/// Who a request acts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Personal mode's one user: the token (or no token) opens the `default` workspace.
    Owner,
    /// Class mode's token holder: its own workspace, and every other read-only.
    Instructor,
    /// A student who joined: its own workspace only.
    Student,
    /// A watch link: one workspace, read-only.
    Watcher,
}

impl Role {
    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Instructor => "instructor",
            Self::Student => "student",
            Self::Watcher => "watcher",
        }
    }
}

/// What a workspace is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkspaceKind {
    /// Personal mode's `default`.
    Personal,
    /// Class mode's `instructor`.
    Instructor,
    /// A student's, in class mode.
    Student,
}

impl WorkspaceKind {
    fn name(self) -> &'static str {
        match self {
            Self::Personal => "personal",
            Self::Instructor => "instructor",
            Self::Student => "student",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "personal" => Some(Self::Personal),
            "instructor" => Some(Self::Instructor),
            "student" => Some(Self::Student),
            _ => None,
        }
    }
}

pub use crate::secret::{Digest, digest, from_hex, to_hex};

/// `bytes` random bytes from the OS, as hex.
pub fn random_hex(bytes: usize) -> Result<String, ApiError> {
    crate::secret::random_hex(bytes).map_err(ApiError::internal)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn time_of_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// When a workspace was last used, and how busy it is.
#[derive(Debug, Default)]
struct Activity {
    /// Unix ms of the last request, viewer or event seen.
    last_active: AtomicU64,
    /// The capture's published count when the janitor last looked.
    seen_published: AtomicU64,
    /// Events per second over the janitor's last interval, times 1000.
    rate_milli: AtomicU64,
    /// `last_active` as last written to disk.
    saved_active: AtomicU64,
    /// Whether the last save failed (the disk is full or read-only): the state in memory is
    /// ahead of the file until a save succeeds.
    unsaved: std::sync::atomic::AtomicBool,
    /// Unix ms of the last save tried, so the janitor retries every [`SAVE_RETRY`].
    save_tried: AtomicU64,
}

/// One workspace.
pub struct Workspace {
    /// `default`, `instructor`, or a student's random id.
    pub id: Arc<str>,
    /// What it is for.
    pub kind: WorkspaceKind,
    name: Mutex<String>,
    created: SystemTime,
    registry: Registry,
    viewers: Arc<AtomicUsize>,
    watchers: Arc<AtomicUsize>,
    closing: CancellationToken,
    block: Option<usize>,
    secrets: Mutex<Secrets>,
    activity: Activity,
    store: Option<Arc<Store>>,
    // tokio Mutex: a save awaits its blocking write, and saves of one workspace must land
    // in the order their snapshots were taken.
    pub(crate) saving: tokio::sync::Mutex<()>,
    removed: std::sync::atomic::AtomicBool,
    labs: crate::labs::Shelf,
    progress: Arc<progress::Progress>,
    /// One pcap export at a time (see `web::pcap`).
    export_turn: tokio::sync::Semaphore,
    /// A student's requests a second, and its watchers' (class mode).
    requests: Option<[crate::engine::budget::Throttle; 2]>,
    /// Places for large answers being sent: the owner's (and the instructor's), and the
    /// watchers'.
    big_answers: [Arc<tokio::sync::Semaphore>; 2],
}

/// An answer of more bytes than this is a large one (see [`Workspace::big_answer`]).
pub const BIG_ANSWER: u64 = 64 * 1024;
/// Large answers one workspace may have being sent at once, per side.
pub const BIG_ANSWERS: usize = 4;

/// The longest a request waits for its workspace's request budget; past it, `429`.
pub const MAX_REQUEST_WAIT: Duration = Duration::from_secs(1);

/// How to make a workspace; see [`Workspace::new`].
pub(crate) struct Parts {
    pub id: Arc<str>,
    pub kind: WorkspaceKind,
    pub name: String,
    pub created: SystemTime,
    pub last_active: SystemTime,
    pub registry: Registry,
    pub closing: CancellationToken,
    pub block: Option<usize>,
    pub sessions: Vec<Digest>,
    pub invite: Option<Digest>,
    pub watch: String,
    pub store: Option<Arc<Store>>,
    pub labs: Vec<crate::labs::Lab>,
    pub next_lab: u64,
    /// The current lab run and the earlier ones.
    pub runs: (Option<crate::labs::run::Run>, Vec<crate::labs::run::Run>),
}

impl Workspace {
    pub(crate) fn new(p: Parts) -> Self {
        let last = p
            .last_active
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let requests = match (&p.registry.env().config.class, p.kind) {
            (Some(class), WorkspaceKind::Student) => {
                let b = || {
                    crate::engine::budget::Throttle::with_burst(
                        class.ws_requests_per_sec,
                        Duration::from_secs(1),
                    )
                };
                Some([b(), b()])
            }
            _ => None,
        };
        let ws = Self {
            id: p.id,
            kind: p.kind,
            name: Mutex::new(p.name),
            created: p.created,
            registry: p.registry,
            viewers: Arc::new(AtomicUsize::new(0)),
            watchers: Arc::new(AtomicUsize::new(0)),
            closing: p.closing,
            block: p.block,
            secrets: Mutex::new(Secrets {
                sessions: p.sessions,
                invite: p.invite,
                watch: p.watch,
                watch_revoked: CancellationToken::new(),
                session_revoked: std::collections::HashMap::new(),
            }),
            activity: Activity::default(),
            store: p.store,
            saving: tokio::sync::Mutex::new(()),
            removed: std::sync::atomic::AtomicBool::new(false),
            labs: crate::labs::Shelf::new(p.labs, p.next_lab),
            progress: Arc::new(progress::Progress::new(p.runs.0, p.runs.1)),
            export_turn: tokio::sync::Semaphore::new(1),
            requests,
            big_answers: [
                Arc::new(tokio::sync::Semaphore::new(BIG_ANSWERS)),
                Arc::new(tokio::sync::Semaphore::new(BIG_ANSWERS)),
            ],
        };
        ws.activity.last_active.store(last, Relaxed);
        ws.activity.saved_active.store(last, Relaxed);
        // A run kept across a restart is checked again, from the new capture's start.
        ws.watch_run(0);
        ws
    }

    /// A request of `role` to this workspace: `Ok(wait)` to go on after `wait`, or `429` when
    /// its budget (`--ws-requests-per-sec`) is more than [`MAX_REQUEST_WAIT`] away. Only a
    /// student's workspace has one; a watcher has its own, so a room of watchers cannot
    /// slow the student.
    pub fn pace_request(&self, role: Role) -> Result<Option<Duration>, ApiError> {
        let Some(budgets) = &self.requests else {
            return Ok(None);
        };
        let (b, who) = match role {
            Role::Watcher => (&budgets[1], "this workspace's watchers"),
            Role::Student => (&budgets[0], "this workspace"),
            _ => return Ok(None),
        };
        b.take_within(1, MAX_REQUEST_WAIT).map_err(|wait| {
            ApiError::too_many_requests(
                format!(
                    "{who} made more than {} requests a second (--ws-requests-per-sec); wait a moment and try again",
                    b.rate()
                ),
                wait.as_secs().max(1),
            )
        })
    }

    /// A place for a large answer (over [`BIG_ANSWER`] bytes) to `role`, held until the
    /// answer is sent; `429` when [`BIG_ANSWERS`] are being sent already: clients that ask and
    /// do not read cannot make the server hold more than that of this workspace's answers.
    pub fn big_answer(&self, role: Role) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        let side = usize::from(role == Role::Watcher);
        self.big_answers[side]
            .clone()
            .try_acquire_owned()
            .map_err(|_| {
                ApiError::too_many_requests(
                    format!(
                        "{BIG_ANSWERS} large answers are being sent to this workspace already and not yet read; read them (or close those connections), then ask again"
                    ),
                    1,
                )
            })
    }

    /// Display name.
    pub fn name(&self) -> String {
        self.name
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every event of the workspace.
    pub fn capture(&self) -> &Capture {
        &self.registry.env().capture
    }

    /// The workspace's files.
    pub fn files(&self) -> &Arc<crate::files::Files> {
        &self.registry.env().files
    }

    /// Limits and policy in force for this workspace.
    pub fn config(&self) -> &crate::Config {
        &self.registry.env().config
    }

    /// Viewers connected now (the owner's and the instructor's), for `--max-viewers`.
    pub fn viewers(&self) -> &Arc<AtomicUsize> {
        &self.viewers
    }

    /// Taken by a pcap export for its run, so a workspace makes one at a time.
    pub fn export_turn(&self) -> &tokio::sync::Semaphore {
        &self.export_turn
    }

    /// Watch links' viewers connected now, for `--max-watchers`.
    pub fn watchers(&self) -> &Arc<AtomicUsize> {
        &self.watchers
    }

    /// Cancelled when the workspace is removed or the server has stopped its engines, so its
    /// viewers' streams end.
    pub fn closing(&self) -> &CancellationToken {
        &self.closing
    }

    /// Its port block, `(LO, HI)`.
    pub fn port_range(&self) -> Option<(u16, u16)> {
        self.config().policy.port_block
    }

    /// The watch id.
    pub fn watch_id(&self) -> String {
        self.secrets().watch.clone()
    }

    /// Marks the workspace active now (a request, a viewer, traffic).
    pub fn touch(&self) {
        self.activity.last_active.store(now_ms(), Relaxed);
    }

    /// When it was last active.
    pub fn last_active(&self) -> SystemTime {
        time_of_ms(self.activity.last_active.load(Relaxed))
    }

    /// One engine, or `404` naming the engines there are.
    pub fn engine(&self, id: EngineId) -> Result<Arc<Engine>, ApiError> {
        self.registry.get(id)
    }

    /// Every engine, as the API shows them.
    pub fn engines(&self) -> Vec<EngineView> {
        self.registry.list()
    }

    /// Every engine as kept on disk (the spec as it is now, a `PATCH`ed impairment too).
    pub fn saved_engines(&self) -> Vec<crate::engine::SavedEngine> {
        self.registry.saved()
    }

    /// The labs this workspace has saved.
    pub fn labs(&self) -> &crate::labs::Shelf {
        &self.labs
    }

    fn gone(&self) -> ApiError {
        ApiError::not_found(format!("workspace {} was removed", self.id))
    }

    /// Creates and starts an engine, and keeps its spec on disk. The engine made, and
    /// whether it could be written (`Err(not_saved)`: it runs all the same).
    pub async fn create_engine(
        &self,
        spec: EngineSpec,
    ) -> Result<(EngineView, Result<(), ApiError>), ApiError> {
        if self.removed.load(Relaxed) {
            return Err(self.gone());
        }
        if let Some(f) = spec.options.file {
            self.files().get(f).map_err(|_| {
                ApiError::invalid_spec(format!(
                    "field options.file: no file {f} in this workspace; upload one (POST /api/files, or the Files panel) and give its id"
                )).at("options.file")
            })?;
        }
        let view = self.registry.create(spec).await?;
        // Removed while the engine started: it must not outlive its workspace. (Removal sets
        // the flag before it stops the engines, so one of the two always catches it.)
        if self.removed.load(Relaxed) {
            self.registry.delete_all().await;
            return Err(self.gone());
        }
        let saved = self.save().await;
        Ok((view, saved))
    }

    /// Stops and removes an engine, and from disk.
    pub async fn delete_engine(&self, id: EngineId) -> Result<(), ApiError> {
        self.registry.delete(id).await?;
        self.save().await
    }

    /// Stops and deletes every engine.
    pub async fn reset(&self) -> Result<(), ApiError> {
        self.registry.delete_all().await;
        self.save().await
    }

    /// Stops every engine, saying why in their `stopped` events.
    pub async fn stop_engines(&self, reason: Option<&str>) {
        self.registry.stop_all(reason).await;
    }

    /// Marks the workspace removed: no engine is created in it from now on, and every stream
    /// opened with its credentials ends now.
    pub(crate) fn mark_removed(&self) {
        self.removed.store(true, Relaxed);
        self.revoke_all();
    }

    /// Stops every engine and ends its viewers' streams: the server is shutting down or the
    /// workspace is being removed.
    pub(crate) async fn close(&self) {
        self.registry.shutdown().await;
        self.closing.cancel();
    }

    /// Whether the workspace was removed (its streams end as revoked, not as a shutdown).
    pub fn is_removed(&self) -> bool {
        self.removed.load(Relaxed)
    }

    /// Samples the capture: events per second since the last call `dt` ago; traffic is activity.
    pub(crate) fn sample(&self, dt: Duration) {
        let published = self.capture().published();
        let before = self.activity.seen_published.swap(published, Relaxed);
        let delta = published.saturating_sub(before);
        let rate = delta as f64 / dt.as_secs_f64().max(0.001);
        self.activity
            .rate_milli
            .store((rate * 1000.0) as u64, Relaxed);
        if delta > 0 || self.viewers.load(Relaxed) + self.watchers.load(Relaxed) > 0 {
            self.touch();
        }
    }

    /// Whether any engine is running.
    pub fn any_running(&self) -> bool {
        self.registry.all().iter().any(|e| e.is_running())
    }

    fn url(base: &str, path: &str) -> String {
        format!("{}{path}", base.trim_end_matches('/'))
    }
}
