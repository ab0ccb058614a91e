//! A connection's loop waits on its socket, its close and its command queue at once, but in
//! a ping-pong the socket wakes it every message while the other two almost never do. Polling
//! the close (a cancellation token: three lock round trips a poll) and the queue every time
//! the socket goes quiet cost a few percent of a busy class. The bell polls them only when
//! one of them has rung since they were last polled: they are registered with a waker of its
//! own, which notes the ring and then wakes the task.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// What the bell's waker does: notes that it rang, then wakes the task.
#[derive(Debug)]
struct Flag {
    rung: AtomicBool,
    /// The task's waker, kept from the first poll: a task's waker stays the same for its
    /// life, so the usual poll only compares (an `AtomicWaker` would take two locked
    /// instructions a poll to register the same waker again).
    task: OnceLock<Waker>,
    /// Any other waker a poll brings (a future polled from elsewhere).
    other: AtomicWaker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.rung.store(true, Ordering::Release);
        if let Some(w) = self.task.get() {
            w.wake_by_ref();
        }
        self.other.wake();
    }
}

/// Polls rarely-ready futures only once one of them may be ready. What it watches must be
/// polled through it alone: polled elsewhere with the task's own waker, it would be
/// registered with that waker, and a wake meant for it would wake the task without ringing
/// the bell, and be lost (a close waited on beside a byte-rate pause once was).
#[derive(Debug)]
pub(super) struct Bell {
    flag: Arc<Flag>,
    waker: Waker,
}

impl Bell {
    /// A bell that has rung: the first poll registers what it watches.
    pub(super) fn new() -> Self {
        let flag = Arc::new(Flag {
            rung: AtomicBool::new(true),
            task: OnceLock::new(),
            other: AtomicWaker::new(),
        });
        let waker = Waker::from(flag.clone());
        Self { flag, waker }
    }

    /// Runs `poll` with the bell's waker if the bell has rung since `poll` last returned
    /// `Pending`; otherwise `Pending` at once, and the task is woken when it rings.
    pub(super) fn poll<T>(
        &self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        // The task's waker first, then the flag: a ring after the swap wakes the task.
        if !self
            .flag
            .task
            .get_or_init(|| cx.waker().clone())
            .will_wake(cx.waker())
        {
            self.flag.other.register(cx.waker());
        }
        if !self.flag.rung.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        match poll(&mut Context::from_waker(&self.waker)) {
            Poll::Ready(v) => {
                // What became ready may have more behind it (a queue with a second command
                // wakes nobody): look again next time.
                self.flag.rung.store(true, Ordering::Release);
                Poll::Ready(v)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn it_polls_again_only_after_a_ring_and_a_ready_value() {
        let bell = Bell::new();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let task = Waker::from(count.clone());
        let mut cx = Context::from_waker(&task);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(4);
        let polls = AtomicUsize::new(0);
        let mut poll = |cx: &mut Context<'_>| {
            bell.poll(cx, |cx| {
                polls.fetch_add(1, Ordering::SeqCst);
                rx.poll_recv(cx)
            })
        };
        assert!(poll(&mut cx).is_pending(), "nothing queued");
        assert!(poll(&mut cx).is_pending());
        assert_eq!(polls.load(Ordering::SeqCst), 1, "not polled again unrung");
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "the send woke the task");
        assert_eq!(poll(&mut cx), Poll::Ready(Some(1)));
        // The second value woke nobody (the queue had been polled with no waker since), yet
        // it is found: a ready value leaves the bell rung.
        assert_eq!(poll(&mut cx), Poll::Ready(Some(2)));
        assert!(poll(&mut cx).is_pending());
        drop(tx);
        assert_eq!(poll(&mut cx), Poll::Ready(None), "a closed queue rings too");
    }

    #[tokio::test]
    async fn a_poll_with_another_waker_is_woken_too() {
        let bell = Bell::new();
        let counts: Vec<Arc<Count>> = (0..2)
            .map(|_| Arc::new(Count(AtomicUsize::new(0))))
            .collect();
        let wakers: Vec<Waker> = counts.iter().map(|c| Waker::from(c.clone())).collect();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(4);
        let mut poll = |w: &Waker| bell.poll(&mut Context::from_waker(w), |cx| rx.poll_recv(cx));
        assert!(poll(&wakers[0]).is_pending());
        assert!(poll(&wakers[1]).is_pending(), "polled from elsewhere");
        tx.try_send(7).unwrap();
        assert_eq!(
            counts[1].0.load(Ordering::SeqCst),
            1,
            "the other waker is woken"
        );
        assert_eq!(poll(&wakers[1]), Poll::Ready(Some(7)));
    }
}
