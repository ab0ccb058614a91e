//! Handing a lab out to the class: a copy in each student's labs (loaded, when asked), its
//! fixed ports moved into the student's own block, and, when given to all, to every student
//! who joins later too (kept in the class file, so across a restart).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::set::Workspaces;
use super::{Workspace, WorkspaceKind};
use crate::error::ApiError;
use crate::labs::Lab;

/// A lab given to every student, present and future.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handout {
    /// The lab as the instructor had it.
    pub lab: Lab,
    /// Whether it is loaded as it is given.
    pub load: bool,
}

/// A fixed port moved into a student's block.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Rewrite {
    /// The field changed (`engines[0].bind`).
    pub field: String,
    /// The port the lab had.
    pub from: u16,
    /// The port it has now (0: socketlab picks a free one in the student's block).
    pub to: u16,
}

/// What one student was given.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Given {
    /// The student's workspace.
    #[schema(value_type = String)]
    pub workspace: Arc<str>,
    /// Its name.
    pub name: String,
    /// The lab's id in the student's labs.
    pub lab: Option<String>,
    /// Whether it was loaded.
    pub loaded: bool,
    /// The fixed ports moved into the student's block.
    pub rewritten: Vec<Rewrite>,
    /// Why it could not be given or loaded, if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `lab` with every fixed `bind` port outside `block` set to 0 (a free port inside it), and
/// what was changed.
pub fn fit_ports(lab: &Lab, block: Option<(u16, u16)>) -> (Lab, Vec<Rewrite>) {
    let mut out = lab.clone();
    let mut rewritten = Vec::new();
    let Some((lo, hi)) = block else {
        return (out, rewritten);
    };
    for (i, spec) in out.engines.iter_mut().enumerate() {
        let Some(addr) = spec
            .get("bind")
            .and_then(Value::as_str)
            .and_then(|b| b.parse::<std::net::SocketAddr>().ok())
        else {
            continue;
        };
        let port = addr.port();
        if port != 0 && !(lo..=hi).contains(&port) {
            spec["bind"] = Value::from(std::net::SocketAddr::new(addr.ip(), 0).to_string());
            rewritten.push(Rewrite {
                field: format!("engines[{i}].bind"),
                from: port,
                to: 0,
            });
        }
    }
    (out, rewritten)
}

/// Puts `lab` in `ws`'s labs (replacing the copy an earlier hand-out of it left, never a lab
/// of the student's own) and loads it when asked, in place of the engines an earlier
/// hand-out loaded (the student's own engines stay).
pub(super) async fn give(ws: &Workspace, lab: &Lab, load: bool) -> Given {
    let (lab, rewritten) = fit_ports(lab, ws.port_range());
    let mut given = Given {
        workspace: ws.id.clone(),
        name: ws.name(),
        lab: None,
        loaded: false,
        rewritten,
        error: None,
    };
    let mut copy = lab;
    let source = std::mem::take(&mut copy.id);
    copy.builtin = false;
    copy.handed_out = Some(source.clone());
    let same = ws
        .labs()
        .list()
        .into_iter()
        .find(|l| l.handed_out.as_deref() == Some(source.as_str()));
    let kept = match same {
        Some(old) => ws.labs().put(&old.id, copy).and_then(|l| {
            l.ok_or_else(|| ApiError::internal("the lab went away as it was replaced".into()))
        }),
        None => ws.labs().add(copy),
    };
    let kept = match kept {
        Ok(l) => l,
        Err(e) => {
            given.error = Some(e.message().to_string());
            return given;
        }
    };
    given.lab = Some(kept.id.clone());
    if load {
        for id in ws.handed_out_engines() {
            // Gone already (the student deleted it) is as good.
            let _ = ws.delete_engine(id).await;
        }
        match super::labs::load(ws, &kept).await {
            Ok(_) => given.loaded = true,
            Err(e) => given.error = Some(format!("not loaded: {}", e.message())),
        }
    }
    // A failed write marks the workspace unsaved and is retried; the lab is given.
    let _ = ws.save().await;
    given
}

impl Workspaces {
    /// The lab handed out to all, if any.
    pub(super) fn handout(&self) -> Option<Handout> {
        self.inner.class.as_ref().and_then(|c| {
            c.handout
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        })
    }

    /// Keeps `h` as the lab every student who joins gets, in the class file too.
    pub(super) fn keep_handout(&self, h: Option<Handout>) -> Result<(), ApiError> {
        let class = self.class()?;
        *class
            .handout
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = h.clone();
        if let Some(store) = &self.inner.maker.store {
            let keep = super::store::SavedClass {
                code: class.code.clone(),
                token: self
                    .inner
                    .maker
                    .config
                    .access
                    .token
                    .is_none()
                    .then(|| self.inner.token.clone())
                    .flatten(),
                handout: h,
            };
            store.save_class(&keep).map_err(|e| {
                ApiError::not_saved(format!(
                    "the lab was handed out, but not written to the class file ({e}): students \
                     who join after a restart will not get it; whoever runs the server should \
                     check its data directory"
                ))
            })?;
        }
        Ok(())
    }

    /// Gives `lab` to the students `to` (all of them, and those who join later, when
    /// `None`), loading it when `load`. An unknown id gives nothing to anyone.
    pub async fn hand_out(
        &self,
        lab: Lab,
        to: Option<Vec<String>>,
        load: bool,
    ) -> Result<Vec<Given>, ApiError> {
        let targets: Vec<Arc<Workspace>> = match &to {
            None => self
                .list()
                .into_iter()
                .filter(|w| w.kind == WorkspaceKind::Student)
                .collect(),
            Some(ids) => {
                let mut seen = std::collections::HashSet::new();
                ids.iter()
                    .filter(|id| seen.insert(id.as_str()))
                    .map(|id| {
                        self.get(id)
                            .filter(|w| w.kind == WorkspaceKind::Student)
                            .ok_or_else(|| {
                                ApiError::not_found(format!(
                                    "no student workspace {id}; GET /api/workspaces lists them"
                                ))
                                .at("to")
                            })
                    })
                    .collect::<Result<_, _>>()?
            }
        };
        if to.is_none() {
            self.keep_handout(Some(Handout {
                lab: lab.clone(),
                load,
            }))?;
        }
        Ok(futures_util::future::join_all(targets.iter().map(|w| give(w, &lab, load))).await)
    }

    /// What a student joining now is given, if the instructor handed a lab out to all.
    pub(super) async fn give_late_joiner(&self, ws: &Workspace) {
        let Some(h) = self.handout() else {
            return;
        };
        let given = give(ws, &h.lab, h.load).await;
        if let Some(e) = given.error {
            tracing::warn!(workspace = %ws.id, "the class's lab for late joiners: {e}");
        }
    }
}
