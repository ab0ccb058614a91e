//! Where work that can take long per message runs: reply rules with a regular expression.
//!
//! Not on the async workers: there are as many of those as cores (two on a lab server), and
//! every workspace's sockets and the dashboard itself run on them, so a match that took a
//! second there would stall the whole class for a second. Not on tokio's blocking pool
//! either: it grows to 512 threads, all at normal priority, so thirty students' worst
//! regexes would outnumber the async workers thirty to two for the CPU.
//!
//! Instead a few threads of their own, at the lowest priority there is (Linux's `SCHED_IDLE`:
//! they run only on a core nothing else wants, and give it up the moment something does;
//! nice 19 where that is refused), so a neighbour's echo and `/healthz` answer as if no
//! rule were running. The same threads build pcap files (`web::pcap`). Each workspace may
//! have one job here at a time (its engines take turns, see `Env::rules_turn`), so one
//! workspace's flood waits on itself and the queue stays as short as the number of
//! workspaces using regex rules. A job that panics is reported as `None`, and its thread
//! goes on.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use super::behavior::Response;
use super::{Engine, EngineSpec};
use crate::event::{Draft, EventKind};

/// Threads that run jobs: enough that a few workspaces' slow rules do not queue up behind
/// one another; they are niced, so more of them do not take more from the async workers.
const THREADS: usize = 4;

type Job = Box<dyn FnOnce() + Send>;

fn queue() -> &'static mpsc::Sender<Job> {
    static QUEUE: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..THREADS {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("socketlab-rules-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        // The lock is held only while waiting for the next job, the classic
                        // shared-receiver pool.
                        let job = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        match job {
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
                            }
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!("cannot start a rule-matching thread: {e}");
            }
        }
        tx
    })
}

/// Makes the calling thread yield the CPU to everything else (Linux: `SCHED_IDLE`, else
/// nice 19; both for this thread alone).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: these calls read the struct we pass and touch no other memory; on Linux a
    // thread id given as the pid sets that thread's policy and nice value alone.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::pid_t;
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(tid, libc::SCHED_IDLE, &param) != 0 {
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19);
        }
    }
}

/// Runs `f` on the pool and waits for its result; `None` if it panicked.
pub async fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    queue().send(job).ok()?;
    rx.await.ok()
}

/// A server's response to `data` from `peer` (at most `limit` bytes), worked out on the pool
/// in the engine's workspace's turn. The turn is held by the job itself, so a caller that
/// gives up waiting (its connection closed) does not let a second job of the workspace in
/// beside one still running. A job that panicked answers nothing, with an error event.
pub(super) async fn respond(
    engine: &Arc<Engine>,
    spec: &Arc<EngineSpec>,
    data: &[u8],
    peer: SocketAddr,
    limit: usize,
    at: Draft<'_>,
) -> Response<'static> {
    let Ok(turn) = engine.env.rules_turn.clone().acquire_owned().await else {
        return Response::default();
    };
    let (spec, data) = (spec.clone(), data.to_vec());
    let done = run(move || {
        let _turn = turn;
        let greeting = spec.options.greeting.as_deref().unwrap_or("");
        spec.behavior
            .respond(&spec.compiled_rules, &data, greeting, peer, limit)
            .into_owned()
    })
    .await;
    done.unwrap_or_else(|| {
        engine.emit(Draft {
            kind: EventKind::Error,
            message: Some(
                "the reply rules failed on this message (the server logged why); nothing was answered",
            ),
            ..at
        });
        Response::default()
    })
}

/// The error events a response may need: cut at the size limit, or left partly unanswered
/// past the time budget.
pub(super) fn report(engine: &Engine, r: &Response<'_>, limit: usize, at: Draft<'_>) {
    if r.cut {
        let msg = format!(
            "reply cut to {limit} bytes: the behavior and rules made more than that in answer to one message (--max-message)"
        );
        engine.emit(Draft {
            kind: EventKind::Error,
            message: Some(&msg),
            ..at
        });
    }
    if let Some(n) = r.overtime {
        let msg = format!(
            "the reply rules spent their {} s on this data and left it unanswered from message {} on; make the regular expression simpler",
            super::behavior::MATCH_BUDGET.as_secs(),
            n + 1
        );
        engine.emit(Draft {
            kind: EventKind::Error,
            message: Some(&msg),
            ..at
        });
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn jobs_run_off_the_caller_and_a_panic_is_none() {
        let here = std::thread::current().id();
        let there = super::run(move || std::thread::current().id())
            .await
            .unwrap();
        assert_ne!(here, there);
        let r: Option<()> = super::run(|| panic!("a job that fails")).await;
        assert!(r.is_none());
        assert_eq!(super::run(|| 2 + 2).await, Some(4), "the pool goes on");
    }
}
