//! What every engine of one workspace shares: the capture, the configuration, id counters,
//! the workspace's budgets, and the shutdown token.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::budget;
use crate::capture::Capture;
use crate::config::Config;
use crate::files::Files;
use crate::ids::{ConnId, MAX_CONN};

/// What every engine of one workspace shares: the capture, the configuration, id
/// counters, the workspace's budgets, and the shutdown token every run's token is a child of.
pub struct Env {
    /// Where events go.
    pub capture: Capture,
    /// The workspace's files: what `file` servers send and `receive` servers keep.
    pub files: Arc<Files>,
    /// Limits and policy.
    pub config: Arc<Config>,
    /// Cancelled when the server shuts down or the workspace is removed.
    pub root: CancellationToken,
    /// Received bytes per second over all the engines (a class workspace's).
    pub throttle: Option<budget::Throttle>,
    /// Open connections over all the engines (a class workspace's).
    pub conn_budget: Option<budget::ConnBudget>,
    conn_ids: AtomicU32,
    /// One job of reply rules on the rule pool at a time for the whole workspace, so its
    /// flood waits on itself (see `engine::pool`).
    pub(super) rules_turn: Arc<tokio::sync::Semaphore>,
}

impl Env {
    /// An environment over `capture`, `files` and `config`, with no budgets.
    pub fn new(
        capture: Capture,
        files: Arc<Files>,
        config: Arc<Config>,
        root: CancellationToken,
    ) -> Self {
        Self {
            capture,
            files,
            config,
            root,
            throttle: None,
            conn_budget: None,
            conn_ids: AtomicU32::new(1),
            rules_turn: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }

    /// Adds a workspace's budgets: bytes per second received, and open connections.
    pub fn with_budgets(mut self, bytes_per_sec: u64, connections: usize) -> Self {
        self.throttle = Some(budget::Throttle::new(bytes_per_sec));
        self.conn_budget = Some(budget::ConnBudget::new(connections));
        self
    }

    /// The next connection's id: numbers go round past [`crate::ids::MAX_CONN`] (two
    /// billion connections later, the first is long closed).
    pub(super) fn next_conn(&self) -> ConnId {
        let n = self.conn_ids.fetch_add(1, Relaxed);
        ConnId::new((n - 1) % MAX_CONN + 1)
    }

    /// Takes a connection's place in the workspace's budget; false when it is full.
    pub(super) fn take_conn_place(&self) -> bool {
        self.conn_budget.as_ref().is_none_or(|b| b.acquire())
    }

    pub(super) fn give_conn_place(&self) {
        if let Some(b) = &self.conn_budget {
            b.release();
        }
    }

    /// Why a connection was refused for the workspace's budget.
    pub(super) fn conn_budget_message(&self) -> String {
        let max = self.conn_budget.as_ref().map_or(0, |b| b.max());
        format!(
            "this workspace has {max} connections open, the most it may (--ws-max-connections); close some first"
        )
    }

    /// How long a reader that just received `n` bytes waits, if the workspace is over its
    /// bytes-per-second budget.
    pub(super) fn pace(&self, n: usize) -> Option<Duration> {
        self.throttle.as_ref().and_then(|t| t.take(n))
    }
}
