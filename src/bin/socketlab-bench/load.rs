//! Load generators, the same for every server under test.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Ping-pong with 64-byte messages on `conns` connections for `run`: round trips/s and
/// every round trip's latency in µs.
pub(crate) async fn tcp_pingpong(addr: SocketAddr, conns: usize, run: Duration) -> (f64, Vec<u64>) {
    tcp_pingpong_each(&vec![addr; conns], run).await
}

/// [`tcp_pingpong`] with one connection to each of `addrs` (a server per workspace).
pub(crate) async fn tcp_pingpong_each(addrs: &[SocketAddr], run: Duration) -> (f64, Vec<u64>) {
    let start = Instant::now();
    let deadline = start + run;
    let mut tasks = Vec::new();
    for &addr in addrs {
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            let msg = [b'p'; 64];
            let mut back = [0u8; 64];
            let mut lat = Vec::with_capacity(100_000);
            while Instant::now() < deadline {
                let t = Instant::now();
                s.write_all(&msg).await.unwrap();
                s.read_exact(&mut back).await.unwrap();
                lat.push(t.elapsed().as_micros() as u64);
            }
            let _ = s.set_zero_linger();
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let rate = all.len() as f64 / start.elapsed().as_secs_f64();
    (rate, all)
}

/// 64 KiB writes on one connection for `run`, echoed back: Gbit/s of echo received.
pub(crate) async fn tcp_bulk(addr: SocketAddr, run: Duration) -> f64 {
    let s = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let start = Instant::now();
    let writer = tokio::spawn(async move {
        let chunk = vec![b'b'; 65536];
        let mut sent = 0u64;
        while start.elapsed() < run {
            wr.write_all(&chunk).await.unwrap();
            sent += chunk.len() as u64;
        }
        wr.shutdown().await.unwrap();
        sent
    });
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0u64;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), rd.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => got += n as u64,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let sent = writer.await.unwrap();
    if got < sent {
        eprintln!("  warning: bulk echo returned {got} of {sent} bytes");
    }
    got as f64 * 8.0 / secs / 1e9
}

/// How long a datagram's echo is waited for before it counts as lost.
const UDP_TIMEOUT: Duration = Duration::from_millis(50);

/// One 64-byte datagram numbered `seq` sent to `addr`: its echo's round trip in µs, if it
/// came back within [`UDP_TIMEOUT`] (older echoes that arrive meanwhile are passed over).
async fn ping(s: &UdpSocket, addr: SocketAddr, seq: u64) -> Option<u64> {
    let mut msg = [b'u'; 64];
    let mut back = [0u8; 128];
    msg[..8].copy_from_slice(&seq.to_le_bytes());
    let t = Instant::now();
    s.send_to(&msg, addr).await.unwrap();
    let wait = tokio::time::Instant::now() + UDP_TIMEOUT;
    loop {
        match tokio::time::timeout_at(wait, s.recv_from(&mut back)).await {
            Ok(Ok((n, _))) if n >= 8 && back[..8] == seq.to_le_bytes() => {
                return Some(t.elapsed().as_micros() as u64);
            }
            Ok(Ok(_)) => continue,
            _ => return None,
        }
    }
}

/// 64-byte datagrams ping-ponged on `sockets` sockets, one in flight on each, for `run`:
/// datagrams/s echoed, the fraction lost (no echo within 50 ms), and every round trip in µs.
pub(crate) async fn udp_echo(
    addr: SocketAddr,
    sockets: usize,
    run: Duration,
) -> (f64, f64, Vec<u64>) {
    let start = Instant::now();
    let deadline = start + run;
    let mut tasks = Vec::new();
    for _ in 0..sockets {
        tasks.push(tokio::spawn(async move {
            let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let (mut lat, mut lost) = (Vec::with_capacity(100_000), 0u64);
            let mut seq = 0u64;
            while Instant::now() < deadline {
                seq += 1;
                match ping(&s, addr, seq).await {
                    Some(us) => lat.push(us),
                    None => lost += 1,
                }
            }
            (lat, lost)
        }));
    }
    let (mut all, mut lost) = (Vec::new(), 0);
    for t in tasks {
        let (l, n) = t.await.unwrap();
        all.extend(l);
        lost += n;
    }
    let ok = all.len() as u64;
    (
        ok as f64 / start.elapsed().as_secs_f64(),
        lost as f64 / (ok + lost).max(1) as f64,
        all,
    )
}

/// Sends 64-byte datagrams at `rate` per second (0 = as fast as possible) for `run`.
pub(crate) async fn udp_blast(addr: SocketAddr, rate: u64, run: Duration) -> u64 {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let msg = [b'e'; 64];
    let start = Instant::now();
    let mut sent = 0u64;
    if rate == 0 {
        while start.elapsed() < run {
            for _ in 0..64 {
                if s.send_to(&msg, addr).await.is_ok() {
                    sent += 1;
                }
            }
            tokio::task::yield_now().await;
        }
        return sent;
    }
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while start.elapsed() < run {
        tick.tick().await;
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        while sent < due {
            let _ = s.send_to(&msg, addr).await;
            sent += 1;
        }
    }
    sent
}

/// Opens `n` idle connections (from several 127.x source addresses so ports do not run
/// short), pings each once so every one is accepted and served, and returns them with the
/// accept rate.
pub(crate) async fn hold(addr: SocketAddr, n: usize) -> (Vec<TcpStream>, f64) {
    let start = Instant::now();
    let mut conns = Vec::with_capacity(n);
    let mut pending = Vec::new();
    for i in 0..n {
        let src: SocketAddr = ([127, 0, 1, 1 + (i / 20_000) as u8], 0).into();
        pending.push(tokio::spawn(async move {
            let sock = tokio::net::TcpSocket::new_v4().unwrap();
            sock.bind(src).unwrap();
            let mut s = sock.connect(addr).await.unwrap();
            s.write_all(b"h").await.unwrap();
            let mut b = [0u8; 1];
            s.read_exact(&mut b).await.unwrap();
            s
        }));
        if pending.len() == 256 {
            for p in pending.drain(..) {
                conns.push(p.await.unwrap());
            }
        }
    }
    for p in pending {
        conns.push(p.await.unwrap());
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    (conns, rate)
}

/// 64-byte datagrams echoed by `addr`, 100 sockets ping-ponging at once, until `total` echoes
/// came back (a lost datagram is sent again after 100 ms); returns the echoes.
pub(crate) async fn udp_echo_count(addr: SocketAddr, total: u64) -> u64 {
    let done = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let mut seq = 0u64;
            while done.load(std::sync::atomic::Ordering::Relaxed) < total {
                seq += 1;
                if ping(&s, addr, seq).await.is_some() {
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    done.load(std::sync::atomic::Ordering::Relaxed)
}
