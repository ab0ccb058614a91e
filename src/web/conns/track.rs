//! A request on its connection: marked in flight from the moment the router is called until
//! its response body is sent, its body's pace watched, an upgrade to a WebSocket noted.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};

use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::IncomingStream;

use super::{IDLE_TIMEOUT, Listener, Slot, Table};

/// What a request knows of its connection: the peer's address and its slot.
#[derive(Debug, Clone)]
pub struct HttpConn {
    /// The peer.
    pub addr: SocketAddr,
    slot: Arc<Slot>,
    table: Arc<Table>,
}

impl axum::extract::connect_info::Connected<IncomingStream<'_, Listener>> for HttpConn {
    fn connect_info(stream: IncomingStream<'_, Listener>) -> Self {
        let io = stream.io();
        HttpConn {
            addr: *stream.remote_addr(),
            slot: io.slot.clone(),
            table: io.table.clone(),
        }
    }
}

/// A request in flight on its connection, until its response body is done or dropped.
struct Busy {
    slot: Arc<Slot>,
    table: Arc<Table>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        if self.slot.in_flight.fetch_sub(1, Relaxed) == 1 {
            self.slot.idle_since.store(self.table.now(), Relaxed);
        }
    }
}

/// A response body that keeps something (its request counted as in flight, a place among a
/// workspace's large answers) until it is sent or dropped.
struct Holding<T> {
    inner: Body,
    _held: T,
}

/// `body`, keeping `held` until it is sent or dropped.
pub fn hold_until_sent<T: Send + Unpin + 'static>(body: Body, held: T) -> Body {
    Body::new(Holding {
        inner: body,
        _held: held,
    })
}

impl<T: Send + Unpin + 'static> HttpBody for Holding<T> {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A request body on its way: its bytes counted for the pace rule, its end noted.
struct Arriving {
    inner: Body,
    slot: Arc<Slot>,
}

impl Arriving {
    fn done(&self) {
        self.slot.body_since.store(0, Relaxed);
    }
}

impl Drop for Arriving {
    fn drop(&mut self) {
        self.done();
    }
}

impl HttpBody for Arriving {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        match &r {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    self.slot.body_bytes.fetch_add(d.len() as u64, Relaxed);
                }
                if self.inner.is_end_stream() {
                    self.done();
                }
            }
            Poll::Ready(_) => self.done(),
            Poll::Pending => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The outermost middleware: marks the request in flight on its connection (its headers are
/// complete: this is the router being called), bounds its body's pauses, and notes an
/// upgrade to a WebSocket. Handlers still see the peer as `ConnectInfo<SocketAddr>`.
pub async fn track(mut req: Request, next: Next) -> Response {
    let Some(ConnectInfo(conn)) = req.extensions().get::<ConnectInfo<HttpConn>>().cloned() else {
        return next.run(req).await;
    };
    req.extensions_mut().insert(ConnectInfo(conn.addr));
    conn.slot.in_flight.fetch_add(1, Relaxed);
    conn.slot.head_since.store(0, Relaxed);
    let busy = Busy {
        slot: conn.slot.clone(),
        table: conn.table.clone(),
    };
    let req = req.map(|b| {
        let timed = tower_http::timeout::TimeoutBody::new(IDLE_TIMEOUT, b);
        if timed.is_end_stream() {
            return Body::new(timed);
        }
        // A body to come: its pace is watched until it ends or the handler drops it.
        conn.slot.body_bytes.store(0, Relaxed);
        conn.slot.body_since.store(conn.table.now(), Relaxed);
        Body::new(Arriving {
            inner: Body::new(timed),
            slot: conn.slot.clone(),
        })
    });
    let res = next.run(req).await;
    if res.status() == StatusCode::SWITCHING_PROTOCOLS {
        conn.slot.upgraded.store(true, Relaxed);
    }
    res.map(|inner| hold_until_sent(inner, busy))
}
