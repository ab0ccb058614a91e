//! Making the set of workspaces at startup: the data directory opened and locked, the class
//! code and instructor token kept or made, every kept workspace loaded with its engines
//! stopped, and the home workspace made if there was none.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::join::{Attempts, new_code};
use super::maker::{Fresh, Maker};
use super::set::{Class, Inner};
use super::store::{OpenError, SavedClass, Store};
use super::{WorkspaceKind, Workspaces, random_hex};
use crate::config::Config;

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
                        handout: saved_class.as_ref().and_then(|c| c.handout.clone()),
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
                    handout: std::sync::Mutex::new(
                        saved_class.as_ref().and_then(|c| c.handout.clone()),
                    ),
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
        let maker = Maker::new(config.clone(), root, closing, store, files_root);
        let store = &maker.store;
        let (saved, broken, problems) = match store {
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
            let Some(kind) = WorkspaceKind::parse(&w.kind) else {
                startup.problems.push(format!(
                    "workspace {}: unknown kind {:?}; not loaded",
                    w.id, w.kind
                ));
                continue;
            };
            let ws = maker.restore(&w, kind, &mut startup.problems).await;
            if *ws.id == *home_id {
                home = Some(ws);
            } else if kind == WorkspaceKind::Student && class.is_some() {
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
                    WorkspaceKind::Instructor
                } else {
                    WorkspaceKind::Personal
                };
                let name = if class.is_some() {
                    "Instructor"
                } else {
                    "My workspace"
                };
                let ws = maker.fresh(Fresh {
                    id: home_id.into(),
                    kind,
                    name,
                    block: None,
                    invite: None,
                    watch: random_hex(16).map_err(|e| e.to_string())?,
                });
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
                class,
                token,
                home: home.clone(),
                map: Mutex::new(BTreeMap::new()),
                creds: Mutex::new(HashMap::new()),
                base_url,
                temp_files: store_is_none,
                // The home workspace's own file, if it was the broken one, was moved aside
                // like the rest: a fresh one takes its place (said above), nothing is lost.
                broken: Mutex::new(broken.into_iter().filter(|b| b.id != home_id).collect()),
                maker,
            }),
        };
        set.insert(home);
        for ws in loaded {
            set.insert(ws);
        }
        Ok((set, startup))
    }
}
