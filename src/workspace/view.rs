//! A workspace as the API shows it: to its owner (`GET /api/workspace`) and in the
//! instructor's list (`GET /api/workspaces`).

use std::sync::Arc;

use serde::Serialize;

use super::Role;

/// What `GET /api/workspace` returns.
#[derive(Debug, Clone, Serialize)]
pub struct WorkspaceView {
    /// Workspace id.
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
    /// What the capture keeps now.
    pub capture: CaptureView,
}

/// The capture ring's state, as `GET /api/workspace` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureView {
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
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
pub struct ClassView {
    /// The code.
    pub code: String,
    /// `https://lab.example.edu/join/CODE`.
    pub join_url: String,
}

/// One row of `GET /api/workspaces`: a workspace with live counters.
#[derive(Debug, Clone, Serialize)]
pub struct WorkspaceSummary {
    /// Workspace id.
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
    /// WebSocket viewers now.
    pub viewers: usize,
    /// Its watch link.
    pub watch_url: String,
    /// Its port block, `[LO, HI]`.
    pub port_range: Option<[u16; 2]>,
}
