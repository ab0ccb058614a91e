//! The one place a workspace is built, for startup (restored from its file, or the home
//! workspace made fresh) and for joins (a student's made fresh): its config (a student's
//! limits and port block), its capture, files and engine registry, and its tokens under the
//! server's.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use tokio_util::sync::CancellationToken;

use super::store::{SavedWorkspace, Store};
use super::{Digest, Parts, Workspace, WorkspaceKind, from_hex};
use crate::capture::Capture;
use crate::config::Config;
use crate::engine::Env;
use crate::files::Files;
use crate::registry::Registry;

/// What every workspace of one server is built with.
pub(super) struct Maker {
    /// The server's config.
    pub config: Arc<Config>,
    /// Cancelled at shutdown: every engine's run is under it.
    root: CancellationToken,
    /// Cancelled when the server closes: each workspace's own token is its child.
    pub closing: CancellationToken,
    /// Where workspaces are kept, if anywhere.
    pub store: Option<Arc<Store>>,
    /// Where each workspace's files go, in a folder of its id.
    pub files_root: PathBuf,
}

/// What a new workspace starts with (the rest is fresh).
pub(super) struct Fresh<'a> {
    pub id: Arc<str>,
    pub kind: WorkspaceKind,
    pub name: &'a str,
    /// Its port block's number (a student's).
    pub block: Option<usize>,
    pub invite: Option<Digest>,
    pub watch: String,
}

impl Maker {
    pub fn new(
        config: Arc<Config>,
        root: CancellationToken,
        closing: CancellationToken,
        store: Option<Arc<Store>>,
        files_root: PathBuf,
    ) -> Self {
        Self {
            config,
            root,
            closing,
            store,
            files_root,
        }
    }

    /// A workspace made now, with no engines.
    pub fn fresh(&self, f: Fresh<'_>) -> Arc<Workspace> {
        let range = f.block.and_then(|n| self.block_range(n));
        let now = SystemTime::now();
        self.build(Parts {
            registry: self.registry(f.kind, range, &f.id),
            id: f.id,
            kind: f.kind,
            name: f.name.to_string(),
            created: now,
            last_active: now,
            closing: self.closing.child_token(),
            block: f.block,
            sessions: Vec::new(),
            invite: f.invite,
            watch: f.watch,
            store: None,
            labs: Vec::new(),
            next_lab: 1,
            runs: (None, Vec::new()),
        })
    }

    /// A workspace as its file kept it, its engines stopped; what could not be restored as
    /// it was goes into `problems`.
    pub async fn restore(
        &self,
        w: &SavedWorkspace,
        kind: WorkspaceKind,
        problems: &mut Vec<String>,
    ) -> Arc<Workspace> {
        let range = match (kind, w.block) {
            (WorkspaceKind::Student, Some(n)) => self.block_range(n),
            _ => None,
        };
        if kind == WorkspaceKind::Student && range.is_none() {
            problems.push(format!(
                "workspace {} ({}): its port block {:?} is outside --ports now; it has no ports until the instructor resets it",
                w.id, w.name, w.block
            ));
        }
        // A student whose block no longer exists gets an empty one: nothing to bind until the
        // instructor removes the workspace.
        let empty = (kind == WorkspaceKind::Student).then_some((1, 0));
        let registry = self.registry(kind, range.or(empty), &w.id);
        let next = u32::try_from(w.next_engine).unwrap_or(u32::MAX);
        for p in registry.restore(&w.engines, next).await {
            problems.push(format!("workspace {} ({}): {p}", w.id, w.name));
        }
        let time = |s: &str| humantime::parse_rfc3339(s).unwrap_or_else(|_| SystemTime::now());
        self.build(Parts {
            id: w.id.clone().into(),
            kind,
            name: w.name.clone(),
            created: time(&w.created),
            last_active: time(&w.last_active),
            registry,
            closing: self.closing.child_token(),
            block: w.block,
            sessions: w
                .secrets_sha256
                .iter()
                .filter_map(|h| from_hex(h))
                .collect(),
            invite: w.invite_sha256.as_deref().and_then(from_hex),
            watch: w.watch.clone(),
            store: None,
            labs: w.labs.clone(),
            next_lab: w.next_lab,
            runs: (w.run.clone(), w.runs.clone()),
        })
    }

    fn block_range(&self, n: usize) -> Option<(u16, u16)> {
        self.config.class.as_ref().and_then(|c| c.block(n))
    }

    fn build(&self, mut parts: Parts) -> Arc<Workspace> {
        parts.store = self.store.clone();
        Arc::new(Workspace::new(parts))
    }

    /// The config a workspace of `kind` runs under: the server's, or a student's limits and
    /// port block.
    fn config_for(&self, kind: WorkspaceKind, block: Option<(u16, u16)>) -> Config {
        let mut c = Config::clone(&self.config);
        if let (WorkspaceKind::Student, Some(class)) = (kind, &self.config.class) {
            c.limits.max_engines = class.ws_max_engines;
            c.limits.history_bytes = class.ws_history_bytes.min(c.limits.history_bytes);
            c.policy.port_block = block;
            c.policy.class_ports = Some(class.ports);
        }
        c
    }

    fn registry(&self, kind: WorkspaceKind, block: Option<(u16, u16)>, id: &str) -> Registry {
        let config = self.config_for(kind, block);
        let l = &config.limits;
        let capture = Capture::new(l.history, l.history_bytes, l.preview);
        let files = self.files_for(id, kind);
        let mut env = Env::new(capture, files, Arc::new(config.clone()), self.root.clone());
        if let (WorkspaceKind::Student, Some(class)) = (kind, &config.class) {
            env = env.with_budgets(class.ws_bytes_per_sec, class.ws_max_connections);
        }
        Registry::new(Arc::new(env))
    }

    /// A workspace's files, in `files_root/ID`.
    fn files_for(&self, id: &str, kind: WorkspaceKind) -> Arc<Files> {
        let config = &self.config;
        let bytes = match (&config.class, kind) {
            (Some(class), WorkspaceKind::Student) => class.ws_files_bytes,
            _ => config.limits.files_bytes,
        };
        let quota = crate::files::Quota::new(config.limits.max_files, bytes);
        Arc::new(Files::open(
            self.files_root.join(id),
            config.limits.max_file,
            quota,
        ))
    }
}
