//! Every workspace of the server (made at startup, in `startup`): found by credential,
//! joined, created, reset and removed, and kept tidy by the janitor (idle stop, expiry,
//! counters).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use super::join::{Attempts, normalize};

use super::{ClassView, Digest, Role, Workspace, WorkspaceKind, digest, random_hex};
use crate::config::{ClassConfig, Config};
use crate::error::ApiError;
use crate::secret::ct_eq;

/// How often the janitor writes a workspace's activity time, at most.
const ACTIVITY_SAVE_SLACK: Duration = Duration::from_secs(60);

/// What a digest in the credential index opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Grant {
    Session,
    Invite,
    Watch,
}

pub(super) struct Class {
    pub(super) config: ClassConfig,
    pub(super) code: String,
    pub(super) attempts: Attempts,
    /// A lab handed out to all, for those who join later.
    pub(super) handout: Mutex<Option<super::handout::Handout>>,
}

pub(super) struct Inner {
    pub(super) class: Option<Class>,
    pub(super) token: Option<String>,
    pub(super) home: Arc<Workspace>,
    pub(super) map: Mutex<BTreeMap<Arc<str>, Arc<Workspace>>>,
    pub(super) creds: Mutex<HashMap<Digest, (Arc<str>, Grant)>>,
    pub(super) base_url: String,
    /// Whether the files are this run's alone (no data directory): removed at shutdown.
    pub(super) temp_files: bool,
    /// Student workspace files that did not load, moved aside: their port blocks stay
    /// reserved until the instructor removes them.
    pub(super) broken: Mutex<Vec<super::store::Broken>>,
    /// Builds each workspace (config, capture, files, registry) the same way.
    pub(super) maker: super::maker::Maker,
}

/// Every workspace; a cheap-to-clone handle.
#[derive(Clone)]
pub struct Workspaces {
    pub(super) inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Workspaces {
    pub(super) fn insert(&self, ws: Arc<Workspace>) {
        let (sessions, invite, watch) = ws.credentials();
        {
            let mut creds = lock(&self.inner.creds);
            for s in sessions {
                creds.insert(s, (ws.id.clone(), Grant::Session));
            }
            if let Some(i) = invite {
                creds.insert(i, (ws.id.clone(), Grant::Invite));
            }
            creds.insert(digest(&watch), (ws.id.clone(), Grant::Watch));
        }
        lock(&self.inner.map).insert(ws.id.clone(), ws);
    }

    /// Whether this is class mode.
    pub fn is_class(&self) -> bool {
        self.inner.class.is_some()
    }

    /// The server's configuration.
    pub fn config(&self) -> &Arc<Config> {
        &self.inner.maker.config
    }

    /// The base of every URL socketlab prints or returns.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// Whether a token is required at all (not with `--no-token`).
    pub fn token_required(&self) -> bool {
        self.inner.token.is_some()
    }

    /// Whether `given` is the access (instructor) token.
    pub fn is_token(&self, given: &str) -> bool {
        self.inner
            .token
            .as_deref()
            .is_some_and(|t| ct_eq(given.as_bytes(), t.as_bytes()))
    }

    /// The workspace the token opens: `default`, or `instructor` in class mode.
    pub fn home(&self) -> &Arc<Workspace> {
        &self.inner.home
    }

    /// The role the token gives.
    pub fn token_role(&self) -> Role {
        if self.is_class() {
            Role::Instructor
        } else {
            Role::Owner
        }
    }

    /// The role and workspace a credential opens (the token, a student's session secret, or
    /// a watch id), and what ends the streams opened with it when it is revoked.
    pub fn authenticate(
        &self,
        credential: &str,
    ) -> Option<(Role, Arc<Workspace>, CancellationToken)> {
        if self.is_token(credential) {
            let home = self.inner.home.clone();
            let never = home.revocation(self.token_role(), &[0; 32]);
            return Some((self.token_role(), home, never));
        }
        let d = digest(credential);
        let (id, grant) = lock(&self.inner.creds).get(&d).cloned()?;
        let ws = self.get(&id)?;
        let role = match grant {
            Grant::Session => Role::Student,
            Grant::Watch => Role::Watcher,
            Grant::Invite => return None,
        };
        let revoked = ws.revocation(role, &d);
        Some((role, ws, revoked))
    }

    /// Whether `id` is a watch id in use.
    pub fn watch_exists(&self, id: &str) -> bool {
        self.authenticate(id)
            .is_some_and(|(role, _, _)| role == Role::Watcher)
    }

    /// A workspace by id.
    pub fn get(&self, id: &str) -> Option<Arc<Workspace>> {
        lock(&self.inner.map).get(id).cloned()
    }

    /// Every workspace: the home one first, then students by name.
    pub fn list(&self) -> Vec<Arc<Workspace>> {
        let mut all: Vec<Arc<Workspace>> = lock(&self.inner.map).values().cloned().collect();
        all.sort_by_cached_key(|w| {
            (
                w.kind == WorkspaceKind::Student,
                w.name().to_lowercase(),
                w.id.clone(),
            )
        });
        all
    }

    /// The class code and join link, in class mode.
    pub fn class_view(&self) -> Option<ClassView> {
        self.inner.class.as_ref().map(|c| ClassView {
            code: c.code.clone(),
            join_url: self.url(&format!("/join/{}", c.code)),
            not_loaded: lock(&self.inner.broken)
                .iter()
                .map(|b| super::view::NotLoaded {
                    id: b.id.clone(),
                    port_range: b
                        .block
                        .and_then(|n| c.config.block(n))
                        .map(|(lo, hi)| [lo, hi]),
                    moved_to: b.moved_to.display().to_string(),
                    why: b.why.clone(),
                })
                .collect(),
        })
    }

    /// An absolute URL on the public base.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.base_url.trim_end_matches('/'))
    }

    pub(super) fn class(&self) -> Result<&Class, ApiError> {
        self.inner.class.as_ref().ok_or_else(|| {
            ApiError::not_found(
                "this socketlab is not a class server (start it with --class to let students join)"
                    .into(),
            )
        })
    }

    /// `429` if `ip` has used up its wrong join attempts.
    pub fn check_attempts(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.class()?.attempts.check(ip)
    }

    /// What a join code opens: `Ok(None)` for the class code (a new workspace), `Ok(Some)`
    /// for a one-person link's workspace; a wrong code is counted against `ip`.
    pub fn check_code(&self, code: &str, ip: IpAddr) -> Result<Option<Arc<Workspace>>, ApiError> {
        let class = self.class()?;
        class.attempts.check(ip)?;
        if ct_eq(
            normalize(code).as_bytes(),
            normalize(&class.code).as_bytes(),
        ) {
            return Ok(None);
        }
        let invited = lock(&self.inner.creds).get(&digest(code.trim())).cloned();
        if let Some((id, Grant::Invite)) = invited
            && let Some(ws) = self.get(&id)
        {
            return Ok(Some(ws));
        }
        class.attempts.wrong(ip);
        Err(ApiError::forbidden(
            "that join code is not this class's; check the code, or open the whole join link \
             your instructor gave"
                .into(),
        ))
    }

    /// `POST /api/join`: the class code makes a new workspace named `name`; a one-person
    /// link's code opens its workspace. Returns it with a new session secret.
    pub async fn join(
        &self,
        code: &str,
        name: &str,
        ip: IpAddr,
    ) -> Result<(Arc<Workspace>, String, Result<(), ApiError>), ApiError> {
        let ws = match self.check_code(code, ip)? {
            Some(ws) => ws,
            None => {
                self.create_student(&super::names::check_display_name("name", name)?, false)
                    .await?
                    .0
            }
        };
        let secret = random_hex(24)?;
        let d = digest(&secret);
        let dropped = ws.add_session(d);
        {
            let mut creds = lock(&self.inner.creds);
            creds.insert(d, (ws.id.clone(), Grant::Session));
            if let Some(old) = dropped {
                creds.remove(&old);
            }
        }
        ws.touch();
        let saved = ws.save().await;
        Ok((ws, secret, saved))
    }

    /// Makes a student workspace (with a one-person join code when `invite`); returns it and
    /// the code.
    pub async fn create_student(
        &self,
        name: &str,
        invite: bool,
    ) -> Result<(Arc<Workspace>, Option<String>), ApiError> {
        let class = self.class()?;
        let invite_code = if invite { Some(random_hex(16)?) } else { None };
        let ws = {
            // One lock for the count, the id and the block, so two joins at once cannot take
            // the same block or both squeeze under the limit.
            let mut map = lock(&self.inner.map);
            super::names::check_name_free(&map, name)?;
            let students = map
                .values()
                .filter(|w| w.kind == WorkspaceKind::Student)
                .count();
            let max = class.config.max_workspaces;
            if students >= max {
                return Err(ApiError::limit_reached(format!(
                    "this class has {max} workspaces, the most allowed (--max-workspaces); ask \
                     the instructor to remove unused ones"
                )));
            }
            // A workspace that did not load keeps its block until the instructor removes it:
            // fixed and restarted, it must find its ports free.
            let mut used: std::collections::HashSet<usize> =
                map.values().filter_map(|w| w.block).collect();
            used.extend(lock(&self.inner.broken).iter().filter_map(|b| b.block));
            let block = (0..class.config.blocks())
                .find(|n| !used.contains(n))
                .ok_or_else(|| {
                    let (lo, hi) = class.config.ports;
                    ApiError::limit_reached(format!(
                        "every port block of --ports {lo}-{hi} ({} ports each) is taken; the \
                     instructor can widen --ports or remove unused workspaces",
                        class.config.ports_per_workspace
                    ))
                })?;
            let id: Arc<str> = loop {
                let id = format!("w{}", random_hex(4)?);
                if !map.contains_key(id.as_str()) {
                    break id.into();
                }
            };
            let ws = self.inner.maker.fresh(super::maker::Fresh {
                id: id.clone(),
                kind: WorkspaceKind::Student,
                name,
                block: Some(block),
                invite: invite_code.as_deref().map(digest),
                watch: random_hex(16)?,
            });
            map.insert(id, ws.clone());
            ws
        };
        {
            let (_, invite, watch) = ws.credentials();
            let mut creds = lock(&self.inner.creds);
            if let Some(i) = invite {
                creds.insert(i, (ws.id.clone(), Grant::Invite));
            }
            creds.insert(digest(&watch), (ws.id.clone(), Grant::Watch));
        }
        // A join saves again right after; the instructor's create is told by the caller.
        let _ = ws.save().await;
        self.give_late_joiner(&ws).await;
        Ok((ws, invite_code))
    }

    /// A new watch id for `ws`; the old one stops working at once.
    pub async fn regenerate_watch(&self, ws: &Arc<Workspace>) -> Result<String, ApiError> {
        let new = random_hex(16)?;
        {
            let mut creds = lock(&self.inner.creds);
            let old = ws.set_watch(new.clone());
            creds.remove(&digest(&old));
            creds.insert(digest(&new), (ws.id.clone(), Grant::Watch));
        }
        ws.save().await?;
        Ok(new)
    }

    fn not_found(id: &str) -> ApiError {
        let shown: String = id.chars().take(40).collect();
        ApiError::not_found(format!(
            "no workspace {shown}; GET /api/workspaces lists the workspaces there are"
        ))
    }

    /// A workspace the instructor names in a route.
    pub fn find(&self, id: &str) -> Result<Arc<Workspace>, ApiError> {
        self.get(id).ok_or_else(|| Self::not_found(id))
    }

    /// Stops and deletes a workspace's engines.
    pub async fn reset(&self, id: &str) -> Result<(), ApiError> {
        self.find(id)?.reset().await
    }

    /// Removes a workspace: its engines stop, its viewers' streams end, its credentials stop
    /// working, and its file goes.
    pub async fn remove(&self, id: &str) -> Result<(), ApiError> {
        // One that did not load: the reservation goes; the file moved aside stays on disk,
        // renamed so later starts no longer keep its ports.
        let gone = {
            let mut broken = lock(&self.inner.broken);
            broken
                .iter()
                .position(|b| b.id == id)
                .map(|at| broken.remove(at))
        };
        if let Some(b) = gone {
            if let Some(store) = self.inner.maker.store.clone() {
                let done = tokio::task::spawn_blocking(move || store.dismiss(&b)).await;
                if !matches!(done, Ok(Ok(()))) {
                    tracing::error!(workspace = %id, "marking the moved-aside file removed failed");
                }
            }
            return Ok(());
        }
        let ws = self.find(id)?;
        if Arc::ptr_eq(&ws, &self.inner.home) {
            return Err(ApiError::invalid_spec(
                "the instructor's own workspace cannot be removed; reset it instead".into(),
            ));
        }
        self.drop_workspace(&ws).await;
        Ok(())
    }

    async fn drop_workspace(&self, ws: &Arc<Workspace>) {
        ws.mark_removed();
        lock(&self.inner.map).remove(&ws.id);
        lock(&self.inner.creds).retain(|_, (id, _)| *id != ws.id);
        ws.close().await;
        ws.files().remove_all().await;
        if let Some(store) = self.inner.maker.store.clone() {
            // Taking the save lock waits out a save already writing.
            let _no_save_now = ws.saving.lock().await;
            let id = ws.id.to_string();
            let removed = tokio::task::spawn_blocking(move || store.remove(&id)).await;
            if !matches!(removed, Ok(Ok(()))) {
                tracing::error!(workspace = %ws.id, "removing the workspace's file failed");
            }
        }
    }

    /// One round of the janitor, `dt` after the last: counters, idle stop, expiry, and the
    /// activity times written now and then.
    pub async fn tidy(&self, dt: Duration) {
        let now = SystemTime::now();
        for ws in self.list() {
            ws.sample(dt);
            ws.retry_save().await;
            ws.save_if_progressed().await;
            let Some(class) = &self.inner.class else {
                continue;
            };
            let idle_for = now.duration_since(ws.last_active()).unwrap_or_default();
            if ws.kind == WorkspaceKind::Student && idle_for >= class.config.expire {
                tracing::info!(workspace = %ws.id, "removing a workspace idle past --expire");
                self.drop_workspace(&ws).await;
                continue;
            }
            if idle_for >= class.config.idle && ws.any_running() {
                let why = format!(
                    "the workspace was idle for {} (no request, viewer or traffic); start them again when you need them",
                    humantime::format_duration(class.config.idle)
                );
                ws.stop_engines(Some(&why)).await;
            }
            ws.save_if_active_since(ACTIVITY_SAVE_SLACK).await;
        }
        if let Some(class) = &self.inner.class {
            class.attempts.prune();
        }
    }

    /// How often the janitor should run: often enough for the shortest of the durations it
    /// watches, at most once a second.
    pub fn tidy_every(&self) -> Duration {
        let mut every = Duration::from_secs(1);
        if let Some(c) = &self.inner.class {
            every = every.min(c.config.idle / 4).min(c.config.expire / 4);
        }
        every.max(Duration::from_millis(20))
    }

    /// Stops every engine of every workspace and writes them all; returns when every socket
    /// is closed.
    pub async fn shutdown(&self) {
        let all = self.list();
        futures_util::future::join_all(all.iter().map(|w| w.close())).await;
        for w in &all {
            if let Err(e) = w.save().await {
                tracing::error!(workspace = %w.id, "at shutdown: {e}");
            }
        }
        if self.inner.temp_files {
            let _ = tokio::fs::remove_dir_all(&self.inner.maker.files_root).await;
        }
    }
}
