//! A tcp-proxy: socketlab between a real client and a real server. It accepts each client,
//! connects to the target for it, and relays both ways, recording both legs (`conn` names
//! the pair, `leg` says which side): a half-close is passed on as a `shutdown(SHUT_WR)`, a
//! reset as a reset, and an upstream that refuses or does not answer closes that client with
//! an event saying why. The relay copies each chunk once into the capture's preview and once
//! to the other socket, nothing more.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;

use super::tcp::{accept_each, bind_listener, connect_error};
use super::{Conn, Engine, Run, Starting};
use crate::error::ApiError;
use crate::event::{Call, Draft, EventKind, NewSocket};
use crate::ids::{ConnId, Leg};

/// Binds and listens where clients come, then accepts and relays in the background.
pub(super) async fn start(engine: &Arc<Engine>, starting: Starting) -> Result<Arc<Run>, ApiError> {
    let backlog = starting.spec.options.backlog.unwrap_or(5);
    let (listener, local) = bind_listener(engine, backlog)?;
    let run = Arc::new(starting.run(local, None));
    engine.emit(NewSocket::new(local, true).draft().leg(Leg::Client));
    engine.emit(
        Draft::new(EventKind::Bound, Call::Bind)
            .local(local)
            .leg(Leg::Client),
    );
    let msg = format!(
        "listening, backlog {backlog}; relaying each client to {}",
        run.spec.target.as_deref().unwrap_or("?")
    );
    engine.emit(
        Draft::new(EventKind::Listening, Call::Listen)
            .local(local)
            .message(&msg)
            .leg(Leg::Client),
    );
    run.tracker
        .spawn(accept_loop(engine.clone(), run.clone(), listener));
    Ok(run)
}

async fn accept_loop(engine: Arc<Engine>, run: Arc<Run>, listener: TcpListener) {
    let (e, r) = (engine.clone(), run.clone());
    accept_each(
        &engine,
        &run,
        listener,
        Some(Leg::Client),
        move |conn, _rx, stream| {
            e.emit(
                Draft::new(EventKind::Accepted, Call::Accept)
                    .conn(conn.id)
                    .leg(Leg::Client),
            );
            pair(e.clone(), r.clone(), conn, stream)
        },
    )
    .await;
}

/// A failed upstream `connect()`: why, and the socket's own address and the target, which
/// its event names (not the client's connection).
struct Unreached {
    error: ApiError,
    local: Option<SocketAddr>,
    target: Option<SocketAddr>,
}

/// Connects to the target for one client: each resolved address in turn, with the timeout.
/// The socket is bound first (port 0, as `connect()` would), so a failure can say which
/// ephemeral port tried.
async fn upstream(engine: &Engine, cancel: &CancellationToken) -> Result<TcpStream, Unreached> {
    let timeout = engine.env.config.limits.connect_timeout;
    let mut last = Unreached {
        error: ApiError::connect_failed("no address to connect to".into()),
        local: None,
        target: None,
    };
    for &target in &engine.target_addrs {
        let from: SocketAddr = match (target.is_ipv4(), target.ip().is_loopback()) {
            (true, true) => ([127, 0, 0, 1], 0).into(),
            (true, false) => ([0, 0, 0, 0], 0).into(),
            (false, true) => (std::net::Ipv6Addr::LOCALHOST, 0).into(),
            (false, false) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let sock = match if target.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .and_then(|s| s.bind(from).map(|()| s))
        {
            Ok(s) => s,
            Err(e) => {
                last = Unreached {
                    error: connect_error(target, &e),
                    local: None,
                    target: Some(target),
                };
                continue;
            }
        };
        let local = sock.local_addr().ok();
        let attempt = tokio::select! {
            _ = cancel.cancelled() => return Err(Unreached {
                error: ApiError::not_running("the proxy was stopped".into()),
                local,
                target: Some(target),
            }),
            r = tokio::time::timeout(timeout, sock.connect(target)) => r,
        };
        let error = match attempt {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => connect_error(target, &e),
            Err(_) => ApiError::connect_failed(format!(
                "connect() to {target} timed out after {:.1} s: no answer",
                timeout.as_secs_f64()
            )),
        };
        last = Unreached {
            error,
            local,
            target: Some(target),
        };
    }
    Err(last)
}

/// How one direction ended.
enum End {
    /// The reading side finished sending (FIN): passed on as a half-close.
    Finished,
    /// The reading side reset the connection.
    Reset,
    /// A socket call failed, or the proxy or the pair was closed.
    Closed(String),
}

/// One client and its upstream connection, relayed both ways until both are done.
async fn pair(engine: Arc<Engine>, run: Arc<Run>, conn: Arc<Conn>, client: TcpStream) {
    let server = match upstream(&engine, &conn.close).await {
        Ok(s) => s,
        Err(e) => {
            let why = e.error.to_string();
            // The event is the upstream socket's: its own address and the target, on the
            // server leg, as a successful connect's would be.
            let up = conn.id.leg(Leg::Server);
            let mut d = Draft::new(EventKind::Error, Call::Connect)
                .message(&why)
                .leg(Leg::Server);
            d = match (e.local, e.target) {
                (Some(local), Some(target)) => {
                    engine.env.capture.open_conn(up, local, target);
                    d.conn(up)
                }
                (local, target) => {
                    let d = if let Some(l) = local { d.local(l) } else { d };
                    if let Some(t) = target { d.peer(t) } else { d }
                }
            };
            engine.emit(d);
            drop(client);
            engine.remove_conn(&run, &conn);
            let msg = format!("closed: the server could not be reached ({why})");
            engine.emit(
                Draft::new(EventKind::Closed, Call::Close)
                    .conn(conn.id)
                    .message(&msg)
                    .leg(Leg::Client),
            );
            return;
        }
    };
    let _ = server.set_nodelay(true);
    let up_local = server.local_addr().unwrap_or(run.local);
    let up_peer = server.peer_addr().unwrap_or(run.local);
    let up = conn.id.leg(Leg::Server);
    let down = conn.id.leg(Leg::Client);
    engine.env.capture.open_conn(up, up_local, up_peer);
    conn.set_upstream(up_local, up_peer);
    engine.emit(
        NewSocket::new(up_local, true)
            .draft()
            .conn(up)
            .leg(Leg::Server),
    );
    let msg = format!(
        "connected from ephemeral port {} for {}",
        up_local.port(),
        conn.peer
    );
    engine.emit(
        Draft::new(EventKind::Connected, Call::Connect)
            .conn(up)
            .message(&msg)
            .leg(Leg::Server),
    );
    let (crd, cwr) = client.into_split();
    let (srd, swr) = server.into_split();
    let size = run.spec.options.recv_size;
    let c2s = relay(&engine, &conn, crd, swr, down, up, size, true);
    let s2c = relay(&engine, &conn, srd, cwr, up, down, size, false);
    let ((end_a, crd, swr), (end_b, srd, cwr)) = tokio::join!(c2s, s2c);
    let reset = matches!(end_a, End::Reset) || matches!(end_b, End::Reset);
    let (client, server) = (crd.reunite(cwr).ok(), srd.reunite(swr).ok());
    // A reset on one side is passed on as a reset on the other: close with linger 0.
    let (client_msg, server_msg) = match (&end_a, &end_b) {
        (End::Reset, _) => (
            "connection reset by peer".to_string(),
            "closed: reset passed on from the client".to_string(),
        ),
        (_, End::Reset) => (
            "closed: reset passed on from the server".to_string(),
            "connection reset by peer".to_string(),
        ),
        (End::Closed(w), _) | (_, End::Closed(w)) => {
            (format!("closed: {w}"), format!("closed: {w}"))
        }
        _ => (
            "closed: both sides finished".to_string(),
            "closed: both sides finished".to_string(),
        ),
    };
    if reset {
        for s in [client.as_ref(), server.as_ref()].into_iter().flatten() {
            let _ = s.set_zero_linger();
        }
    }
    drop(client);
    drop(server);
    engine.remove_conn(&run, &conn);
    engine.emit(
        Draft::new(EventKind::Closed, Call::Close)
            .conn(up)
            .message(&server_msg)
            .leg(Leg::Server),
    );
    engine.emit(
        Draft::new(EventKind::Closed, Call::Close)
            .conn(conn.id)
            .message(&client_msg)
            .leg(Leg::Client),
    );
}

/// One direction: read a chunk from `rd`, record it on the reading leg, write it to `wr`,
/// record it on the writing leg; a FIN becomes a `shutdown(SHUT_WR)` on the other side.
#[allow(clippy::too_many_arguments)]
async fn relay(
    engine: &Engine,
    conn: &Conn,
    mut rd: OwnedReadHalf,
    mut wr: OwnedWriteHalf,
    from: ConnId,
    to: ConnId,
    size: usize,
    from_client: bool,
) -> (End, OwnedReadHalf, OwnedWriteHalf) {
    let mut buf = vec![0u8; size];
    let closed = conn.close.clone();
    let end = loop {
        let n = tokio::select! {
            biased;
            _ = closed.cancelled() => break End::Closed("the proxy closed it".into()),
            r = super::tcp::paid_read(engine, &mut rd, &mut buf) => r,
        };
        let n =
            match n {
                Ok(0) => {
                    engine.emit(Draft::new(EventKind::Eof, Call::Recv).conn(from).message(
                        "recv() returned 0 bytes: the peer closed its side (end of stream)",
                    ));
                    let _ = wr.shutdown().await;
                    let msg = if from_client {
                        "passed on: the client finished sending (its recv() returned 0)"
                    } else {
                        "passed on: the server finished sending (its recv() returned 0)"
                    };
                    engine.emit(
                        Draft::new(EventKind::Shutdown, Call::Shutdown)
                            .conn(to)
                            .message(msg),
                    );
                    break End::Finished;
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break End::Reset,
                Err(e) => break End::Closed(format!("recv() failed: {e}")),
            };
        let data = &buf[..n];
        engine.stats.received(n);
        conn.count(from_client, true, n);
        engine.emit(
            Draft::new(EventKind::Received, Call::Recv)
                .conn(from)
                .data(data),
        );
        let wrote = tokio::select! {
            biased;
            _ = closed.cancelled() => break End::Closed("the proxy closed it".into()),
            r = wr.write_all(data) => r,
        };
        match wrote {
            Ok(()) => {
                engine.stats.sent(n);
                conn.count(!from_client, false, n);
                engine.emit(Draft::new(EventKind::Sent, Call::Send).conn(to).data(data));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                ) =>
            {
                break End::Reset;
            }
            Err(e) => break End::Closed(format!("send() failed: {e}")),
        }
        // (The workspace's byte budget was claimed by the read: see `paid_read`.)
    };
    // A reset or a failure ends the pair: the other direction stops too (a FIN does not:
    // the other side may go on sending, as a half-closed TCP connection does).
    if !matches!(end, End::Finished) {
        conn.close.cancel();
    }
    (end, rd, wr)
}
