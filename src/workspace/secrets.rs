//! A workspace's credentials: its students' sessions (one per device, at most
//! [`MAX_SESSIONS`]), its invite and its watch id, kept as digests but the watch id (which its
//! owner is shown), and the tokens that end the streams opened with one when it is revoked.

use std::sync::PoisonError;

use tokio_util::sync::CancellationToken;

use super::{Digest, Role, Workspace};
use std::sync::atomic::Ordering::Relaxed;

/// The credentials that open a workspace, kept only as digests (but the watch id, which its
/// owner is shown).
#[derive(Debug, Clone)]
pub(super) struct Secrets {
    /// One per device that joined (a one-person link may be opened on a laptop and a phone).
    pub(super) sessions: Vec<Digest>,
    pub(super) invite: Option<Digest>,
    pub(super) watch: String,
    /// Cancelled when the watch id is replaced: ends the streams opened with it.
    pub(super) watch_revoked: CancellationToken,
    /// Per session, cancelled when it is signed out: ends the streams opened with it.
    pub(super) session_revoked: std::collections::HashMap<Digest, CancellationToken>,
}

/// Sessions kept per workspace; past it the oldest is signed out.
pub const MAX_SESSIONS: usize = 8;

impl Workspace {
    pub(super) fn secrets(&self) -> std::sync::MutexGuard<'_, Secrets> {
        self.secrets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the watch id, so the old link stops working (and the streams opened with
    /// it end); returns the old one.
    pub(crate) fn set_watch(&self, watch: String) -> String {
        let mut s = self.secrets();
        std::mem::replace(&mut s.watch_revoked, CancellationToken::new()).cancel();
        std::mem::replace(&mut s.watch, watch)
    }

    /// What ends the streams opened with a credential of `role` (`session`: a student's
    /// session's digest) when that credential is revoked: a replaced watch id, a signed-out
    /// session, a removed workspace. The token holder's is never revoked.
    pub(crate) fn revocation(&self, role: Role, session: &Digest) -> CancellationToken {
        let mut s = self.secrets();
        let token = match role {
            Role::Watcher => s.watch_revoked.clone(),
            Role::Student => s.session_revoked.entry(*session).or_default().clone(),
            Role::Owner | Role::Instructor => CancellationToken::new(),
        };
        if self.removed.load(Relaxed) {
            token.cancel();
        }
        token
    }

    /// Ends every stream opened with one of this workspace's credentials.
    pub(super) fn revoke_all(&self) {
        let s = self.secrets();
        s.watch_revoked.cancel();
        for t in s.session_revoked.values() {
            t.cancel();
        }
    }

    /// Session digests, the invite's digest and the watch id.
    pub(crate) fn credentials(&self) -> (Vec<Digest>, Option<Digest>, String) {
        let s = self.secrets();
        (s.sessions.clone(), s.invite, s.watch.clone())
    }

    /// Adds a session; returns the one signed out to make room, if any (its streams end).
    pub(crate) fn add_session(&self, d: Digest) -> Option<Digest> {
        let mut s = self.secrets();
        s.sessions.push(d);
        let out = (s.sessions.len() > MAX_SESSIONS).then(|| s.sessions.remove(0))?;
        if let Some(t) = s.session_revoked.remove(&out) {
            t.cancel();
        }
        Some(out)
    }
}
