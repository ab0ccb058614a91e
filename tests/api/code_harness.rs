//! Running generated programs for real (`python3`, `bash` + `nc`, `tclsh` + tcl-udp): the
//! process, its output, and waiting for it to bind, for `code_servers` and `code_clients`.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use socketlab::code::Lang;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::process::{Child, Command};

use crate::helpers::*;

/// The languages whose programs run here.
pub const RUN: [Lang; 3] = [Lang::Python, Lang::Bash, Lang::Tcl];

/// Fails (does not skip) when an interpreter is missing: `.ci/run` installs them.
pub fn check_tools() {
    for (cmd, args, pkg) in [
        ("python3", vec!["-c", "pass"], "python3"),
        ("bash", vec!["-c", "true"], "bash"),
        ("nc", vec!["-h"], "netcat-openbsd"),
        ("tclsh", vec![], "tcl"),
    ] {
        let mut c = std::process::Command::new(cmd);
        c.args(&args).stdout(Stdio::null()).stderr(Stdio::null());
        if cmd == "tclsh" {
            c.stdin(Stdio::piped());
        }
        let ok = c.spawn().is_ok_and(|mut child| {
            if let Some(mut i) = child.stdin.take() {
                use std::io::Write;
                let _ = i.write_all(b"package require udp\nexit 0\n");
            }
            child.wait().is_ok_and(|s| s.success() || cmd == "nc")
        });
        assert!(
            ok,
            "{cmd} is needed to run the generated programs: apt-get install {pkg} tcl-udp (.ci/run installs them)"
        );
    }
}

/// A generated program running, in its own process group (Bash's `nc` children go with it).
pub struct Prog {
    pub child: Child,
    out: Arc<Mutex<Vec<u8>>>,
}

impl Drop for Prog {
    fn drop(&mut self) {
        // The whole group: Bash's `nc` and coprocesses too. (procps' `kill -KILL -PID`
        // misreads some negative PIDs as signal options, so not through the command.)
        if let Some(pid) = self.child.id().and_then(|p| i32::try_from(p).ok())
            && pid > 1
        {
            // SAFETY: kill(2) with a negative PID signals that process group only; the
            // group was made for this child (`process_group(0)`), so it holds only its own.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
}

impl Prog {
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    /// Waits for a line of output containing `what`; returns it.
    pub async fn line_with(&self, what: &str) -> String {
        for _ in 0..500 {
            // Whole lines only: a line the program is still writing may have come in part
            // (its port cut after two digits, on a busy machine).
            let out = self.output();
            let whole = out.rfind('\n').map_or("", |end| &out[..end]);
            if let Some(l) = whole.lines().find(|l| l.contains(what)) {
                return l.to_string();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "no line with {what:?} in 5 s; the program said:\n{}",
            self.output()
        );
    }
}

/// Runs `code` in a fresh directory; `stdin` is written first, then closed if `close`.
pub async fn run(lang: Lang, code: &str, dir: &Path, stdin: &[u8], close: bool) -> Prog {
    let file = format!("prog.{}", lang.extension());
    std::fs::write(dir.join(&file), code).unwrap();
    let (cmd, args): (&str, Vec<&str>) = match lang {
        Lang::Python => ("python3", vec!["-u", &file]),
        Lang::Bash => ("bash", vec![&file]),
        Lang::Tcl => ("tclsh", vec![&file]),
        Lang::Powershell => unreachable!("PowerShell is checked by golden files only"),
    };
    let mut child = Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = Arc::new(Mutex::new(Vec::new()));
    for mut pipe in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let out = out.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                out.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
    }
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).await.unwrap();
    if close {
        drop(input);
    } else {
        // Kept open (a manual server reads its replies from it), for as long as the test.
        std::mem::forget(input);
    }
    Prog { child, out }
}

/// Whether something listens on (TCP) or is bound to (UDP) `port`, from /proc, so that
/// looking does not take the one connection a `nc` server accepts.
pub fn bound(port: u16, tcp: bool) -> bool {
    let files: &[&str] = if tcp {
        &["/proc/net/tcp", "/proc/net/tcp6"]
    } else {
        &["/proc/net/udp", "/proc/net/udp6"]
    };
    let hex = format!(":{port:04X}");
    files.iter().any(|f| {
        std::fs::read_to_string(f)
            .unwrap_or_default()
            .lines()
            .skip(1)
            .any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.len() > 3 && cols[1].ends_with(&hex) && (!tcp || cols[3] == "0A")
            })
    })
}

pub async fn wait_bound(prog: &mut Prog, port: u16, tcp: bool) {
    for _ in 0..1000 {
        if bound(port, tcp) {
            return;
        }
        if let Ok(Some(st)) = prog.child.try_wait() {
            panic!(
                "the program ended ({st}) before binding {port}:\n{}",
                prog.output()
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("nothing bound to {port} in 10 s:\n{}", prog.output());
}

/// The program behind engine `id` in `lang`.
pub async fn code_of(app: &TestApp, id: &str, lang: Lang) -> String {
    let r = app
        .http
        .get(format!(
            "{}/api/engines/{id}/code?lang={}",
            app.base,
            lang.name()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.text().await.unwrap()
}

/// What arrives on `s`: waits up to `first` for a first byte, then until 300 ms pass quietly
/// (or the peer closes).
pub async fn read_quiet(s: &mut TcpStream, first: Duration) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let mut wait = first;
    loop {
        match tokio::time::timeout(wait, s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return buf,
        }
        wait = Duration::from_millis(300);
    }
}

pub async fn recv_quiet(s: &UdpSocket, first: Duration) -> Vec<u8> {
    let mut buf = vec![0u8; 65536];
    let mut out = Vec::new();
    let mut wait = first;
    while let Ok(Ok((n, _))) = tokio::time::timeout(wait, s.recv_from(&mut buf)).await {
        out.extend_from_slice(&buf[..n]);
        wait = Duration::from_millis(300);
    }
    out
}

/// Text with times and the given addresses masked, so two runs compare.
pub fn masked(data: &[u8], names: &[(String, &str)]) -> String {
    let mut t = String::from_utf8_lossy(data).into_owned();
    for (from, to) in names {
        t = t.replace(from.as_str(), to);
    }
    let time = regex_lite::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").unwrap();
    time.replace_all(&t, "TIME").into_owned()
}

/// Messages for a line-reading program (Bash reads a line at a time) or for any program (the
/// lecture's client sends without a newline).
pub fn messages(lang: Lang, lines: &[&str], bare: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    if lang != Lang::Bash {
        out.extend(bare.iter().map(|s| s.to_string()));
    }
    out
}

/// A server engine, and one more like it whose program runs (its port never used by the
/// engine, so no TIME_WAIT is in the way).
pub async fn server_pair(app: &TestApp, spec: Value, lang: Lang) -> (Value, String, u16) {
    let e = app.engine(spec.clone()).await;
    let twin = app.engine(spec).await;
    let id = twin["id"].as_str().unwrap().to_string();
    let code = code_of(app, &id, lang).await;
    let (st, _) = app
        .post(&format!("/api/engines/{id}/stop"), json!({}))
        .await;
    assert_eq!(st.as_u16(), 200);
    (e, code, local_of(&twin).port())
}
