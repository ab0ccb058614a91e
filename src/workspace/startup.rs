//! Making the set of workspaces at startup: the data directory opened and locked, the class
//! code and instructor token kept or made, every kept workspace loaded with its engines
//! stopped, and the home workspace made if there was none.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio_util::sync::CancellationToken;

use super::join::{Attempts, new_code};
use super::set::{Class, Inner};
use super::store::{OpenError, SavedClass, SavedWorkspace, Store};
use super::{Kind, Parts, Workspace, Workspaces, from_hex, random_hex};
use crate::capture::Capture;
use crate::config::Config;
use crate::engine::Env;
use crate::files::Files;
use crate::registry::Registry;

/// What startup found, for the lines printed at startup.
#[derive(Debug, Default)]
pub struct Startup {
    /// The access (instructor) token, if one is required.
    pub token: Option<String>,
    /// The class code, in class mode.
    pub class_code: Option<String>,
    /// Files that could not be loaded, and engines that could not be restored as they were.
    pub problems: Vec<String>,
    /// Why nothing is kept on disk, when a data directory was asked for and is unusable.
    pub not_kept: Option<String>,
}

/// A workspace's files, in `root/ID`.
pub(super) fn files_for(
    root: &std::path::Path,
    id: &str,
    config: &Config,
    kind: Kind,
) -> Arc<Files> {
    let bytes = match (&config.class, kind) {
        (Some(class), Kind::Student) => class.ws_files_bytes,
        _ => config.limits.files_bytes,
    };
    let quota = crate::files::Quota::new(config.limits.max_files, bytes);
    Arc::new(Files::open(root.join(id), config.limits.max_file, quota))
}

impl Workspaces {
    /// Opens the data directory (if any), loads every kept workspace with its engines
    /// stopped, and makes the home workspace (`default`, or `instructor` in class mode).
    pub async fn open(
        config: Arc<Config>,
        root: CancellationToken,
        closing: CancellationToken,
        base_url: String,
    ) -> Result<(Workspaces, Startup), String> {
        let mut startup = Startup::default();
        let mode = if config.class.is_some() {
            "class"
        } else {
            "personal"
        };
        let store = match &config.data_dir {
            None => None,
            Some(dir) => match Store::open(dir, mode) {
                Ok(s) => Some(Arc::new(s)),
                Err(OpenError::Locked(d)) if config.class.is_none() => {
                    startup.not_kept = Some(format!(
                        "{} is in use by another socketlab, so this one keeps nothing on disk; \
                         give it its own --data-dir to keep its engines",
                        d.display()
                    ));
                    None
                }
                Err(e @ OpenError::Locked(_)) => {
                    return Err(format!(
                        "{e}; a class needs its data directory to itself: stop the other one, or \
                         give this one its own --data-dir"
                    ));
                }
                Err(e) => return Err(e.to_string()),
            },
        };
        let saved_class = match &store {
            Some(s) if config.class.is_some() => s.load_class()?,
            _ => None,
        };
        let token = match (&config.class, &config.access.token) {
            (_, Some(t)) => Some(t.clone()),
            (Some(_), None) => Some(match saved_class.as_ref().and_then(|c| c.token.clone()) {
                Some(t) => t,
                None => random_hex(24).map_err(|e| e.to_string())?,
            }),
            (None, None) => None,
        };
        let class = match &config.class {
            None => None,
            Some(cfg) => {
                let code = match &saved_class {
                    Some(c) => c.code.clone(),
                    None => new_code().map_err(|e| e.to_string())?,
                };
                if let Some(store) = &store {
                    let keep = SavedClass {
                        code: code.clone(),
                        token: config
                            .access
                            .token
                            .is_none()
                            .then(|| token.clone())
                            .flatten(),
                    };
                    if saved_class.as_ref() != Some(&keep) {
                        store
                            .save_class(&keep)
                            .map_err(|e| format!("cannot write the class file: {e}"))?;
                    }
                }
                Some(Class {
                    config: cfg.clone(),
                    code,
                    attempts: Attempts::new(cfg.join_attempts_per_minute),
                })
            }
        };
        // Files live beside the workspaces; with nothing kept on disk, in a directory of this
        // run's own, removed at shutdown.
        let store_is_none = store.is_none();
        let files_root = match &store {
            Some(s) => s.dir().join("files"),
            None => std::env::temp_dir().join(format!(
                "socketlab-{}-{}-files",
                std::process::id(),
                random_hex(4).map_err(|e| e.to_string())?
            )),
        };
        let (saved, broken, problems) = match &store {
            Some(s) => s.load(),
            None => (Vec::new(), Vec::new(), Vec::new()),
        };
        startup.problems = problems;
        let home_id = if class.is_some() {
            "instructor"
        } else {
            "default"
        };
        if let Some(b) = broken.iter().find(|b| b.id == home_id) {
            startup.problems.push(format!(
                "the {home_id} workspace's file did not load, so it starts empty; what it held is kept, unchanged, in {}",
                b.moved_to.display()
            ));
        }
        let mut home = None;
        let mut loaded = Vec::new();
        let mut broken = broken;
        // Two files that claim one port block (a hand edit): the older workspace keeps it,
        // the other loads without ports until the instructor resets or removes it.
        let mut saved = saved;
        saved.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        let mut claimed: HashMap<usize, String> = HashMap::new();
        for w in saved.iter_mut() {
            let Some(n) = w.block else { continue };
            if let Some(first) = claimed.get(&n) {
                startup.problems.push(format!(
                    "workspace {} ({}): its port block {n} is workspace {first}'s too; it has no ports until the instructor removes it",
                    w.id, w.name
                ));
                w.block = Some(usize::MAX);
            } else {
                claimed.insert(n, w.id.clone());
            }
        }
        for w in saved {
            let Some(kind) = Kind::parse(&w.kind) else {
                startup.problems.push(format!(
                    "workspace {}: unknown kind {:?}; not loaded",
                    w.id, w.kind
                ));
                continue;
            };
            let ws = Self::restore(
                &config,
                &root,
                &closing,
                &store,
                &files_root,
                &w,
                kind,
                &mut startup,
            )
            .await;
            if *ws.id == *home_id {
                home = Some(ws);
            } else if kind == Kind::Student && class.is_some() {
                loaded.push(ws);
            } else {
                startup.problems.push(format!(
                    "workspace file for {} does not belong in {mode} mode; not loaded",
                    w.id
                ));
                broken.push(super::store::Broken {
                    id: w.id.clone(),
                    block: w.block,
                    moved_to: store
                        .as_ref()
                        .map(|s| s.dir().join("workspaces").join(format!("{}.json", w.id)))
                        .unwrap_or_default(),
                    why: format!("it is not a {mode} mode workspace"),
                });
            }
        }
        let home = match home {
            Some(h) => h,
            None => {
                let kind = if class.is_some() {
                    Kind::Instructor
                } else {
                    Kind::Personal
                };
                let name = if class.is_some() {
                    "Instructor"
                } else {
                    "My workspace"
                };
                let ws = Self::build(
                    &store,
                    Parts {
                        id: home_id.into(),
                        kind,
                        name: name.into(),
                        created: SystemTime::now(),
                        last_active: SystemTime::now(),
                        registry: Self::registry(
                            &config,
                            &root,
                            kind,
                            None,
                            files_for(&files_root, home_id, &config, kind),
                        ),
                        closing: closing.child_token(),
                        block: None,
                        sessions: Vec::new(),
                        invite: None,
                        watch: random_hex(16).map_err(|e| e.to_string())?,
                        store: None,
                        labs: Vec::new(),
                        next_lab: 1,
                    },
                );
                if let Err(e) = ws.save().await {
                    startup.problems.push(format!("workspace {home_id}: {e}"));
                }
                ws
            }
        };
        startup.token = token.clone();
        startup.class_code = class.as_ref().map(|c| c.code.clone());
        let set = Workspaces {
            inner: Arc::new(Inner {
                config,
                class,
                token,
                home: home.clone(),
                map: Mutex::new(BTreeMap::new()),
                creds: Mutex::new(HashMap::new()),
                store,
                root,
                closing,
                base_url,
                files_root,
                temp_files: store_is_none,
                // The home workspace's own file, if it was the broken one, was moved aside
                // like the rest: a fresh one takes its place (said above), nothing is lost.
                broken: Mutex::new(broken.into_iter().filter(|b| b.id != home_id).collect()),
            }),
        };
        set.insert(home);
        for ws in loaded {
            set.insert(ws);
        }
        Ok((set, startup))
    }

    /// The config a workspace of `kind` runs under: the server's, or a student's limits and
    /// port block.
    pub(super) fn config_for(base: &Config, kind: Kind, block: Option<(u16, u16)>) -> Config {
        let mut c = base.clone();
        if let (Kind::Student, Some(class)) = (kind, &base.class) {
            c.limits.max_engines = class.ws_max_engines;
            c.limits.history_bytes = class.ws_history_bytes.min(c.limits.history_bytes);
            c.policy.port_block = block;
            c.policy.class_ports = Some(class.ports);
        }
        c
    }

    pub(super) fn registry(
        base: &Config,
        root: &CancellationToken,
        kind: Kind,
        block: Option<(u16, u16)>,
        files: Arc<Files>,
    ) -> Registry {
        let config = Self::config_for(base, kind, block);
        let l = &config.limits;
        let capture = Capture::new(l.history, l.history_bytes, l.preview);
        let mut env = Env::new(capture, files, Arc::new(config.clone()), root.clone());
        if let (Kind::Student, Some(class)) = (kind, &config.class) {
            env = env.with_budgets(class.ws_bytes_per_sec, class.ws_max_connections);
        }
        Registry::new(Arc::new(env))
    }

    pub(super) fn build(store: &Option<Arc<Store>>, mut parts: Parts) -> Arc<Workspace> {
        parts.store = store.clone();
        Arc::new(Workspace::new(parts))
    }

    #[allow(clippy::too_many_arguments)]
    async fn restore(
        config: &Arc<Config>,
        root: &CancellationToken,
        closing: &CancellationToken,
        store: &Option<Arc<Store>>,
        files_root: &std::path::Path,
        w: &SavedWorkspace,
        kind: Kind,
        startup: &mut Startup,
    ) -> Arc<Workspace> {
        let block_range = match (kind, w.block, &config.class) {
            (Kind::Student, Some(n), Some(class)) => class.block(n),
            _ => None,
        };
        if kind == Kind::Student && block_range.is_none() {
            startup.problems.push(format!(
                "workspace {} ({}): its port block {:?} is outside --ports now; it has no ports until the instructor resets it",
                w.id, w.name, w.block
            ));
        }
        // A student whose block no longer exists gets an empty one: nothing to bind until the
        // instructor removes the workspace.
        let empty = (kind == Kind::Student).then_some((1, 0));
        let registry = Self::registry(
            config,
            root,
            kind,
            block_range.or(empty),
            files_for(files_root, &w.id, config, kind),
        );
        let next = u32::try_from(w.next_engine).unwrap_or(u32::MAX);
        for p in registry.restore(&w.engines, next).await {
            startup
                .problems
                .push(format!("workspace {} ({}): {p}", w.id, w.name));
        }
        let time = |s: &str| humantime::parse_rfc3339(s).unwrap_or_else(|_| SystemTime::now());
        Self::build(
            store,
            Parts {
                id: w.id.clone().into(),
                kind,
                name: w.name.clone(),
                created: time(&w.created),
                last_active: time(&w.last_active),
                registry,
                closing: closing.child_token(),
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
            },
        )
    }
}
