//! A workspace as the API shows it: to its owner (`GET /api/workspace`) and in the
//! instructor's list (`GET /api/workspaces`).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use serde::Serialize;

use super::{Role, Workspace, WorkspaceKind};
use crate::event::format_time;

/// What `GET /api/workspace` returns.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WorkspaceView {
    /// Workspace id.
    #[schema(value_type = String)]
    pub id: Arc<str>,
    /// Display name.
    pub name: String,
    /// The caller's role.
    pub role: Role,
    /// `personal` or `class`.
    pub mode: &'static str,
    /// Whether the caller may only look (a watcher, or the instructor in another workspace).
    pub read_only: bool,
    /// The watch link (shown to those who may change the workspace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch_url: Option<String>,
    /// The ports this workspace may bind, `[LO, HI]`, when it has a block.
    pub port_range: Option<[u16; 2]>,
    /// The workspace's limits.
    pub limits: LimitsView,
    /// The class code and join link (the instructor only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<ClassView>,
    /// The lab being done here (the current run), null when none was loaded.
    pub lab: Option<super::RunView>,
    /// Whether the last save failed and none has succeeded since: what is shown is live
    /// but not on disk (the page shows a banner; socketlab retries every 10 s).
    pub unsaved: bool,
    /// What the capture keeps now.
    pub capture: CaptureView,
}

/// The capture ring's state, as `GET /api/workspace` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CaptureView {
    /// This run's numbering (a `since` of another epoch means nothing here).
    pub epoch: String,
    /// Events kept.
    pub events: usize,
    /// Bytes they take.
    pub bytes: usize,
    /// The oldest kept event's seq.
    pub first_seq: u64,
    /// The seq the next event will get.
    pub next_seq: u64,
    /// Events rendered to JSON so far (each once, for every reader).
    pub rendered: u64,
}

/// A workspace's limits, as `GET /api/workspace` shows them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LimitsView {
    /// Engines at once.
    pub engines: usize,
    /// Open connections over all its engines, if capped.
    pub connections: Option<usize>,
    /// Received bytes per second over all its engines, if capped.
    pub bytes_per_sec: Option<u64>,
    /// Viewers at once.
    pub viewers: usize,
    /// Events kept for replay.
    pub history: usize,
    /// Bytes of events kept for replay.
    pub history_bytes: usize,
}

/// The class code and where students join.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClassView {
    /// The code.
    pub code: String,
    /// `https://lab.example.edu/join/CODE`.
    pub join_url: String,
    /// Student workspaces whose files did not load at start (moved aside; their port blocks
    /// kept for them until `DELETE /api/workspaces/{id}`).
    pub not_loaded: Vec<NotLoaded>,
}

/// A student workspace whose file did not load.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NotLoaded {
    /// Its id (from the file's name).
    pub id: String,
    /// The ports kept for it, when its file still said them.
    pub port_range: Option<[u16; 2]>,
    /// Where its file is now, unchanged.
    pub moved_to: String,
    /// Why it did not load.
    pub why: String,
}

/// One row of `GET /api/workspaces`: a workspace with live counters.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WorkspaceSummary {
    /// Workspace id.
    #[schema(value_type = String)]
    pub id: Arc<str>,
    /// Display name.
    pub name: String,
    /// `instructor` or `student`.
    pub kind: &'static str,
    /// When it was created.
    pub created: String,
    /// When it last had a request, a viewer or traffic.
    pub last_active: String,
    /// Engines it has.
    pub engines: usize,
    /// Of those, running now.
    pub engines_running: usize,
    /// Open connections over all its engines.
    pub connections: u64,
    /// Events per second, over the last second or so.
    pub events_per_sec: f64,
    /// Bytes received by its engines.
    pub bytes_in: u64,
    /// Bytes sent by its engines.
    pub bytes_out: u64,
    /// WebSocket viewers now (its owner's and the instructor's).
    pub viewers: usize,
    /// Watch-link viewers now.
    pub watchers: usize,
    /// Whether its last save failed (see [`WorkspaceView::unsaved`]).
    pub unsaved: bool,
    /// Its watch link.
    pub watch_url: String,
    /// Its port block, `[LO, HI]`.
    pub port_range: Option<[u16; 2]>,
    /// The lab it is doing, and how far it is.
    pub lab: Option<super::RunView>,
}

impl Workspace {
    /// The caller's view of the workspace.
    pub fn view(
        &self,
        role: Role,
        read_only: bool,
        base: &str,
        class: Option<ClassView>,
    ) -> WorkspaceView {
        let c = self.config();
        let env = self.registry.env();
        WorkspaceView {
            id: self.id.clone(),
            name: self.name(),
            role,
            mode: if self.kind == WorkspaceKind::Personal {
                "personal"
            } else {
                "class"
            },
            read_only,
            watch_url: (!read_only)
                .then(|| Self::url(base, &format!("/watch/{}", self.watch_id()))),
            port_range: self.port_range().map(|(lo, hi)| [lo, hi]),
            limits: LimitsView {
                engines: c.limits.max_engines,
                connections: env.conn_budget.as_ref().map(|b| b.max()),
                bytes_per_sec: env.throttle.as_ref().map(|t| t.rate()),
                viewers: c.limits.max_viewers,
                history: c.limits.history,
                history_bytes: c.limits.history_bytes,
            },
            class,
            lab: self.run_view(false),
            unsaved: self.unsaved(),
            capture: {
                let ring = self.capture().lock();
                let (events, bytes) = ring.size();
                CaptureView {
                    epoch: self.capture().epoch().to_string(),
                    events,
                    bytes,
                    first_seq: ring.first_seq(),
                    next_seq: ring.next_seq(),
                    rendered: ring.renders(),
                }
            },
        }
    }

    /// The workspace with its live counters, for the instructor's list.
    pub fn summary(&self, base: &str) -> WorkspaceSummary {
        let engines = self.registry.all();
        let (mut conns, mut bytes_in, mut bytes_out, mut running) = (0, 0, 0, 0);
        for e in &engines {
            let v = e.view();
            conns += v.stats.connections_open;
            bytes_in += v.stats.bytes_in;
            bytes_out += v.stats.bytes_out;
            running += usize::from(v.state == "running");
        }
        WorkspaceSummary {
            id: self.id.clone(),
            name: self.name(),
            kind: self.kind.name(),
            created: format_time(self.created),
            last_active: format_time(self.last_active()),
            engines: engines.len(),
            engines_running: running,
            connections: conns,
            events_per_sec: self.activity.rate_milli.load(Relaxed) as f64 / 1000.0,
            bytes_in,
            bytes_out,
            viewers: self.viewers.load(Relaxed),
            watchers: self.watchers.load(Relaxed),
            unsaved: self.unsaved(),
            watch_url: Self::url(base, &format!("/watch/{}", self.watch_id())),
            port_range: self.port_range().map(|(lo, hi)| [lo, hi]),
            lab: self.run_view(false),
        }
    }
}
