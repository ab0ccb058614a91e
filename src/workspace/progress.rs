//! A workspace's lab runs: the current one, checked against every event as the capture
//! keeps it (a [`Watch`] on the capture), and the earlier ones. The runs are this module's
//! alone; the capture only holds the checker that reports to them, and the janitor writes a
//! run that moved to disk within a second.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::{Workspace, time_of_ms};
use crate::capture::Watch;
use crate::capture::record::{self, View};
use crate::error::ApiError;
use crate::event::{Draft, EventKind, Extra, format_time};
use crate::ids::EngineId;
use crate::labs::Lab;
use crate::labs::run::{How, LoadedStep, MAX_RUNS, Run};

/// The runs of one workspace.
#[derive(Default)]
pub(crate) struct Progress {
    runs: Mutex<Runs>,
    /// A step was done since the last write.
    moved: AtomicBool,
    /// The sends made through the API (the page's), newest last, for "Save as lab".
    sends: Mutex<std::collections::VecDeque<SendNote>>,
}

/// A send made through the API, kept to become a lab's step.
#[derive(Clone)]
struct SendNote {
    engine: EngineId,
    /// The send's body, as a step's `send` takes it.
    body: serde_json::Value,
    /// The first bytes sent, to find them where they arrived.
    data: Vec<u8>,
    /// The seq the capture was at before the send.
    after: u64,
}

#[derive(Default)]
struct Runs {
    current: Option<Run>,
    earlier: Vec<Run>,
}

impl Progress {
    /// The runs a workspace's file kept.
    pub fn new(current: Option<Run>, earlier: Vec<Run>) -> Self {
        Self {
            runs: Mutex::new(Runs { current, earlier }),
            moved: AtomicBool::new(false),
            sends: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Runs> {
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current run and the earlier ones, as a file keeps them.
    pub fn snapshot(&self) -> (Option<Run>, Vec<Run>) {
        let r = self.lock();
        (r.current.clone(), r.earlier.clone())
    }
}

fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The `step` event of step `n` of `run`.
fn step_record(run: &Run, n: usize, how: How, at: SystemTime) -> Box<[u8]> {
    let mut draft = Draft::new(EventKind::Step, crate::event::Call::Bind).extra(Extra::Step {
        lab: &run.lab,
        step: u16::try_from(n).unwrap_or(u16::MAX),
        said: how == How::Said,
    });
    // A step is no socket call.
    draft.call = None;
    let engine = run.engine_of(n).unwrap_or_else(|| EngineId::new(0));
    record::encode(engine, &draft, 0, at)
}

/// The capture's checker for a workspace's current run. It keeps the awaited step's engine
/// and kind, so the many records that cannot match cost two comparisons and no lock.
struct Checker {
    progress: Arc<Progress>,
    awaited: Option<(Option<EngineId>, String)>,
}

impl Checker {
    fn new(progress: Arc<Progress>) -> Self {
        let mut c = Self {
            progress,
            awaited: None,
        };
        c.awaited = c.look();
        c
    }

    fn look(&self) -> Option<(Option<EngineId>, String)> {
        let runs = self.progress.lock();
        let run = runs.current.as_ref()?;
        let check = run.steps.get(run.awaited()?)?.check.as_ref()?;
        Some((check.engine, check.kind.clone()))
    }
}

impl Watch for Checker {
    fn see(&mut self, v: &View<'_>) -> Option<Box<[u8]>> {
        let (engine, kind) = self.awaited.as_ref()?;
        if engine.is_some_and(|e| e != v.engine()) || v.kind().name() != kind {
            return None;
        }
        let at = v.time();
        let rec = {
            let mut runs = self.progress.lock();
            let run = runs.current.as_mut()?;
            let n = run.see(v.engine(), v.kind(), v.preview(), ms(at))?;
            step_record(run, n, How::Seen, at)
        };
        self.progress.moved.store(true, Relaxed);
        self.awaited = self.look();
        Some(rec)
    }
}

/// A run as `GET /api/workspace` and the class's rows show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunView {
    /// The lab's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it was loaded.
    pub started: String,
    /// When another lab replaced it (an earlier run's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    /// The instructor's lab it is a copy of, when handed out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handed_out: Option<String>,
    /// Each step's state, in order.
    pub steps: Vec<StepView>,
    /// The step the student is on (the first not done), null when all are.
    pub current: Option<usize>,
    /// Steps done.
    pub done: usize,
    /// Steps in all.
    pub total: usize,
    /// Seconds since the last step was done (or the lab loaded).
    pub since_last_step_secs: u64,
}

/// One step's state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StepView {
    /// Whether it is done.
    pub done: bool,
    /// When.
    pub at: Option<String>,
    /// `seen` (an event matched) or `self` (the student said so).
    pub how: Option<How>,
    /// Whether the server checks it (else the student says when it is done); with the step
    /// as the page shows it, that carries it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked: Option<bool>,
    /// The step as the page shows it (the current run's, from `GET /api/labs/run`).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub shown: Option<LoadedStep>,
}

fn view(run: &Run, with_shown: bool) -> RunView {
    let now = ms(SystemTime::now());
    RunView {
        id: run.lab.clone(),
        name: run.name.clone(),
        started: format_time(time_of_ms(run.started)),
        ended: run.ended.map(|e| format_time(time_of_ms(e))),
        handed_out: run.handed_out.clone(),
        steps: run
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| StepView {
                done: s.done.is_some(),
                at: s.done.map(|d| format_time(time_of_ms(d.at))),
                how: s.done.map(|d| d.how),
                checked: (!with_shown || run.shown.get(i).is_none()).then_some(s.check.is_some()),
                shown: with_shown.then(|| run.shown.get(i).cloned()).flatten(),
            })
            .collect(),
        current: run.current(),
        done: run.done(),
        total: run.steps.len(),
        since_last_step_secs: now.saturating_sub(run.last_step_at()) / 1000,
    }
}

impl Workspace {
    /// Starts a run of `lab`, just loaded as engines `ids` (in the lab's order) with its
    /// steps shown as `shown`; events from seq `from` on (the load's own) count toward it.
    /// The run there was ends and is kept among the earlier ones.
    pub(crate) fn start_run(
        &self,
        lab: &Lab,
        ids: &[EngineId],
        shown: Vec<LoadedStep>,
        (from, began): (u64, SystemTime),
    ) {
        let now = ms(SystemTime::now());
        {
            let mut runs = self.progress.lock();
            if let Some(mut old) = runs.current.take() {
                old.ended = Some(now);
                old.shown.clear();
                runs.earlier.push(old);
                let over = runs.earlier.len().saturating_sub(MAX_RUNS);
                runs.earlier.drain(..over);
            }
            runs.current = Some(Run::new(lab, ids, shown, ms(began)));
        }
        self.progress.moved.store(true, Relaxed);
        self.watch_run(from);
    }

    /// Puts the current run's checker on the capture, from seq `from` on.
    pub(crate) fn watch_run(&self, from: u64) {
        // The lock is let go before the checker takes it to look at the run.
        let running = self.progress.lock().current.is_some();
        let watch: Option<Box<dyn Watch>> =
            running.then(|| Box::new(Checker::new(self.progress.clone())) as Box<dyn Watch>);
        self.capture().set_watch(from, watch);
    }

    /// The current run, if a lab is loaded; `with_steps` adds each step as the page shows it.
    pub fn run_view(&self, with_steps: bool) -> Option<RunView> {
        self.progress
            .lock()
            .current
            .as_ref()
            .map(|r| view(r, with_steps))
    }

    /// The earlier runs, newest first.
    pub fn earlier_runs(&self) -> Vec<RunView> {
        self.progress
            .lock()
            .earlier
            .iter()
            .rev()
            .map(|r| view(r, false))
            .collect()
    }

    /// The engines the current run's load made, when it is a hand-out's.
    pub(crate) fn handed_out_engines(&self) -> Vec<EngineId> {
        let runs = self.progress.lock();
        runs.current
            .as_ref()
            .filter(|r| r.handed_out.is_some())
            .map(|r| r.engines.clone())
            .unwrap_or_default()
    }

    /// The student says step `n` of the current run is done (a step the server cannot
    /// check); its `step` event follows in the stream. With `lab`, only if that lab is the
    /// one loaded (a click on a page showing a lab since replaced ticks nothing).
    pub fn say_step_done(&self, n: usize, lab: Option<&str>) -> Result<RunView, ApiError> {
        let (rec, v) = {
            let mut runs = self.progress.lock();
            let run = runs.current.as_mut().ok_or_else(|| {
                ApiError::not_found(
                    "no lab is loaded here: load one (POST /api/labs/{id}/load, or Load in the Labs panel) and its steps can be done"
                        .into(),
                )
            })?;
            if let Some(l) = lab
                && l != run.lab
            {
                return Err(ApiError::not_found(format!(
                    "lab {l} is no longer the one loaded here ({} is): its steps cannot be done; \
                     GET /api/labs/run shows the lab being done",
                    run.lab
                )));
            }
            let now = SystemTime::now();
            let newly = run.say_done(n, ms(now))?;
            (
                newly.then(|| step_record(run, n, How::Said, now)),
                view(run, false),
            )
        };
        if let Some(rec) = rec {
            self.progress.moved.store(true, Relaxed);
            self.capture().push_record(&rec);
        }
        Ok(v)
    }

    /// Writes the workspace if a step was done since the last write.
    pub(crate) async fn save_if_progressed(&self) {
        if self.progress.moved.swap(false, Relaxed) {
            // A failure marks the workspace unsaved, and the retry takes it from there.
            let _ = self.save().await;
        }
    }
}

/// The text a step expects of received bytes: their first line with text, trimmed, at most
/// 200 bytes; none when they are not text (a check compares bytes, and a lossy
/// replacement character never matches).
fn expected_text(data: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(data).ok()?;
    let line = s.lines().map(str::trim).find(|l| !l.is_empty())?;
    let mut end = line.len().min(200);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    Some(line[..end].to_string())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

impl Workspace {
    /// Notes a send made through the API (`body` as a step's `send` takes it), made when
    /// the capture was at seq `after`: "Save as lab" makes a step of it.
    pub fn note_send(&self, engine: EngineId, body: serde_json::Value, data: &[u8], after: u64) {
        // A large send would make a lab over its bound: it is left out of the steps.
        if body["data"].as_str().is_some_and(|d| d.len() > 16 * 1024) {
            return;
        }
        let mut sends = self
            .progress
            .sends
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if sends.len() == crate::labs::MAX_STEPS {
            sends.pop_front();
        }
        sends.push_back(SendNote {
            engine,
            body,
            data: data[..data.len().min(200)].to_vec(),
            after,
        });
    }

    /// The sends made to engines `order` (a lab's, in its order) as steps: each with its
    /// `send`, and an `expect` from what came back (the reply the sender received before the
    /// next send, else the same bytes received by another of the engines).
    pub(crate) fn sends_as_steps(
        &self,
        order: &[EngineId],
        names: &[String],
    ) -> Vec<serde_json::Value> {
        /// Records looked through for one send's reply, at most.
        const LOOK: u64 = 5000;
        let notes: Vec<SendNote> = self
            .progress
            .sends
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect();
        let ring = self.capture().lock();
        let end = ring.next_seq();
        let mut steps = Vec::new();
        for (k, note) in notes.iter().enumerate() {
            let Some(n) = order.iter().position(|e| *e == note.engine) else {
                continue;
            };
            let until = notes
                .get(k + 1)
                .map_or(end, |next| next.after)
                .min(note.after.saturating_add(LOOK));
            let received = (note.after.max(ring.first_seq())..until)
                .filter_map(|seq| ring.view(seq))
                .filter(|v| v.kind() == EventKind::Received);
            let mut expect = None;
            for v in received {
                let at = order.iter().position(|e| *e == v.engine());
                if v.engine() == note.engine {
                    expect = Some(match expected_text(v.preview()) {
                        Some(t) => serde_json::json!({"engine": n, "text": t}),
                        None => serde_json::json!({"engine": n, "kind": "received"}),
                    });
                    break;
                }
                if let (Some(m), Some(t)) = (at, expected_text(&note.data))
                    && expect.is_none()
                    && contains(v.preview(), t.as_bytes())
                {
                    expect = Some(serde_json::json!({"engine": m, "text": t}));
                }
            }
            let shown =
                expected_text(&note.data).unwrap_or_else(|| format!("{} bytes", note.data.len()));
            let mut step = serde_json::json!({
                "text": format!("{} sends {shown:?}", names.get(n).map_or("the engine", String::as_str)),
                "engine": n,
                "send": note.body,
            });
            if let Some(e) = expect {
                step["expect"] = e;
            }
            steps.push(step);
        }
        steps
    }
}
