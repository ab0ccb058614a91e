//! The registry: engine ids to engines; create, stop, start, delete, list, and the limits on
//! how many there may be.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use crate::addr::resolve;
use crate::engine::{Engine, EngineSpec, EngineView, Env, SavedEngine};
use crate::error::ApiError;
use crate::ids::{EngineId, Named};

/// A cheap-to-clone handle on every engine of the server.
#[derive(Clone)]
pub struct Registry {
    shared: Arc<Shared>,
}

struct Shared {
    env: Arc<Env>,
    // std Mutex: only held to look up, insert or remove, never across an `.await`.
    engines: Mutex<BTreeMap<EngineId, Arc<Engine>>>,
    next_id: AtomicU32,
}

impl Registry {
    /// An empty registry over `env`.
    pub fn new(env: Arc<Env>) -> Self {
        Self {
            shared: Arc::new(Shared {
                env,
                engines: Mutex::new(BTreeMap::new()),
                next_id: AtomicU32::new(1),
            }),
        }
    }

    /// The shared environment (bus, config, shutdown token).
    pub fn env(&self) -> &Arc<Env> {
        &self.shared.env
    }

    fn engines(&self) -> std::sync::MutexGuard<'_, BTreeMap<EngineId, Arc<Engine>>> {
        self.shared
            .engines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn limit_error(&self) -> ApiError {
        let max = self.shared.env.config.limits.max_engines;
        ApiError::limit_reached(format!(
            "{max} engines exist, the most allowed (--max-engines); delete one you no longer need"
        ))
    }

    /// Creates and starts an engine; on failure nothing is left behind.
    pub async fn create(&self, spec: EngineSpec) -> Result<EngineView, ApiError> {
        let env = &self.shared.env;
        let policy = &env.config.policy;
        let bind_addrs = match &spec.bind_hp {
            Some(hp) => resolve("bind", hp, policy).await?,
            None => Vec::new(),
        };
        let target_addrs = match &spec.target_hp {
            Some(hp) => resolve("target", hp, policy).await?,
            None => Vec::new(),
        };
        if self.engines().len() >= env.config.limits.max_engines {
            return Err(self.limit_error());
        }
        // Ids are never used twice; past the last one (a file edited to e4294967295) there
        // are no more, rather than a wrap to e0.
        let Ok(num) = self
            .shared
            .next_id
            .fetch_update(Relaxed, Relaxed, |n| n.checked_add(1))
        else {
            return Err(ApiError::limit_reached(
                "this workspace has used up its engine ids; start afresh with a new workspace"
                    .into(),
            ));
        };
        let id = EngineId::new(num);
        let engine = Arc::new(Engine::new(id, spec, bind_addrs, target_addrs, env.clone()));
        engine.start().await?;
        let over = {
            let mut all = self.engines();
            if all.len() >= env.config.limits.max_engines {
                true
            } else {
                all.insert(id, engine.clone());
                false
            }
        };
        if over {
            engine.stop().await;
            return Err(self.limit_error());
        }
        Ok(engine.view())
    }

    /// Every engine, oldest first.
    pub fn list(&self) -> Vec<EngineView> {
        self.all().iter().map(|e| e.view()).collect()
    }

    /// Every engine's handle, oldest first.
    pub fn all(&self) -> Vec<Arc<Engine>> {
        self.engines().values().cloned().collect()
    }

    /// The number the next engine id gets.
    pub fn next_id(&self) -> u32 {
        self.shared.next_id.load(Relaxed)
    }

    /// The engines as kept on disk.
    pub fn saved(&self) -> Vec<SavedEngine> {
        self.all().iter().map(|e| e.to_saved()).collect()
    }

    /// Puts back engines kept on disk, stopped, under their old ids; ids go on from `next`.
    /// Returns a message for each that could not be put back as it was.
    pub async fn restore(&self, saved: &[SavedEngine], next: u32) -> Vec<String> {
        let mut problems = Vec::new();
        for s in saved {
            match Engine::from_saved(s, self.shared.env.clone()).await {
                Ok(r) => {
                    problems.extend(r.problem);
                    let id = r.engine.id;
                    self.engines().insert(id, Arc::new(r.engine));
                    self.shared
                        .next_id
                        .fetch_max(id.number().saturating_add(1), Relaxed);
                }
                Err(why) => problems.push(why),
            }
        }
        self.shared.next_id.fetch_max(next, Relaxed);
        problems
    }

    /// The engine with this id.
    pub fn get(&self, id: EngineId) -> Result<Arc<Engine>, ApiError> {
        self.engines()
            .get(&id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(EngineId::missing(&id.to_string())))
    }

    /// Stops and removes an engine.
    pub async fn delete(&self, id: EngineId) -> Result<(), ApiError> {
        let engine = self.get(id)?;
        engine.stop().await;
        self.engines().remove(&id);
        Ok(())
    }
    /// Stops every engine (the server is shutting down); returns when all sockets are closed.
    pub async fn shutdown(&self) {
        self.stop_all(None).await;
    }

    /// Stops every engine, with a reason for their `stopped` events if not a user's request.
    pub async fn stop_all(&self, reason: Option<&str>) {
        let all = self.all();
        futures_util::future::join_all(all.iter().map(|e| e.stop_because(reason))).await;
    }

    /// Stops and removes every engine.
    pub async fn delete_all(&self) {
        let all: Vec<Arc<Engine>> = std::mem::take(&mut *self.engines()).into_values().collect();
        futures_util::future::join_all(all.iter().map(|e| e.stop())).await;
    }
}
