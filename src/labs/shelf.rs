//! The labs a workspace has saved, kept with it on disk.

use std::sync::{Mutex, PoisonError};

use super::{Lab, MAX_SAVED};
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
}

impl Shelf {
    /// The labs a workspace had, and the number the next one gets.
    pub fn new(labs: Vec<Lab>, next: u64) -> Self {
        let next = next.max(
            labs.iter()
                .filter_map(|l| l.id.strip_prefix('l')?.parse::<u64>().ok())
                .max()
                .map_or(1, |n| n + 1),
        );
        Self {
            inner: Mutex::new(Inner { labs, next }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every saved lab, oldest first.
    pub fn list(&self) -> Vec<Lab> {
        self.lock().labs.clone()
    }

    /// One saved lab.
    pub fn get(&self, id: &str) -> Option<Lab> {
        self.lock().labs.iter().find(|l| l.id == id).cloned()
    }

    /// Keeps a new lab under a new id.
    pub fn add(&self, mut lab: Lab) -> Result<Lab, ApiError> {
        let mut g = self.lock();
        if g.labs.len() >= MAX_SAVED {
            return Err(ApiError::LimitReached(format!(
                "this workspace keeps at most {MAX_SAVED} labs; delete one first (DELETE /api/labs/ID)"
            )));
        }
        lab.id = format!("l{}", g.next);
        lab.builtin = false;
        g.next += 1;
        g.labs.push(lab.clone());
        Ok(lab)
    }

    /// Replaces a saved lab, keeping its id.
    pub fn put(&self, id: &str, mut lab: Lab) -> Option<Lab> {
        let mut g = self.lock();
        let slot = g.labs.iter_mut().find(|l| l.id == id)?;
        lab.id = id.to_string();
        lab.builtin = false;
        *slot = lab.clone();
        Some(lab)
    }

    /// Deletes a saved lab.
    pub fn remove(&self, id: &str) -> Option<Lab> {
        let mut g = self.lock();
        let at = g.labs.iter().position(|l| l.id == id)?;
        Some(g.labs.remove(at))
    }

    /// What to write to disk: the labs, and the next id.
    pub fn snapshot(&self) -> (Vec<Lab>, u64) {
        let g = self.lock();
        (g.labs.clone(), g.next)
    }
}
