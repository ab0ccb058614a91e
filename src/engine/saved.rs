//! An engine as kept on disk, and back: [`Engine::to_saved`] and [`Engine::from_saved`] are
//! the only way in and out, so whatever outlives a run (the spec with a `PATCH`ed
//! impairment, the address last bound, when it was made) survives a restart.

use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Engine, EngineSpec, Env};
use crate::addr::resolve;
use crate::error::ApiError;
use crate::event::format_time;
use crate::ids::EngineId;

/// One engine as kept on disk.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SavedEngine {
    /// `e3`.
    pub id: String,
    /// When it was created (RFC 3339).
    pub created: String,
    /// The spec, as the API shows it; parsed again (strictly) when loaded.
    pub spec: serde_json::Value,
    /// The address it was last bound to, so a port-0 server comes back on the port its
    /// clients know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<String>,
}

/// An engine put back from disk, and what could not be put back as it was.
pub struct Restored {
    /// The engine, stopped (or failed, when the policy no longer allows its addresses).
    pub engine: Engine,
    /// Why it cannot start, if it cannot.
    pub problem: Option<String>,
}

impl Engine {
    /// The engine as kept on disk.
    pub fn to_saved(&self) -> SavedEngine {
        let kept = self.kept();
        SavedEngine {
            id: self.id.to_string(),
            created: format_time(kept.created),
            spec: serde_json::to_value(&*kept.spec).unwrap_or_default(),
            local: kept.last_local.map(|a| a.to_string()),
        }
    }

    /// Puts back an engine kept on disk, stopped, under its old id. An error says why it
    /// was skipped (an id or spec that no longer parses); an engine whose addresses the
    /// policy no longer allows comes back failed, with its `problem`.
    pub async fn from_saved(s: &SavedEngine, env: Arc<Env>) -> Result<Restored, String> {
        let Ok(id) = s.id.parse::<EngineId>() else {
            return Err(format!(
                "engine id {:?} is not of the form e7; skipped",
                s.id
            ));
        };
        let spec = serde_json::to_vec(&s.spec)
            .map_err(|e| ApiError::invalid_spec(e.to_string()))
            .and_then(|b| EngineSpec::from_json(&b))
            .map_err(|e| {
                format!(
                    "engine {}: its spec is no longer valid ({e}); skipped",
                    s.id
                )
            })?;
        let policy = &env.config.policy;
        let mut problem = None;
        let mut resolved = |r: Result<Vec<SocketAddr>, ApiError>| match r {
            Ok(a) => a,
            Err(e) => {
                problem = Some(format!(
                    "cannot start: {e}; delete it and create one that fits the policy"
                ));
                Vec::new()
            }
        };
        let bind = match &spec.bind_hp {
            Some(hp) => resolved(resolve("bind", hp, policy).await),
            None => Vec::new(),
        };
        let target = match &spec.target_hp {
            Some(hp) => resolved(resolve("target", hp, policy).await),
            None => Vec::new(),
        };
        let engine = Engine::new(id, spec, bind, target, env);
        {
            let mut kept = engine.kept();
            if let Ok(t) = humantime::parse_rfc3339(&s.created) {
                kept.created = t;
            }
            // A port-0 server starts again on the port its clients know.
            kept.last_local = s.local.as_deref().and_then(|a| a.parse().ok());
        }
        if let Some(why) = &problem {
            engine.mark_failed(why.clone());
        }
        Ok(Restored {
            engine,
            problem: problem.map(|p| format!("engine {}: {p}", s.id)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Capture;
    use crate::config::Config;
    use crate::files::{Files, Quota};
    use tokio_util::sync::CancellationToken;

    fn env() -> Arc<Env> {
        let config = Arc::new(Config::default());
        // Never created: these engines keep no files.
        let dir = std::env::temp_dir().join(format!("socketlab-saved-{}", std::process::id()));
        let files = Arc::new(Files::open(dir, 1024, Quota::new(1, 1024)));
        Arc::new(Env::new(
            Capture::new(1024, 1 << 20, 64),
            files,
            config,
            CancellationToken::new(),
        ))
    }

    #[tokio::test]
    async fn what_is_saved_comes_back_the_same() {
        let env = env();
        let spec = EngineSpec::from_json(
            br#"{"kind":"udp-server","bind":"127.0.0.1:0","behavior":"echo","name":"lossy",
                 "options":{"impair":{"loss":0.25,"seed":7}}}"#,
        )
        .unwrap();
        let engine = Engine::new(
            EngineId::new(3),
            spec,
            vec!["127.0.0.1:0".parse().unwrap()],
            vec![],
            env.clone(),
        );
        engine.set_impair(Some(crate::engine::impair::Impair {
            reorder: 0.5,
            seed: 9,
            ..Default::default()
        }));
        engine.kept().last_local = Some("127.0.0.1:40404".parse().unwrap());
        let saved = engine.to_saved();
        assert_eq!(saved.spec["options"]["impair"]["reorder"], 0.5);
        assert_eq!(saved.local.as_deref(), Some("127.0.0.1:40404"));
        let back = Engine::from_saved(&saved, env).await.unwrap();
        assert!(back.problem.is_none());
        assert_eq!(back.engine.to_saved(), saved);
        assert_eq!(
            back.engine.view().options.impair,
            engine.view().options.impair
        );
    }

    #[tokio::test]
    async fn a_saved_engine_that_no_longer_parses_says_why() {
        let bad = SavedEngine {
            id: "x1".into(),
            created: "2026-01-01T00:00:00Z".into(),
            spec: serde_json::json!({}),
            local: None,
        };
        let Err(why) = Engine::from_saved(&bad, env()).await else {
            panic!("an id that is not e7 was put back")
        };
        assert!(why.contains("e7"), "{why}");
        let bad = SavedEngine {
            id: "e1".into(),
            spec: serde_json::json!({"kind": "tcp-sever"}),
            ..bad
        };
        let Err(why) = Engine::from_saved(&bad, env()).await else {
            panic!("a spec with an unknown kind was put back")
        };
        assert!(why.contains("no longer valid"), "{why}");
    }
}
