//! The dashboard's own connections, bounded the way nginx bounds its own
//! (`client_header_timeout`, `keepalive_timeout`, `worker_connections`), so that half-sent
//! requests cannot take the server's file descriptors or keep a real request waiting.
//!
//! Every accepted connection gets a [`Slot`] in one table, and its socket is wrapped
//! ([`Tracked`]) so that reading from it enforces, with no task of its own:
//!
//! 1. **Headers within [`HEADER_TIMEOUT`]**: from the accept, or from the first byte of a
//!    later request on a kept-alive connection, to the moment the router is called.
//! 2. **Idle for at most [`IDLE_TIMEOUT`]**: a kept-alive connection with no request in
//!    flight and no byte arriving is closed.
//! 3. **At most [`Table`]'s `max` at once**. At the cap, the oldest connection with no
//!    request in flight (one still sending its headers, or idle between requests) is closed
//!    to make room, so a flood of half-sent requests makes room for a real one instead of
//!    keeping it waiting; with none such, the new one is closed at once.
//!
//! 4. **Bodies at a pace**: after [`BODY_GRACE`], a request body must have come at
//!    [`BODY_MIN_RATE`] on average (Apache's `mod_reqtimeout` rule), and may pause at most
//!    [`IDLE_TIMEOUT`] between pieces; while its body is arriving a connection counts as one
//!    that may be closed to make room. A body trickled a byte at a time cannot hold a place.
//! 5. **Answers read**: a write that cannot go out for [`SEND_TIMEOUT`] (a client that does
//!    not read) closes the connection, as nginx's `send_timeout` does.
//!
//! A request whose body is in, and a WebSocket once upgraded, are never timed out or evicted
//! here: those have their own bounds (handlers answer, viewers are pinged).
//!
//! A connection closed after an answer given before its body was read (an upload refused
//! by its declared length) is closed as nginx's `lingering_close` does: the write side
//! first, then what the client is still sending is read and dropped for up to [`LINGER`],
//! so the client reads the answer instead of a reset. At most [`MAX_LINGERING`] at once.

mod limits;
mod track;

pub use limits::{http_cap, open_files_limit, raise_open_files};
pub use track::{HttpConn, hold_until_sent, track};

use std::collections::BTreeMap;
use std::future::Future as _;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// How long a request's headers may take to arrive.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a kept-alive connection may wait for its next request, and a request body
/// between two pieces.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a request body may take before it must keep to [`BODY_MIN_RATE`].
pub const BODY_GRACE: Duration = Duration::from_secs(10);
/// The slowest a request body may come, on average, after [`BODY_GRACE`]: 1 KiB/s, far
/// below any real link and far above a trickle.
pub const BODY_MIN_RATE: u64 = 1024;
/// How long a write to a client may wait for it to read.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a closing connection's unread bytes are read and dropped (nginx's
/// `lingering_time` is 30 s; a refused upload on loopback or a LAN needs far less).
pub const LINGER: Duration = Duration::from_secs(2);
/// Connections lingering at once; past it, one closes at once.
pub const MAX_LINGERING: usize = 64;

static LINGERING: AtomicUsize = AtomicUsize::new(0);

/// Reads and drops what the client still sends, after our side's FIN, until it closes or
/// [`LINGER`] has passed.
async fn linger(mut stream: TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = stream.shutdown().await;
    let drain = async {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
    LINGERING.fetch_sub(1, Relaxed);
}

/// One accepted connection's state, shared by its socket wrapper and its requests.
#[derive(Debug)]
pub struct Slot {
    id: u64,
    /// Requests whose response is not finished yet.
    in_flight: AtomicUsize,
    /// A WebSocket: from here on the connection is the stream's.
    upgraded: AtomicBool,
    /// Since when (ms after the table's epoch, +1 so 0 means "not") a request's head has been
    /// awaited: the accept, or the first byte after an idle spell.
    head_since: AtomicU64,
    /// Since when (same clock) the connection has been idle between requests.
    idle_since: AtomicU64,
    /// Since when (same clock) a request's body has been arriving; 0 when none is.
    body_since: AtomicU64,
    /// Bytes of that body so far.
    body_bytes: AtomicU64,
    kill: CancellationToken,
}

impl Slot {
    /// Whether the connection may be closed to make room: it is not a WebSocket, and no
    /// request on it is past its body (waiting for its head, idle, or still sending a body).
    fn evictable(&self) -> bool {
        !self.upgraded.load(Relaxed)
            && (self.in_flight.load(Relaxed) == 0 || self.body_since.load(Relaxed) != 0)
    }
}

/// Every open connection of the dashboard, oldest first.
#[derive(Debug)]
pub struct Table {
    max: usize,
    epoch: Instant,
    next: AtomicU64,
    slots: Mutex<BTreeMap<u64, Arc<Slot>>>,
    last_warned: AtomicU64,
}

impl Table {
    /// A table of at most `max` connections.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            epoch: Instant::now(),
            next: AtomicU64::new(1),
            slots: Mutex::new(BTreeMap::new()),
            last_warned: AtomicU64::new(0),
        })
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Slot>>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The clock the slots keep their times in: ms since the epoch, plus one.
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// Closes the oldest connection with no request in flight; whether there was one.
    fn evict_one(slots: &mut BTreeMap<u64, Arc<Slot>>) -> bool {
        let victim = slots.values().find(|s| s.evictable()).map(|s| s.id);
        match victim.and_then(|id| slots.remove(&id)) {
            Some(s) => {
                s.kill.cancel();
                true
            }
            None => false,
        }
    }

    /// A place for a new connection, making room at the cap; `None` when every connection
    /// is busy.
    fn admit(&self) -> Option<Arc<Slot>> {
        let mut slots = self.lock();
        if slots.len() >= self.max && !Self::evict_one(&mut slots) {
            return None;
        }
        let slot = Arc::new(Slot {
            id: self.next.fetch_add(1, Relaxed),
            in_flight: AtomicUsize::new(0),
            upgraded: AtomicBool::new(false),
            head_since: AtomicU64::new(self.now()),
            idle_since: AtomicU64::new(0),
            body_since: AtomicU64::new(0),
            body_bytes: AtomicU64::new(0),
            kill: CancellationToken::new(),
        });
        slots.insert(slot.id, slot.clone());
        Some(slot)
    }

    /// Says so in the log, at most once a minute, so a flood cannot fill the log either.
    fn warn(&self, what: &str) {
        let now = self.now();
        let last = self.last_warned.load(Relaxed);
        if (last == 0 || now.saturating_sub(last) >= 60_000)
            && self
                .last_warned
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_ok()
        {
            tracing::warn!("{what}");
        }
    }
}

/// The dashboard's listener: accepts, admits into the [`Table`], wraps each socket.
pub struct Listener {
    inner: TcpListener,
    table: Arc<Table>,
}

impl Listener {
    /// Serves `inner`'s connections within `table`.
    pub fn new(inner: TcpListener, table: Arc<Table>) -> Self {
        Self { inner, table }
    }
}

impl axum::serve::Listener for Listener {
    type Io = Tracked;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Tracked, SocketAddr) {
        loop {
            let (stream, addr) = match self.inner.accept().await {
                Ok(x) => x,
                Err(e) => {
                    use io::ErrorKind::*;
                    if matches!(
                        e.kind(),
                        ConnectionRefused | ConnectionAborted | ConnectionReset
                    ) {
                        continue;
                    }
                    // Out of file descriptors, most likely: free one of ours if we can, and
                    // try again soon rather than after axum's second.
                    self.table.warn(&format!(
                        "the dashboard cannot accept connections: {e}; closing an idle one (raise the open-file limit, or lower --max-http-connections)"
                    ));
                    Table::evict_one(&mut self.table.lock());
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            // Events go out as many small WebSocket frames: without TCP_NODELAY, Nagle's
            // algorithm and delayed ACKs would hold some of them back by tens of ms.
            let _ = stream.set_nodelay(true);
            match self.table.admit() {
                Some(slot) => return (Tracked::new(stream, slot, self.table.clone()), addr),
                None => self.table.warn(&format!(
                    "{} connections to the dashboard are all busy (--max-http-connections); refusing new ones until one ends",
                    self.table.max
                )),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// An accepted socket that times itself out and can be evicted (see the module doc).
pub struct Tracked {
    /// Always there but in `drop`, which may hand it to [`linger`].
    stream: Option<TcpStream>,
    slot: Arc<Slot>,
    table: Arc<Table>,
    killed: Pin<Box<WaitForCancellationFutureOwned>>,
    timer: Pin<Box<tokio::time::Sleep>>,
    armed_for: u64,
    /// Since when (the table's clock) a write has been waiting for the client to read.
    write_blocked: u64,
    write_timer: Pin<Box<tokio::time::Sleep>>,
}

impl Tracked {
    fn new(stream: TcpStream, slot: Arc<Slot>, table: Arc<Table>) -> Self {
        Self {
            stream: Some(stream),
            killed: Box::pin(slot.kill.clone().cancelled_owned()),
            slot,
            table,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            armed_for: 0,
            write_blocked: 0,
            write_timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }

    /// When this connection times out, on the table's clock, if it can now.
    fn deadline(&self) -> Option<u64> {
        let s = &self.slot;
        if s.upgraded.load(Relaxed) {
            return None;
        }
        if s.in_flight.load(Relaxed) > 0 {
            // A body on its way must keep its pace; a request past its body has none.
            return match s.body_since.load(Relaxed) {
                0 => None,
                since => {
                    let paced = s.body_bytes.load(Relaxed) * 1000 / BODY_MIN_RATE;
                    Some(since + BODY_GRACE.as_millis() as u64 + paced)
                }
            };
        }
        match s.head_since.load(Relaxed) {
            0 => Some(s.idle_since.load(Relaxed) + IDLE_TIMEOUT.as_millis() as u64),
            since => Some(since + HEADER_TIMEOUT.as_millis() as u64),
        }
    }

    /// `Err` once the connection is evicted or past its deadline; else arms the timer.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.killed.as_mut().poll(cx).is_ready() {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "closed to make room for a new connection",
            ));
        }
        let Some(deadline) = self.deadline() else {
            return Ok(());
        };
        let now = self.table.now();
        if now >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no complete request, or its body too slow, in time",
            ));
        }
        if self.armed_for != deadline {
            self.armed_for = deadline;
            let at = tokio::time::Instant::now() + Duration::from_millis(deadline - now);
            self.timer.as_mut().reset(at);
        }
        // Registers the wake-up; if it is already due, the next poll finds the deadline past.
        if self.timer.as_mut().poll(cx).is_ready() {
            cx.waker().wake_by_ref();
        }
        Ok(())
    }
}

impl Tracked {
    /// Notes whether a write is waiting on the client; `Err` (the connection closes) once one
    /// has waited [`SEND_TIMEOUT`].
    fn watch_write(&mut self, cx: &mut Context<'_>, blocked: bool) -> io::Result<()> {
        if !blocked {
            self.write_blocked = 0;
            return Ok(());
        }
        let now = self.table.now();
        if self.write_blocked == 0 {
            self.write_blocked = now;
            let at = tokio::time::Instant::now() + SEND_TIMEOUT;
            self.write_timer.as_mut().reset(at);
        }
        if now.saturating_sub(self.write_blocked) >= SEND_TIMEOUT.as_millis() as u64 {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client read nothing for 60 s",
            ));
        }
        if self.write_timer.as_mut().poll(cx).is_ready() {
            cx.waker().wake_by_ref();
        }
        Ok(())
    }

    fn stream(&mut self) -> Pin<&mut TcpStream> {
        Pin::new(
            self.stream
                .as_mut()
                .expect("the stream is taken only on drop"),
        )
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.table.lock().remove(&self.slot.id);
        let Some(stream) = self.stream.take() else {
            return;
        };
        // Evicted or timed out (a flood's) or a WebSocket: closed at once.
        let s = &self.slot;
        if s.kill.is_cancelled()
            || s.upgraded.load(Relaxed)
            || self.deadline().is_some_and(|d| self.table.now() >= d)
        {
            return;
        }
        // The client has closed (or the socket failed): a plain close sends no reset. Bytes
        // still coming, or none yet from a client that may be mid-upload: linger.
        let mut probe = [0u8; 1];
        match stream.try_read(&mut probe) {
            Ok(0) => return,
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => return,
            _ => {}
        }
        if LINGERING.fetch_add(1, Relaxed) < MAX_LINGERING
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            // A closing HTTP connection's linger belongs to no engine; it is bounded in time
            // and in number (MAX_LINGERING).
            #[allow(clippy::disallowed_methods)]
            rt.spawn(linger(stream));
        } else {
            LINGERING.fetch_sub(1, Relaxed);
        }
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Err(e) = self.check(cx) {
            return Poll::Ready(Err(e));
        }
        let before = buf.filled().len();
        let r = self.stream().poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let s = &self.slot;
            // The first byte of a request on an idle connection starts its header clock.
            if s.in_flight.load(Relaxed) == 0 && s.head_since.load(Relaxed) == 0 {
                s.head_since.store(self.table.now(), Relaxed);
            }
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.killed.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
        }
        let r = self.stream().poll_write(cx, buf);
        if let Err(e) = self.watch_write(cx, r.is_pending()) {
            return Poll::Ready(Err(e));
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream().poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = self.stream().poll_write_vectored(cx, bufs);
        if let Err(e) = self.watch_write(cx, r.is_pending()) {
            return Poll::Ready(Err(e));
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }
}

#[cfg(test)]
mod tests;
