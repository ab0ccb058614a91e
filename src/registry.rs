//! The registry: engine ids to engines; create, stop, start, delete, list, and the limits on
//! how many there may be.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use crate::addr::resolve;
use crate::engine::{Engine, EngineSpec, EngineView, Env};
use crate::error::ApiError;

/// A cheap-to-clone handle on every engine of the server.
#[derive(Clone)]
pub struct Registry {
    shared: Arc<Shared>,
}

struct Shared {
    env: Arc<Env>,
    // std Mutex: only held to look up, insert or remove, never across an `.await`.
    engines: Mutex<BTreeMap<u64, Arc<Engine>>>,
    next_id: AtomicU64,
}

impl Registry {
    /// An empty registry over `env`.
    pub fn new(env: Arc<Env>) -> Self {
        Self {
            shared: Arc::new(Shared {
                env,
                engines: Mutex::new(BTreeMap::new()),
                next_id: AtomicU64::new(1),
            }),
        }
    }

    /// The shared environment (bus, config, shutdown token).
    pub fn env(&self) -> &Arc<Env> {
        &self.shared.env
    }

    fn engines(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Engine>>> {
        self.shared
            .engines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn limit_error(&self) -> ApiError {
        let max = self.shared.env.config.limits.max_engines;
        ApiError::LimitReached(format!(
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
        let num = self.shared.next_id.fetch_add(1, Relaxed);
        let engine = Arc::new(Engine::new(
            format!("e{num}").into(),
            spec,
            bind_addrs,
            target_addrs,
            env.clone(),
        ));
        engine.start().await?;
        let over = {
            let mut all = self.engines();
            if all.len() >= env.config.limits.max_engines {
                true
            } else {
                all.insert(num, engine.clone());
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
        let all: Vec<Arc<Engine>> = self.engines().values().cloned().collect();
        all.iter().map(|e| e.view()).collect()
    }

    fn lookup(&self, id: &str) -> Result<(u64, Arc<Engine>), ApiError> {
        let num = id.strip_prefix('e').and_then(|n| n.parse::<u64>().ok());
        num.and_then(|n| Some((n, self.engines().get(&n).cloned()?)))
            .ok_or_else(|| {
                let shown: String = id.chars().take(40).collect();
                ApiError::NotFound(format!(
                    "no engine {shown}; GET /api/engines lists the engines there are"
                ))
            })
    }

    /// The engine with this id.
    pub fn get(&self, id: &str) -> Result<Arc<Engine>, ApiError> {
        Ok(self.lookup(id)?.1)
    }

    /// Stops and removes an engine.
    pub async fn delete(&self, id: &str) -> Result<(), ApiError> {
        let (num, engine) = self.lookup(id)?;
        engine.stop().await;
        self.engines().remove(&num);
        Ok(())
    }

    /// Stops every engine (the server is shutting down); returns when all sockets are closed.
    pub async fn shutdown(&self) {
        let all: Vec<Arc<Engine>> = self.engines().values().cloned().collect();
        futures_util::future::join_all(all.iter().map(|e| e.stop())).await;
    }
}
