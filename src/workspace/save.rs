//! Writing a workspace to disk: a snapshot of everything kept, written whole (see
//! [`super::store`]), one save at a time and in order; a failed save leaves the change live,
//! marks the workspace unsaved, and is retried every [`SAVE_RETRY`].

use std::time::Duration;

use super::store::{self, SavedWorkspace};
use super::{Workspace, now_ms, to_hex};
use crate::error::ApiError;
use crate::event::format_time;
use std::sync::atomic::Ordering::Relaxed;

/// How often a workspace whose last save failed is written again.
pub const SAVE_RETRY: Duration = Duration::from_secs(10);

impl Workspace {
    /// The file as it would be written now.
    fn snapshot(&self) -> SavedWorkspace {
        let (sessions, invite, watch) = self.credentials();
        SavedWorkspace {
            version: store::VERSION,
            id: self.id.to_string(),
            name: self.name(),
            kind: self.kind.name().into(),
            created: format_time(self.created),
            last_active: format_time(self.last_active()),
            secrets_sha256: sessions.iter().map(|d| to_hex(d)).collect(),
            invite_sha256: invite.map(|d| to_hex(&d)),
            watch,
            block: self.block,
            next_engine: u64::from(self.registry.next_id()),
            engines: self.registry.saved(),
            labs: self.labs.snapshot().0,
            next_lab: self.labs.snapshot().1,
            run: self.progress.snapshot().0,
            runs: self.progress.snapshot().1,
        }
    }

    /// Writes the workspace to disk (when there is a data directory). On failure the change
    /// stands in memory, the workspace is marked unsaved, the janitor tries again every
    /// [`SAVE_RETRY`], and the caller gets `507 not_saved` to tell the user.
    pub async fn save(&self) -> Result<(), ApiError> {
        let Some(store) = self.store.clone() else {
            return Ok(());
        };
        let _one_at_a_time = self.saving.lock().await;
        // A save racing the removal must not bring the file back.
        if self.removed.load(Relaxed) {
            return Ok(());
        }
        let doc = self.snapshot();
        let active = self.activity.last_active.load(Relaxed);
        self.activity.save_tried.store(now_ms(), Relaxed);
        let written = tokio::task::spawn_blocking(move || store.save(&doc)).await;
        let why = match written {
            Ok(Ok(())) => {
                self.activity.saved_active.store(active, Relaxed);
                if self.activity.unsaved.swap(false, Relaxed) {
                    tracing::info!(workspace = %self.id, "the workspace is saved again");
                }
                return Ok(());
            }
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        if !self.activity.unsaved.swap(true, Relaxed) {
            tracing::error!(workspace = %self.id, error = %why, "saving the workspace failed; retrying every 10 s");
        }
        Err(ApiError::not_saved(format!(
            "the change was made but could not be written to disk ({why}); it is lost if the \
             server stops before a save succeeds. socketlab tries again every {} s; whoever \
             runs the server should check its data directory (free space, permissions). \
             GET /api/workspace shows \"unsaved\": true until a save succeeds",
            SAVE_RETRY.as_secs()
        )))
    }

    /// Whether the last save failed and none has succeeded since.
    pub fn unsaved(&self) -> bool {
        self.activity.unsaved.load(Relaxed)
    }

    /// Writes the workspace again if its last save failed at least [`SAVE_RETRY`] ago.
    pub(crate) async fn retry_save(&self) {
        let tried = self.activity.save_tried.load(Relaxed);
        if self.unsaved() && now_ms().saturating_sub(tried) >= SAVE_RETRY.as_millis() as u64 {
            let _ = self.save().await;
        }
    }

    /// Writes the workspace if its activity time moved by more than `slack` since the last
    /// write (so expiry counts across restarts without a write per request).
    pub(crate) async fn save_if_active_since(&self, slack: Duration) {
        let now = self.activity.last_active.load(Relaxed);
        let saved = self.activity.saved_active.load(Relaxed);
        if now.saturating_sub(saved) > slack.as_millis() as u64 {
            // A failure marks the workspace unsaved; the retry takes it from there.
            let _ = self.save().await;
        }
    }
}
