//! A udp-proxy: each client's datagrams go from socketlab's own socket for that client to the
//! target, and the replies come back to the client from the address it sent to. Both legs
//! are recorded (`conn` names the client's pair, `leg` the side); `options.impair` applies
//! both ways.
//!
//! UDP has no close, so a pair ends when neither side has sent for `options.idle_secs`
//! (as a NAT forgets a mapping): both legs get a `closed` event saying so, and the pair's
//! connection place goes back to the workspace's budget. A client outside `--allow-target`
//! (perhaps a spoofed address) gets back no more bytes than it sent.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio_util::task::TaskTracker;

use super::udp::DATAGRAM_MAX;
use super::udp_send::{Via, sendto};
use super::{Conn, Engine, Run, Starting};
use crate::error::ApiError;
use crate::event::{Call, Draft, EventKind, NewSocket};
use crate::ids::Leg;

/// Binds where clients send, then relays in the background.
pub(super) async fn start(engine: &Arc<Engine>, starting: Starting) -> Result<Arc<Run>, ApiError> {
    let mut last_err = None;
    let mut sock = None;
    for addr in engine.bind_plan() {
        match UdpSocket::bind(addr).await {
            Ok(s) => {
                sock = Some(s);
                break;
            }
            Err(e) => last_err = Some(super::bind_error(addr, &e)),
        }
    }
    let Some(sock) = sock else {
        return Err(engine.no_bind(last_err));
    };
    let local = sock
        .local_addr()
        .map_err(|e| ApiError::internal(format!("local_addr: {e}")))?;
    let run = Arc::new(starting.run(local, None));
    engine.emit(NewSocket::new(local, false).draft().leg(Leg::Client));
    engine.emit(
        Draft::new(EventKind::Bound, Call::Bind)
            .local(local)
            .leg(Leg::Client),
    );
    run.tracker
        .spawn(front(engine.clone(), run.clone(), Arc::new(sock)));
    Ok(run)
}

/// A client's pair: its connection record and socketlab's socket to the server for it.
struct Pair {
    conn: Arc<Conn>,
    up: Arc<UdpSocket>,
    up_local: SocketAddr,
    /// Shared with the pair's task for the server's replies.
    state: Arc<PairState>,
}

/// What both directions of a pair update.
struct PairState {
    /// When a datagram last went either way, in ms since the proxy started.
    last: AtomicU64,
    /// For a client outside `--allow-target`: the bytes it sent not yet matched by bytes
    /// sent back to it. `None` for a client the proxy may answer in full.
    credit: Option<AtomicI64>,
}

impl PairState {
    fn touch(&self, since: Instant) {
        self.last.store(since.elapsed().as_millis() as u64, Relaxed);
    }
}

/// Receives clients' datagrams and passes each on from that client's own upstream socket.
async fn front(engine: Arc<Engine>, run: Arc<Run>, sock: Arc<UdpSocket>) {
    let local = run.local;
    let backs = TaskTracker::new();
    let mut pairs: HashMap<SocketAddr, Pair> = HashMap::new();
    let max = engine.env.config.limits.max_connections;
    let idle = Duration::from_secs(
        run.spec
            .options
            .idle_secs
            .unwrap_or(super::spec::DEFAULT_IDLE_SECS),
    );
    let since = Instant::now();
    let mut sweep = tokio::time::interval(idle.min(Duration::from_secs(1)));
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut buf = vec![0u8; DATAGRAM_MAX];
    let mut stopped = std::pin::pin!(run.cancel.cancelled());
    loop {
        let (n, from) = tokio::select! {
            biased;
            _ = &mut stopped => break,
            _ = sweep.tick() => {
                close_idle(&engine, &run, &mut pairs, since, idle);
                continue;
            }
            r = sock.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => {
                    let msg = format!("recvfrom() failed: {e}");
                    engine.emit(Draft::new(EventKind::Error, Call::RecvFrom).local(local).message(&msg).leg(Leg::Client));
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        if !pairs.contains_key(&from) {
            let full = if pairs.len() >= max {
                Some(format!(
                    "the proxy relays for {max} clients at most (--max-connections)"
                ))
            } else if !engine.env.take_conn_place() {
                Some(engine.env.conn_budget_message())
            } else {
                None
            };
            if let Some(why) = full {
                let msg = format!("dropped {from}'s datagram: {why}");
                engine.emit(
                    Draft::new(EventKind::Refused, Call::RecvFrom)
                        .local(local)
                        .peer(from)
                        .message(&msg)
                        .leg(Leg::Client),
                );
                continue;
            }
            match open_pair(&engine, &run, from, local).await {
                Ok(p) => {
                    backs.spawn(back(
                        engine.clone(),
                        run.clone(),
                        p.conn.clone(),
                        p.up.clone(),
                        sock.clone(),
                        from,
                        (p.state.clone(), since),
                    ));
                    pairs.insert(from, p);
                }
                Err(why) => {
                    engine.env.give_conn_place();
                    engine.emit(
                        Draft::new(EventKind::Error, Call::SendTo)
                            .local(local)
                            .peer(from)
                            .message(&why)
                            .leg(Leg::Server),
                    );
                    continue;
                }
            }
        }
        let Some(p) = pairs.get(&from) else { continue };
        // recvfrom(recv_size), as the program would: a longer datagram is cut, and what is
        // relayed is what was read.
        let (n, cut) = cut_to(n, run.spec.options.recv_size);
        let data = &buf[..n];
        engine.stats.received(n);
        p.conn.count(true, true, n);
        p.state.touch(since);
        if let Some(c) = &p.state.credit {
            c.fetch_add(n as i64, Relaxed);
        }
        let mut d = Draft::new(EventKind::Received, Call::RecvFrom)
            .conn(p.conn.id)
            .data(data)
            .leg(Leg::Client);
        if let Some(note) = &cut {
            d = d.message(note);
        }
        engine.emit(d);
        let target = p.up.peer_addr().unwrap_or(p.up_local);
        let via = Via {
            conn: Some(p.conn.id.leg(Leg::Server)),
            once: false,
        };
        if let Ok(sent) = sendto(&engine, &run, &p.up, p.up_local, data, target, via).await {
            p.conn.count(false, false, sent);
        }
    }
    for p in pairs.values() {
        p.conn.close.cancel();
    }
    backs.close();
    backs.wait().await;
    run.settle(&engine).await;
    for p in pairs.values() {
        engine.remove_conn(&run, &p.conn);
        let num = p.conn.id;
        engine.emit(
            Draft::new(EventKind::Closed, Call::Close)
                .conn(num.leg(Leg::Server))
                .message("closed: the proxy stopped")
                .leg(Leg::Server),
        );
        engine.emit(
            Draft::new(EventKind::Closed, Call::Close)
                .conn(num)
                .message("closed: the proxy stopped")
                .leg(Leg::Client),
        );
    }
    drop(sock);
    engine.end_run(&run, "socket closed");
}

/// Closes the pairs that have been silent both ways for `idle`, giving back their places.
fn close_idle(
    engine: &Engine,
    run: &Run,
    pairs: &mut HashMap<SocketAddr, Pair>,
    since: Instant,
    idle: Duration,
) {
    let now = since.elapsed().as_millis() as u64;
    let idle_ms = idle.as_millis() as u64;
    let silent: Vec<SocketAddr> = pairs
        .iter()
        .filter(|(_, p)| now.saturating_sub(p.state.last.load(Relaxed)) >= idle_ms)
        .map(|(a, _)| *a)
        .collect();
    for addr in silent {
        let Some(p) = pairs.remove(&addr) else {
            continue;
        };
        p.conn.close.cancel();
        engine.remove_conn(run, &p.conn);
        let msg = format!(
            "closed: no datagram either way for {} s (options.idle_secs); the client's next datagram opens a new pair",
            idle.as_secs()
        );
        engine.emit(
            Draft::new(EventKind::Closed, Call::Close)
                .conn(p.conn.id.leg(Leg::Server))
                .message(&msg)
                .leg(Leg::Server),
        );
        engine.emit(
            Draft::new(EventKind::Closed, Call::Close)
                .conn(p.conn.id)
                .message(&msg)
                .leg(Leg::Client),
        );
    }
}

/// A new client: its connection record and a socket of socketlab's connected to the target.
async fn open_pair(
    engine: &Arc<Engine>,
    run: &Arc<Run>,
    client: SocketAddr,
    local: SocketAddr,
) -> Result<Pair, String> {
    let target = *engine
        .target_addrs
        .first()
        .ok_or_else(|| "no target address".to_string())?;
    // Bound where the route to the target leaves from, never every interface.
    let route = if target.ip().is_loopback() {
        None
    } else {
        super::udp::route_source(target).await
    };
    let from = super::udp::client_bind(target, route, &engine.env.config.policy)
        .map_err(|e| e.to_string())?;
    let up = UdpSocket::bind(from)
        .await
        .map_err(|e| format!("socket for {client}: {e}"))?;
    up.connect(target)
        .await
        .map_err(|e| format!("connect() to {target}: {e}"))?;
    let up_local = up.local_addr().map_err(|e| e.to_string())?;
    let (conn, _rx) = engine.add_conn(run, client, local);
    engine
        .env
        .capture
        .open_conn(conn.id.leg(Leg::Server), up_local, target);
    conn.set_upstream(up_local, target);
    let msg = format!(
        "AF_INET{}, SOCK_DGRAM: socketlab's socket for {client}",
        if target.is_ipv4() { "" } else { "6" }
    );
    engine.emit(
        Draft::new(EventKind::Created, Call::Socket)
            .conn(conn.id.leg(Leg::Server))
            .message(&msg)
            .leg(Leg::Server),
    );
    let outsider = !engine.env.config.policy.target_allowed(client.ip());
    let state = Arc::new(PairState {
        last: AtomicU64::new(0),
        credit: outsider.then(|| AtomicI64::new(0)),
    });
    Ok(Pair {
        conn,
        up: Arc::new(up),
        up_local,
        state,
    })
}

/// The server's replies for one client, sent back to it from the address it sent to.
async fn back(
    engine: Arc<Engine>,
    run: Arc<Run>,
    conn: Arc<Conn>,
    up: Arc<UdpSocket>,
    front: Arc<UdpSocket>,
    client: SocketAddr,
    (state, since): (Arc<PairState>, Instant),
) {
    let mut buf = vec![0u8; DATAGRAM_MAX];
    let Ok(front_local) = front.local_addr() else {
        return;
    };
    let closed = conn.close.clone();
    loop {
        let n = tokio::select! {
            biased;
            _ = closed.cancelled() => break,
            r = up.recv(&mut buf) => match r {
                Ok(n) => n,
                Err(e) => {
                    // An ICMP "port unreachable" from a server that is not there: say so, go on.
                    let msg = format!("recv() from the server failed: {e}");
                    engine.emit(Draft::new(EventKind::Error, Call::RecvFrom).conn(conn.id.leg(Leg::Server)).message(&msg).leg(Leg::Server));
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let (n, cut) = cut_to(n, run.spec.options.recv_size);
        let data = &buf[..n];
        engine.stats.received(n);
        conn.count(false, true, n);
        state.touch(since);
        let mut d = Draft::new(EventKind::Received, Call::RecvFrom)
            .conn(conn.id.leg(Leg::Server))
            .data(data)
            .leg(Leg::Server);
        if let Some(note) = &cut {
            d = d.message(note);
        }
        engine.emit(d);
        if let Some(credit) = &state.credit
            && credit.fetch_sub(n as i64, Relaxed) < n as i64
        {
            credit.fetch_add(n as i64, Relaxed);
            let msg = format!(
                "not passed on to {client}: it is outside --allow-target and has been sent back as many bytes as it sent; socketlab is no amplifier"
            );
            engine.emit(
                Draft::new(EventKind::Dropped, Call::SendTo)
                    .conn(conn.id)
                    .data(data)
                    .message(&msg)
                    .leg(Leg::Client),
            );
            continue;
        }
        let via = Via {
            conn: Some(conn.id.leg(Leg::Client)),
            once: state.credit.is_some(),
        };
        if let Ok(sent) = sendto(&engine, &run, &front, front_local, data, client, via).await {
            conn.count(true, false, sent);
        }
    }
}

/// A datagram of `n` bytes read with `recvfrom(recv_size)`: the bytes kept, and the note
/// saying what was cut, if any.
fn cut_to(n: usize, recv_size: usize) -> (usize, Option<String>) {
    let got = n.min(recv_size);
    let note = (got < n).then(|| {
        format!("datagram of {n} bytes; recvfrom({recv_size}) kept the first {got}, the rest is discarded, and the first {got} are relayed")
    });
    (got, note)
}
