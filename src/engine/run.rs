//! One start of an engine: everything live (its sockets' tasks, connections, the datagram
//! held back for `reorder`, the ones delayed, the impairment's generator, repeated sends).
//! Stop cancels it, waits for its tasks and drops it, so none of it outlives the run: the
//! port is free and nothing more is said once `stop` returns.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::impair::{Fate, Impair, Impairer};
use super::udp_send::Held;
use super::{Conn, EngineSpec, UdpCmd};
use crate::ids::ConnId;

/// What a start is given before it has a socket: its generation, its cancellation token (a
/// child of the workspace's), and the spec it runs, as it was at that moment.
pub(super) struct Starting {
    pub generation: u64,
    pub cancel: CancellationToken,
    pub spec: Arc<EngineSpec>,
}

impl Starting {
    /// The run, once its socket is bound (`local`) and, for a client, connected (`peer`).
    pub fn run(self, local: SocketAddr, peer: Option<SocketAddr>) -> Run {
        let impairer = self.spec.options.impair.filter(|i| !i.is_off());
        let repeats = self.cancel.child_token();
        Run {
            generation: self.generation,
            spec: self.spec,
            cancel: self.cancel,
            tracker: TaskTracker::new(),
            side: TaskTracker::new(),
            local,
            peer,
            udp: None,
            delayed: AtomicUsize::new(0),
            impaired: AtomicBool::new(impairer.is_some()),
            holding: AtomicUsize::new(0),
            repeating: AtomicUsize::new(0),
            live: Mutex::new(Live {
                conns: BTreeMap::new(),
                ended: None,
                stop_reason: None,
                impairer: impairer.map(Impairer::new),
                held: VecDeque::new(),
                next_held: 0,
                repeats,
            }),
        }
    }
}

/// One start of an engine.
pub struct Run {
    pub(super) generation: u64,
    /// What this run was started with.
    pub(super) spec: Arc<EngineSpec>,
    pub(super) cancel: CancellationToken,
    /// Every task of the run: stop closes it and waits for it.
    pub(super) tracker: TaskTracker,
    /// Tasks the main task waits for before it says the run ended (delayed datagrams), so
    /// none of their events comes after `stopped`.
    side: TaskTracker,
    pub(super) local: SocketAddr,
    pub(super) peer: Option<SocketAddr>,
    pub(super) udp: Option<mpsc::Sender<UdpCmd>>,
    /// Bytes of datagrams delayed by `impair.delay_ms` or held back for `reorder` now,
    /// bounded (see `udp_send`).
    pub(super) delayed: AtomicUsize,
    /// Repeated sends going now.
    pub(super) repeating: AtomicUsize,
    /// Whether datagrams are impaired now, read per datagram without the lock.
    impaired: AtomicBool,
    /// How many datagrams are held back for `reorder` now.
    holding: AtomicUsize,
    // std Mutex: short updates and reads, never held across an `.await`.
    live: Mutex<Live>,
}

/// What changes while the run goes, behind the run's one lock.
pub(super) struct Live {
    pub conns: BTreeMap<ConnId, Arc<Conn>>,
    /// Why the run ended by itself before `start` recorded it (a client whose server closed
    /// at once).
    pub ended: Option<String>,
    /// Why it is being stopped, when not by a user's request (an idle workspace).
    pub stop_reason: Option<String>,
    /// The impairment's settings and generator (none when off).
    impairer: Option<Impairer>,
    /// Datagrams held back to go after the next one, oldest first, each with its number.
    held: VecDeque<(u64, Held)>,
    next_held: u64,
    /// What repeated sends go by: a child of the run's token, replaced when they are stopped.
    repeats: CancellationToken,
}

impl Run {
    pub(super) fn live(&self) -> MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Follows new impairment settings from the next datagram on.
    pub(super) fn set_impair(&self, cfg: Option<Impair>) {
        let impairer = cfg.filter(|c| !c.is_off()).map(Impairer::new);
        self.impaired.store(impairer.is_some(), Relaxed);
        self.live().impairer = impairer;
    }

    /// Whether datagrams go through the impairment now: it is on, or a datagram it held back
    /// still waits for the next one sent (an impairment turned off meanwhile included).
    pub(super) fn is_impaired(&self) -> bool {
        self.impaired.load(Relaxed) || self.holding.load(Relaxed) > 0
    }

    /// What happens to the next datagram, with the settings that decided it.
    pub(super) fn fate(&self) -> Option<(Fate, Impair)> {
        let mut live = self.live();
        live.impairer.as_mut().map(|i| (i.decide(), i.settings()))
    }

    /// Holds a datagram back; returns its number, for [`Run::release_held`].
    pub(super) fn hold(&self, held: Held) -> u64 {
        self.delayed.fetch_add(held.len(), Relaxed);
        self.holding.fetch_add(1, Relaxed);
        let mut live = self.live();
        let n = live.next_held;
        live.next_held += 1;
        live.held.push_back((n, held));
        n
    }

    /// Every datagram held back, oldest first: they go after the one just sent.
    pub(super) fn take_held(&self) -> Vec<Held> {
        let held: Vec<Held> = self.live().held.drain(..).map(|(_, h)| h).collect();
        for h in &held {
            self.delayed.fetch_sub(h.len(), Relaxed);
        }
        self.holding.fetch_sub(held.len(), Relaxed);
        held
    }

    /// Datagram `n`, if it is still held (no later one has taken it along).
    pub(super) fn release_held(&self, n: u64) -> Option<Held> {
        let mut live = self.live();
        let at = live.held.iter().position(|(k, _)| *k == n)?;
        let (_, h) = live.held.remove(at)?;
        self.delayed.fetch_sub(h.len(), Relaxed);
        self.holding.fetch_sub(1, Relaxed);
        Some(h)
    }

    /// Runs a delayed datagram's task: it is cancelled with the run and awaited by
    /// [`Run::settle`].
    pub(super) fn spawn_side<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.side.spawn(task);
    }

    /// Called by the main task before it reports the end: waits for the delayed datagrams'
    /// tasks (they end at once when the run is cancelled, each saying its datagram was
    /// dropped) and drops the datagrams still held back, each with its event, so every
    /// datagram the engine sent is accounted for and the socket is closed when the run ends.
    pub(super) async fn settle(&self, engine: &super::Engine) {
        self.side.close();
        self.side.wait().await;
        for h in self.take_held() {
            h.dropped_at_stop(engine);
        }
    }

    /// The token repeated sends go by now.
    pub(super) fn repeats(&self) -> CancellationToken {
        self.live().repeats.clone()
    }

    /// Ends every repeated send going; returns how many there were.
    pub(super) fn stop_repeats(&self) -> usize {
        let going = self.repeating.load(Relaxed);
        let fresh = self.cancel.child_token();
        std::mem::replace(&mut self.live().repeats, fresh).cancel();
        going
    }
}
