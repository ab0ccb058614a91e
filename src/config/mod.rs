//! Run-time settings: where the dashboard listens, the limits from API.md, and the address
//! policy engines must stay inside.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::TypedValueParser as _;

mod cli;
mod net;

pub use cli::Cli;
pub use net::{Cidr, Policy, PublicUrl};

/// Limits from API.md's Limits table. Each is a command-line flag whose default is this
/// struct's [`Default`], so `Config::default()` is what the binary runs with.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct Limits {
    /// Engines that may exist at once.
    #[arg(long, default_value_t = Limits::default().max_engines)]
    pub max_engines: usize,
    /// Open connections per server engine (unless its max_clients is lower).
    #[arg(long, default_value_t = Limits::default().max_connections)]
    pub max_connections: usize,
    /// Bytes in one send (UDP is further capped at 65507).
    #[arg(long, default_value_t = Limits::default().max_message)]
    pub max_message: usize,
    /// WebSocket viewers at once.
    #[arg(long, default_value_t = Limits::default().max_viewers)]
    pub max_viewers: usize,
    /// Events kept for replay (per workspace).
    #[arg(long, default_value_t = Limits::default().history)]
    pub history: usize,
    /// Bytes of data carried in one event (at most 65535); the rest is cut and `truncated` set.
    #[arg(long, default_value_t = Limits::default().preview,
          value_parser = clap::value_parser!(u16).map(usize::from))]
    pub preview: usize,
    /// Seconds a client's connect() may take (more than 0, at most 600).
    #[arg(long, value_name = "SECONDS", default_value = DEFAULT_CONNECT_TIMEOUT, value_parser = seconds)]
    pub connect_timeout: Duration,
    /// Events a live viewer may fall behind before it is told it lagged.
    #[arg(skip = Limits::default().viewer_buffer)]
    pub viewer_buffer: usize,
    /// Bytes of events kept for replay (per workspace; a 64-byte recv() takes about 112, a
    /// 64-byte recvfrom() 126, so the default keeps over 1.3 million of them). The oldest go
    /// first past it, so a flood of large previews cannot grow memory beyond this.
    #[arg(long, default_value_t = Limits::default().history_bytes)]
    pub history_bytes: usize,
    /// How long a viewer's socket may take no bytes before the viewer is closed.
    #[arg(skip = Limits::default().viewer_stall)]
    pub viewer_stall: Duration,
    /// Bytes one file may have: an upload, or one an engine receives.
    #[arg(long, default_value_t = Limits::default().max_file)]
    pub max_file: u64,
    /// Files one workspace may keep (uploads and received files).
    #[arg(long = "ws-max-files", value_name = "WS_MAX_FILES", default_value_t = Limits::default().max_files)]
    pub max_files: usize,
    /// Bytes personal mode's (and the instructor's) files may take together; a student's
    /// are --ws-files-bytes.
    #[arg(long, default_value_t = Limits::default().files_bytes)]
    pub files_bytes: u64,
    /// WebSocket streams of watch links, per workspace (counted apart from --max-viewers, so
    /// watchers never take the owner's place).
    #[arg(long, default_value_t = Limits::default().max_watchers)]
    pub max_watchers: usize,
    /// Open connections to the dashboard itself (pages, API, streams); never more than half
    /// the open-file limit, the other half being the engines'.
    #[arg(long, default_value_t = Limits::default().max_http_connections)]
    pub max_http_connections: usize,
}

/// `--connect-timeout`'s default, in seconds.
const DEFAULT_CONNECT_TIMEOUT: &str = "5";
/// `--idle`'s default.
const DEFAULT_IDLE: &str = "2h";
/// `--expire`'s default.
const DEFAULT_EXPIRE: &str = "7d";
/// `--ports`' default.
const DEFAULT_PORTS: &str = "20000-29999";

/// Seconds, as `--connect-timeout` takes them.
fn seconds(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 600.0 => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!(
            "{s:?}: give seconds between 0 and 600, e.g. 5 or 0.5"
        )),
    }
}

/// A port range as `--ports` takes it: `LO-HI`, LO at least 1024.
pub fn parse_ports(s: &str) -> Result<(u16, u16), String> {
    let bad = || format!("{s:?}: write the range as LO-HI, e.g. 20000-29999");
    let (lo, hi) = s.split_once('-').ok_or_else(bad)?;
    let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
    let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
    if lo < 1024 || lo > hi {
        return Err(format!(
            "{s:?}: LO must be 1024 or more and no more than HI"
        ));
    }
    Ok((lo, hi))
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_engines: 64,
            max_connections: 1024,
            max_message: 1024 * 1024,
            max_viewers: 64,
            history: 2_000_000,
            preview: 4096,
            connect_timeout: seconds(DEFAULT_CONNECT_TIMEOUT).expect("the default parses"),
            viewer_buffer: 2048,
            history_bytes: 160 * 1024 * 1024,
            viewer_stall: Duration::from_secs(60),
            max_file: 64 * 1024 * 1024,
            max_files: 256,
            files_bytes: 4 << 30,
            max_watchers: 64,
            max_http_connections: 1024,
        }
    }
}

/// The largest payload of one UDP datagram over IPv4 (65535 - 8 - 20).
pub const MAX_UDP_PAYLOAD: usize = 65_507;

/// Who may use the dashboard: the Host names it answers to and the access token.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The token every `/api` and `/ws` request must carry; `None` turns the check off.
    pub token: Option<String>,
    /// Extra Host names to answer to (`--allow-host`), besides localhost, 127.0.0.1, [::1]
    /// and the listen host.
    pub allowed_hosts: Vec<String>,
}

/// Class mode (`--class`): one server, a workspace per student, each with these limits. Each
/// is a command-line flag whose default is this struct's [`Default`].
#[derive(Debug, Clone, PartialEq, clap::Args)]
#[command(next_help_heading = "Class mode")]
pub struct ClassConfig {
    /// Engines one student workspace may have.
    #[arg(long, default_value_t = ClassConfig::default().ws_max_engines)]
    pub ws_max_engines: usize,
    /// Open connections over all of one workspace's engines.
    #[arg(long, default_value_t = ClassConfig::default().ws_max_connections)]
    pub ws_max_connections: usize,
    /// Bytes per second one workspace's engines may receive together; past it they read
    /// more slowly.
    #[arg(long, default_value_t = ClassConfig::default().ws_bytes_per_sec)]
    pub ws_bytes_per_sec: u64,
    /// Bytes of event history one student workspace keeps.
    #[arg(long, default_value_t = ClassConfig::default().ws_history_bytes)]
    pub ws_history_bytes: usize,
    /// Bytes one student workspace's files may take together.
    #[arg(long, default_value_t = ClassConfig::default().ws_files_bytes)]
    pub ws_files_bytes: u64,
    /// Requests a second to the dashboard per student workspace (its watchers have as many
    /// again); past a second's worth they wait, past two they get 429.
    #[arg(long, default_value_t = ClassConfig::default().ws_requests_per_sec)]
    pub ws_requests_per_sec: u64,
    /// The ports cut into blocks, one per workspace.
    #[arg(long, value_name = "LO-HI", default_value = DEFAULT_PORTS, value_parser = parse_ports)]
    pub ports: (u16, u16),
    /// Ports in one workspace's block (at least 1).
    #[arg(long, default_value_t = ClassConfig::default().ports_per_workspace,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub ports_per_workspace: u16,
    /// A workspace with no request, viewer or traffic for this long has its engines stopped.
    #[arg(long, default_value = DEFAULT_IDLE, value_parser = humantime::parse_duration)]
    pub idle: Duration,
    /// A student workspace unused for this long is removed.
    #[arg(long, default_value = DEFAULT_EXPIRE, value_parser = humantime::parse_duration)]
    pub expire: Duration,
    /// Student workspaces that may exist at once.
    #[arg(long, default_value_t = ClassConfig::default().max_workspaces)]
    pub max_workspaces: usize,
    /// Wrong join codes one client address may try per minute before `429`.
    #[arg(skip = ClassConfig::default().join_attempts_per_minute)]
    pub join_attempts_per_minute: u32,
}

impl Default for ClassConfig {
    fn default() -> Self {
        let duration = |s| humantime::parse_duration(s).expect("the default parses");
        Self {
            ws_max_engines: 16,
            ws_max_connections: 256,
            ws_bytes_per_sec: 50_000_000,
            ws_history_bytes: 8 * 1024 * 1024,
            ws_files_bytes: 512 << 20,
            ws_requests_per_sec: 100,
            ports: parse_ports(DEFAULT_PORTS).expect("the default parses"),
            ports_per_workspace: 100,
            idle: duration(DEFAULT_IDLE),
            expire: duration(DEFAULT_EXPIRE),
            max_workspaces: 200,
            join_attempts_per_minute: 10,
        }
    }
}

impl ClassConfig {
    /// How many port blocks `ports` holds.
    pub fn blocks(&self) -> usize {
        let span = usize::from(self.ports.1.saturating_sub(self.ports.0)) + 1;
        span / usize::from(self.ports_per_workspace.max(1))
    }

    /// Block `n` as `(LO, HI)`.
    pub fn block(&self, n: usize) -> Option<(u16, u16)> {
        if n >= self.blocks() {
            return None;
        }
        let size = self.ports_per_workspace.max(1);
        let lo = self.ports.0 + (n as u16) * size;
        Some((lo, lo + size - 1))
    }
}

/// Everything the server needs to run.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Limits from API.md.
    pub limits: Limits,
    /// The address policy for engines.
    pub policy: Policy,
    /// Host check and access token.
    pub access: Access,
    /// Class mode, when on: workspaces for students and an instructor.
    pub class: Option<ClassConfig>,
    /// Where workspaces, their engines' specs and (later) labs and files are kept; `None`
    /// keeps nothing on disk.
    pub data_dir: Option<PathBuf>,
    /// The address users reach socketlab by, behind a reverse proxy.
    pub public_url: Option<PublicUrl>,
    /// Peers whose `X-Forwarded-For` is believed (`--trusted-proxy`; loopback when empty).
    pub trusted_proxies: Vec<Cidr>,
}
