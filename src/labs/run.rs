//! A lab run: a loaded lab's steps and which of them are done, when and how. A step whose
//! `expect` names an engine, a kind or a text is checked by the server against the events
//! that come in; one that only says what a terminal prints (`output`), or has no `expect`,
//! is done when the student says so, and marked self-reported.
//!
//! Steps are checked in order: the events are matched against the first step not yet done
//! that the server can check, so an earlier action cannot tick a later step (a lab whose
//! load already makes the server greet a client must not tick "connect yourself and be
//! greeted") and a student sees the steps ticked as the lab reads them.

use serde::{Deserialize, Serialize};

use super::Lab;
use crate::error::ApiError;
use crate::event::EventKind;
use crate::ids::EngineId;

/// Runs kept per workspace besides the current one, newest last.
pub const MAX_RUNS: usize = 20;

/// How a step came to be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum How {
    /// An event matched its `expect`.
    Seen,
    /// The student said so.
    #[serde(rename = "self")]
    Said,
}

/// What the server looks for to tick a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The engine's id (any of the lab's when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineId>,
    /// The event's kind.
    pub kind: String,
    /// Text the event's data holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl Check {
    fn matches(&self, engine: EngineId, kind: EventKind, data: &[u8]) -> bool {
        self.engine.is_none_or(|e| e == engine)
            && kind.name() == self.kind
            && self
                .text
                .as_deref()
                .is_none_or(|t| contains(data, t.as_bytes()))
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// When and how a step was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// Unix milliseconds.
    pub at: u64,
    /// Seen or self-reported.
    pub how: How,
}

/// One step of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRun {
    /// What ticks it, when the server can tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<Check>,
    /// When it was done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<Done>,
}

/// A step as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoadedStep {
    /// Whether the server ticks it when it sees the event its `expect` names (else the
    /// student says when it is done).
    #[serde(default)]
    pub checked: bool,
    /// What to do.
    pub text: String,
    /// The engine's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// The send body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send: Option<serde_json::Value>,
    /// The command, with real addresses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// What to type into it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// What should happen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect: Option<LoadedExpect>,
}

/// What should happen, with the engine's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoadedExpect {
    /// The engine's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// An event of this kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Text in the event's data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Text in the command's output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// A loaded lab's progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// The lab's id.
    pub lab: String,
    /// Its name.
    pub name: String,
    /// Unix milliseconds of the load.
    pub started: u64,
    /// Unix milliseconds it ended (another lab loaded), for a kept run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<u64>,
    /// Its steps, in order.
    pub steps: Vec<StepRun>,
    /// The steps as the page shows them (addresses and engine ids filled in); kept for the
    /// current run only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shown: Vec<LoadedStep>,
    /// The engines the load made, in the lab's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub engines: Vec<EngineId>,
    /// The instructor's lab this is a copy of, when it was handed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handed_out: Option<String>,
    /// An engine to name in a self-reported step's event, when the step names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_engine: Option<EngineId>,
}

impl Run {
    /// A run of `lab` whose load began at `now` (Unix ms), its engines made as `ids` (in the
    /// lab's order).
    pub fn new(lab: &Lab, ids: &[EngineId], shown: Vec<LoadedStep>, now: u64) -> Self {
        let steps = lab
            .steps
            .iter()
            .map(|s| StepRun {
                check: s.expect.as_ref().filter(|e| e.is_checked()).map(|e| Check {
                    engine: e.engine.and_then(|n| ids.get(n).copied()),
                    kind: e.kind.clone().unwrap_or_else(|| "received".into()),
                    text: e.text.clone(),
                }),
                done: None,
            })
            .collect();
        Self {
            lab: lab.id.clone(),
            name: lab.name.clone(),
            started: now,
            ended: None,
            steps,
            shown,
            engines: ids.to_vec(),
            handed_out: lab.handed_out.clone(),
            first_engine: ids.first().copied(),
        }
    }

    /// Steps done.
    pub fn done(&self) -> usize {
        self.steps.iter().filter(|s| s.done.is_some()).count()
    }

    /// The first step not done (the one the student is on), if any is left.
    pub fn current(&self) -> Option<usize> {
        self.steps.iter().position(|s| s.done.is_none())
    }

    /// The step events are matched against: the first not done that the server can check.
    pub fn awaited(&self) -> Option<usize> {
        self.steps
            .iter()
            .position(|s| s.done.is_none() && s.check.is_some())
    }

    /// Unix ms of the last step done, or of the start.
    pub fn last_step_at(&self) -> u64 {
        self.steps
            .iter()
            .filter_map(|s| s.done.map(|d| d.at))
            .max()
            .unwrap_or(self.started)
    }

    /// An event came in: ticks the awaited step when it matches, returning its index and
    /// the engine its event should name.
    pub fn see(
        &mut self,
        engine: EngineId,
        kind: EventKind,
        data: &[u8],
        at: u64,
    ) -> Option<usize> {
        let n = self.awaited()?;
        let step = &mut self.steps[n];
        if !step.check.as_ref()?.matches(engine, kind, data) {
            return None;
        }
        step.done = Some(Done { at, how: How::Seen });
        Some(n)
    }

    /// The student says step `n` is done: for steps the server cannot check. Returns
    /// whether it was newly done.
    pub fn say_done(&mut self, n: usize, at: u64) -> Result<bool, ApiError> {
        let total = self.steps.len();
        let step = self.steps.get_mut(n).ok_or_else(|| {
            ApiError::not_found(format!(
                "lab {} has steps 0 to {}; there is no step {n}",
                self.lab,
                total.saturating_sub(1)
            ))
        })?;
        if step.check.is_some() {
            return Err(ApiError::invalid_spec(format!(
                "step {n} is checked by socketlab: do what it says and it is ticked when the \
                 event it expects arrives; only a step socketlab cannot see (its expect has \
                 only an output, or it has none) is marked done by hand"
            )));
        }
        if step.done.is_some() {
            return Ok(false);
        }
        step.done = Some(Done { at, how: How::Said });
        Ok(true)
    }

    /// The engine a step's event names: the one its check is about, else the lab's first.
    pub fn engine_of(&self, n: usize) -> Option<EngineId> {
        self.steps
            .get(n)
            .and_then(|s| s.check.as_ref())
            .and_then(|c| c.engine)
            .or(self.first_engine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab() -> Lab {
        Lab::from_value(
            serde_json::json!({"name": "t", "engines": [
                {"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo"},
                {"kind": "tcp-client", "target": "@0"}],
                "steps": [
                    {"text": "a", "expect": {"engine": 1, "text": "hello"}},
                    {"text": "b", "expect": {"output": "only a terminal sees this"}},
                    {"text": "c", "expect": {"engine": 0, "kind": "sent", "text": "90"}},
                    {"text": "d"}]}),
            1 << 20,
        )
        .unwrap()
    }

    #[test]
    fn steps_are_ticked_in_order_by_matching_events_and_by_hand_when_unchecked() {
        let (e0, e1) = (EngineId::new(7), EngineId::new(8));
        let mut run = Run::new(&lab(), &[e0, e1], Vec::new(), 1000);
        assert_eq!((run.current(), run.awaited()), (Some(0), Some(0)));
        // A later step's event does not tick it while an earlier one is awaited.
        assert_eq!(run.see(e0, EventKind::Sent, b"90\n", 1001), None);
        // The wrong engine, kind or text ticks nothing.
        assert_eq!(run.see(e0, EventKind::Received, b"hello", 1002), None);
        assert_eq!(run.see(e1, EventKind::Sent, b"hello", 1002), None);
        assert_eq!(run.see(e1, EventKind::Received, b"hell", 1002), None);
        assert_eq!(
            run.see(e1, EventKind::Received, b"oh hello!", 1003),
            Some(0)
        );
        assert_eq!(
            run.steps[0].done,
            Some(Done {
                at: 1003,
                how: How::Seen
            })
        );
        // Step 1 is output-only: the student is on it, events are matched against step 2.
        assert_eq!((run.current(), run.awaited()), (Some(1), Some(2)));
        assert_eq!(run.see(e0, EventKind::Sent, b"90", 1004), Some(2));
        assert!(
            run.say_done(2, 1005).is_err(),
            "a checked step is not ticked by hand"
        );
        assert!(run.say_done(9, 1005).is_err());
        assert!(run.say_done(1, 1006).unwrap());
        assert!(!run.say_done(1, 1007).unwrap(), "once");
        assert_eq!(
            run.steps[1].done,
            Some(Done {
                at: 1006,
                how: How::Said
            })
        );
        assert_eq!((run.done(), run.current()), (3, Some(3)));
        assert!(run.say_done(3, 1008).unwrap());
        assert_eq!(
            (run.done(), run.current(), run.last_step_at()),
            (4, None, 1008)
        );
        assert_eq!(run.engine_of(2), Some(e0));
        assert_eq!(run.engine_of(1), Some(e0), "the lab's first engine");
        let back: Run = serde_json::from_str(&serde_json::to_string(&run).unwrap()).unwrap();
        assert_eq!(back, run);
    }
}
