//! The `socketlab` binary: flags, logging, and serving until Ctrl-C or SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use socketlab::config::{Access, Cidr, Cli, Config, Policy};

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutting down: stopping every engine");
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

/// The startup lines: where to open the dashboard (the one place the token is ever printed),
/// and in class mode where students join.
fn print_ready(r: &socketlab::Ready<'_>) {
    let s = r.startup;
    if let Some(why) = &s.not_kept {
        eprintln!("warning: {why}");
    }
    for p in &s.problems {
        eprintln!("warning: {p}");
    }
    let base = r.base_url.trim_end_matches('/');
    if r.class {
        println!("listening on http://{}/", r.listen);
        if let Some(t) = &s.token {
            println!("instructor: {base}/?token={t}");
        }
        if let Some(code) = &s.class_code {
            println!("students join at: {base}/join/{code}");
        }
    } else {
        match &s.token {
            Some(t) => println!("listening on http://{}/?token={t}", r.listen),
            None => println!("listening on http://{}/", r.listen),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("socketlab=info")),
        )
        .with_writer(std::io::stderr)
        .init();
    // `socketlab ctl ...`: the API from a shell (its own flags; no server is started).
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("ctl") {
        std::process::exit(socketlab::ctl::main(args[2..].to_vec()).await);
    }
    let cli = Cli::parse();
    // As nginx and Go do: every descriptor the system allows, for engines and the dashboard.
    match socketlab::web::conns::raise_open_files() {
        Some(n) if n < 4096 => eprintln!(
            "warning: the open-file limit is {n} (its hard limit); socketlab serves at most {} dashboard connections and engines share the rest. Raise it (ulimit -Hn, or LimitNOFILE= in a systemd unit) for a large class",
            socketlab::web::conns::http_cap(cli.limits.max_http_connections)
        ),
        _ => {}
    }
    if cli.class && cli.no_token {
        return fail(
            "--no-token is refused in class mode: the instructor's token is what tells the instructor from the students",
        );
    }
    if cli.no_token && cli.public_url.is_some() {
        return fail("--no-token is refused with --public-url: the proxy lets other machines in");
    }
    let token = match (cli.no_token, cli.token) {
        (true, _) => None,
        (false, Some(t))
            if t.len() < 16
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b';' && b != b',') =>
        {
            return fail("the token must be at least 16 printable characters, without ';' or ','");
        }
        (false, Some(t)) => Some(t),
        // A class keeps its generated token across restarts (in its data directory), so it
        // is made there.
        (false, None) if cli.class => None,
        (false, None) => match socketlab::secret::random_hex(24) {
            Ok(t) => Some(t),
            Err(e) => return fail(e),
        },
    };
    if cli.no_token {
        // Checked before binding, so a refused --no-token never opens the port at all.
        let exposed = match tokio::net::lookup_host(&cli.listen).await {
            Ok(mut addrs) => addrs.any(|a| !a.ip().is_loopback()),
            Err(e) => return fail(format!("cannot resolve --listen {}: {e}", cli.listen)),
        };
        if exposed {
            return fail(format!(
                "--no-token is refused on {}, which other machines can reach; listen on 127.0.0.1 or keep the token",
                cli.listen
            ));
        }
    }
    let listener = match tokio::net::TcpListener::bind(&cli.listen).await {
        Ok(l) => l,
        Err(e) => {
            return fail(format!(
                "cannot listen on {}: {e}; pick another address with --listen HOST:PORT (port 0 picks a free one)",
                cli.listen
            ));
        }
    };
    let data_dir = match (cli.no_data_dir, cli.data_dir) {
        (true, _) => None,
        (false, Some(d)) => Some(d),
        (false, None) => {
            directories::ProjectDirs::from("", "", "socketlab").map(|d| d.data_dir().to_path_buf())
        }
    };
    let class = cli.class.then_some(cli.class_limits);
    let targets_given = !cli.allow_target.is_empty();
    let config = Config {
        limits: cli.limits,
        policy: Policy {
            allow_bind: if cli.allow_bind.is_empty() {
                Cidr::loopback()
            } else {
                cli.allow_bind
            },
            allow_target: if cli.allow_target.is_empty() {
                Cidr::loopback()
            } else {
                cli.allow_target
            },
            targets_given,
            allowed_ports: cli.allow_port,
            ..Policy::default()
        },
        access: Access {
            token,
            allowed_hosts: cli.allow_host,
        },
        class,
        data_dir,
        public_url: cli.public_url,
        trusted_proxies: if cli.trusted_proxy.is_empty() {
            Cidr::loopback()
        } else {
            cli.trusted_proxy
        },
    };
    match socketlab::serve_with(listener, config, shutdown_signal(), print_ready).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
