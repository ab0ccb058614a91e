//! The labs a workspace has saved, kept with it on disk.

use crate::ids::LabId;
use std::sync::{Mutex, PoisonError};

use super::{Lab, MAX_SAVED, MAX_SAVED_BYTES};
use crate::error::ApiError;

/// A workspace's saved labs.
#[derive(Debug, Default)]
pub struct Shelf {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    labs: Vec<Lab>,
    next: u64,
    /// The labs as JSON items (`{...},{...}`), made on the first read after a change and
    /// shared by every answer until the next: up to 16 MiB, so never once per request.
    json: Option<axum::body::Bytes>,
}

/// Labs as JSON array items, without the brackets.
pub(super) fn json_items(labs: &[Lab]) -> axum::body::Bytes {
    let mut out = Vec::new();
    for (i, l) in labs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Serialising a Lab (strings, numbers, JSON values) cannot fail.
        let _ = serde_json::to_writer(&mut out, l);
    }
    out.into()
}

impl Shelf {
    /// The labs a workspace had, and the number the next one gets.
    pub fn new(labs: Vec<Lab>, next: u64) -> Self {
        let next = next.max(
            labs.iter()
                .filter_map(|l| l.id.parse::<LabId>().ok().map(LabId::number))
                .max()
                .map_or(1, |n| n + 1),
        );
        Self {
            inner: Mutex::new(Inner {
                labs,
                next,
                json: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every saved lab, oldest first.
    pub fn list(&self) -> Vec<Lab> {
        self.lock().labs.clone()
    }

    /// Every saved lab as JSON array items (no brackets), shared until the next change.
    pub fn json_items(&self) -> axum::body::Bytes {
        let mut g = self.lock();
        if g.json.is_none() {
            g.json = Some(json_items(&g.labs));
        }
        g.json.clone().unwrap_or_default()
    }

    /// One saved lab.
    pub fn get(&self, id: &str) -> Option<Lab> {
        self.lock().labs.iter().find(|l| l.id == id).cloned()
    }

    /// Refuses a change that would take the saved labs past [`MAX_SAVED_BYTES`]; `replacing`
    /// is the lab the new one takes the place of, if any.
    fn check_total(g: &Inner, new: &Lab, replacing: Option<&str>) -> Result<(), ApiError> {
        let others: usize = g
            .labs
            .iter()
            .filter(|l| Some(l.id.as_str()) != replacing)
            .map(|l| serde_json::to_vec(l).map_or(0, |v| v.len()))
            .sum();
        let this = serde_json::to_vec(new).map_or(usize::MAX, |v| v.len());
        if others.saturating_add(this) > MAX_SAVED_BYTES {
            return Err(ApiError::too_large(format!(
                "this workspace's saved labs may take {MAX_SAVED_BYTES} bytes together; they take {others} and this one {this}: delete one first (DELETE /api/labs/ID)"
            )));
        }
        Ok(())
    }

    /// Keeps a new lab under a new id.
    pub fn add(&self, mut lab: Lab) -> Result<Lab, ApiError> {
        let mut g = self.lock();
        if g.labs.len() >= MAX_SAVED {
            return Err(ApiError::limit_reached(format!(
                "this workspace keeps at most {MAX_SAVED} labs; delete one first (DELETE /api/labs/ID)"
            )));
        }
        Self::check_total(&g, &lab, None)?;
        lab.id = LabId::new(g.next).to_string();
        lab.builtin = false;
        g.next += 1;
        g.labs.push(lab.clone());
        g.json = None;
        Ok(lab)
    }

    /// Replaces a saved lab, keeping its id; `None` when there is no such lab.
    pub fn put(&self, id: &str, mut lab: Lab) -> Result<Option<Lab>, ApiError> {
        let mut g = self.lock();
        if !g.labs.iter().any(|l| l.id == id) {
            return Ok(None);
        }
        lab.id = id.to_string();
        lab.builtin = false;
        Self::check_total(&g, &lab, Some(id))?;
        if let Some(slot) = g.labs.iter_mut().find(|l| l.id == id) {
            *slot = lab.clone();
        }
        g.json = None;
        Ok(Some(lab))
    }

    /// Deletes a saved lab.
    pub fn remove(&self, id: &str) -> Option<Lab> {
        let mut g = self.lock();
        let at = g.labs.iter().position(|l| l.id == id)?;
        g.json = None;
        Some(g.labs.remove(at))
    }

    /// What to write to disk: the labs, and the next id.
    pub fn snapshot(&self) -> (Vec<Lab>, u64) {
        let g = self.lock();
        (g.labs.clone(), g.next)
    }
}
