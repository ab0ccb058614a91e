//! EngineSpec: what a user asks for, parsed strictly with errors that name the field.

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::behavior::Behavior;
use super::rules::{RuleSpec, Rules};
use crate::addr::{HostPort, parse_host_port};
use crate::error::ApiError;
use crate::ids::FileId;

/// The engine kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Listens, accepts, and serves each connection with a behavior.
    TcpServer,
    /// Connects to a target; one connection.
    TcpClient,
    /// Binds a datagram socket and answers datagrams with a behavior.
    UdpServer,
    /// Sends datagrams to a target.
    UdpClient,
    /// Accepts clients at `bind`, connects each to `target`, relays both ways.
    TcpProxy,
    /// Relays each client's datagrams from `bind` to `target` and the replies back.
    UdpProxy,
}

impl Kind {
    /// Every kind, in API.md's order.
    pub const ALL: [Kind; 6] = [
        Self::TcpServer,
        Self::TcpClient,
        Self::UdpServer,
        Self::UdpClient,
        Self::TcpProxy,
        Self::UdpProxy,
    ];

    /// Parses a kind name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "tcp-server" => Some(Self::TcpServer),
            "tcp-client" => Some(Self::TcpClient),
            "udp-server" => Some(Self::UdpServer),
            "udp-client" => Some(Self::UdpClient),
            "tcp-proxy" => Some(Self::TcpProxy),
            "udp-proxy" => Some(Self::UdpProxy),
            _ => None,
        }
    }

    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::TcpServer => "tcp-server",
            Self::TcpClient => "tcp-client",
            Self::UdpServer => "udp-server",
            Self::UdpClient => "udp-client",
            Self::TcpProxy => "tcp-proxy",
            Self::UdpProxy => "udp-proxy",
        }
    }

    /// Servers bind and wait; clients connect or send to a target.
    pub fn is_server(self) -> bool {
        matches!(self, Self::TcpServer | Self::UdpServer)
    }

    /// TCP or UDP.
    pub fn is_tcp(self) -> bool {
        matches!(self, Self::TcpServer | Self::TcpClient | Self::TcpProxy)
    }

    /// A proxy: both a place clients come to (`bind`) and a server it goes to (`target`).
    pub fn is_proxy(self) -> bool {
        matches!(self, Self::TcpProxy | Self::UdpProxy)
    }
}

/// The JSON a user sends; strings are checked by [`EngineSpec::from_json`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    kind: Option<String>,
    bind: Option<String>,
    target: Option<String>,
    behavior: Option<String>,
    name: Option<String>,
    #[serde(default)]
    options: RawOptions,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOptions {
    recv_size: Option<u64>,
    backlog: Option<u64>,
    max_clients: Option<u64>,
    greeting: Option<String>,
    rules: Option<Vec<RuleSpec>>,
    file: Option<String>,
    save: Option<bool>,
    impair: Option<super::impair::Impair>,
    idle_secs: Option<u64>,
}

/// Engine options with defaults applied; `None` where the kind does not use the option.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Options {
    /// Bytes asked of each `recv()` / `recvfrom()`.
    pub recv_size: usize,
    /// `listen()` backlog (tcp-server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backlog: Option<u32>,
    /// Open connections allowed at once (tcp-server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_clients: Option<usize>,
    /// Text sent by `greet`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,
    /// Reply rules tried before the behavior (servers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<RuleSpec>>,
    /// The file a `file` server sends (`f3`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileId>,
    /// Whether a tcp-client keeps what it receives as a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub save: Option<bool>,
    /// UDP broken on purpose: loss, duplicates, reordering, delay (udp kinds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impair: Option<super::impair::Impair>,
    /// Seconds a udp-proxy keeps a client's pair with no datagram either way before it
    /// closes it and gives its connection place back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_secs: Option<u64>,
}

/// A udp-proxy's default `idle_secs`.
pub const DEFAULT_IDLE_SECS: u64 = 60;
/// The longest `idle_secs`: a day.
pub const MAX_IDLE_SECS: u64 = 86_400;

/// Largest `recv_size`: 256 KiB, well above a UDP datagram and any sensible TCP read.
pub const MAX_RECV_SIZE: u64 = 256 * 1024;
/// Largest `backlog` accepted.
pub const MAX_BACKLOG: u64 = 4096;
/// Longest `name`.
pub const MAX_NAME: usize = 200;
/// Longest `greeting`, in bytes.
pub const MAX_GREETING: usize = 4096;
/// The default greeting, the lecture's.
pub const DEFAULT_GREETING: &str = "Thank you for connecting";

/// A validated EngineSpec.
#[derive(Debug, Clone, Serialize)]
pub struct EngineSpec {
    /// The engine kind.
    pub kind: Kind,
    /// The local address asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// The remote address asked for (clients).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// What the engine does with what it receives.
    pub behavior: Behavior,
    /// Free label.
    pub name: Option<String>,
    /// Options with defaults applied.
    pub options: Options,
    #[serde(skip)]
    pub(crate) bind_hp: Option<HostPort>,
    #[serde(skip)]
    pub(crate) target_hp: Option<HostPort>,
    /// The rules, compiled.
    #[serde(skip)]
    pub(crate) compiled_rules: Arc<Rules>,
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::invalid_spec(msg.into())
}

fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> String {
    all.iter().map(|x| name(*x)).collect::<Vec<_>>().join(", ")
}

impl EngineSpec {
    /// Parses and validates a JSON EngineSpec.
    pub fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        let raw: RawSpec = crate::json::parse_json(
            body,
            "an EngineSpec like {\"kind\":\"tcp-server\",\"bind\":\"127.0.0.1:0\",\"behavior\":\"echo\"}",
        )?;
        Self::from_raw(raw)
    }

    fn from_raw(raw: RawSpec) -> Result<Self, ApiError> {
        let kinds = names(&Kind::ALL, Kind::name);
        let kind_s = raw.kind.ok_or_else(|| {
            invalid(format!("field kind is missing; use one of {kinds}")).at("kind")
        })?;
        let kind = Kind::parse(&kind_s).ok_or_else(|| {
            invalid(format!(
                "field kind: unknown kind \"{kind_s}\"; use one of {kinds}"
            ))
            .at("kind")
        })?;
        let behavior = match raw.behavior.as_deref() {
            // A proxy relays; "manual" is the only behavior it has, and the default.
            None if kind.is_proxy() => Behavior::Manual,
            None if kind.is_server() => {
                return Err(invalid(format!(
                    "field behavior is missing; a {} needs one of {}",
                    kind.name(),
                    names(&allowed_behaviors(kind), Behavior::name)
                ))
                .at("behavior"));
            }
            None => Behavior::Manual,
            Some(b) => Behavior::parse(b).ok_or_else(|| {
                invalid(format!(
                    "field behavior: unknown behavior \"{b}\"; use one of {}",
                    names(&Behavior::ALL, Behavior::name)
                ))
                .at("behavior")
            })?,
        };
        if !allowed_behaviors(kind).contains(&behavior) {
            return Err(invalid(format!(
                "field behavior: \"{}\" is not available for a {}; use one of {}",
                behavior.name(),
                kind.name(),
                names(&allowed_behaviors(kind), Behavior::name)
            ))
            .at("behavior"));
        }
        let bind_hp = match (&raw.bind, kind.is_server() || kind.is_proxy()) {
            (Some(b), _) => Some(parse_host_port("bind", b)?),
            (None, true) => {
                return Err(invalid(format!(
                    "field bind is missing; a {} needs a local address like 127.0.0.1:12345 (port 0 picks a free one){}",
                    kind.name(),
                    if kind.is_proxy() {
                        ", where its clients connect"
                    } else {
                        ""
                    }
                )).at("bind"));
            }
            (None, false) => None,
        };
        let target_hp = match (&raw.target, kind.is_server()) {
            (None, _) if kind.is_proxy() => {
                return Err(invalid(format!(
                    "field target is missing; a {} needs the real server's address like 127.0.0.1:12345",
                    kind.name()
                )).at("target"));
            }
            (Some(_), true) => {
                return Err(invalid(format!(
                    "field target is for clients; a {} only binds (use bind)",
                    kind.name()
                ))
                .at("target"));
            }
            (Some(t), false) => Some(parse_host_port("target", t)?),
            (None, true) => None,
            (None, false) => {
                return Err(invalid(format!(
                    "field target is missing; a {} needs the server's address like 127.0.0.1:12345",
                    kind.name()
                ))
                .at("target"));
            }
        };
        if target_hp.as_ref().is_some_and(|t| t.port == 0) {
            return Err(ApiError::invalid_address(
                "target: port 0 cannot be connected or sent to; give the server's port".into(),
            ));
        }
        if let Some(n) = &raw.name
            && n.chars().count() > MAX_NAME
        {
            return Err(invalid(format!("field name: at most {MAX_NAME} characters")).at("name"));
        }
        let o = raw.options;
        // A proxy reads bigger chunks by default: it relays, and each read is two events.
        let recv_size = o
            .recv_size
            .unwrap_or(if kind.is_proxy() { 16 * 1024 } else { 1024 });
        if !(1..=MAX_RECV_SIZE).contains(&recv_size) {
            return Err(invalid(format!(
                "field options.recv_size: {recv_size} is out of range 1-{MAX_RECV_SIZE} (the lecture uses 1024)"
            )).at("options.recv_size"));
        }
        let tcp_server = matches!(kind, Kind::TcpServer | Kind::TcpProxy);
        let only_tcp_server = |field: &str| {
            invalid(format!(
                "field options.{field} is for a tcp-server or tcp-proxy; a {} has no such option",
                kind.name()
            ))
            .at(format!("options.{field}"))
        };
        let backlog = match o.backlog {
            Some(_) if !tcp_server => return Err(only_tcp_server("backlog")),
            Some(b) if !(1..=MAX_BACKLOG).contains(&b) => {
                return Err(invalid(format!(
                    "field options.backlog: {b} is out of range 1-{MAX_BACKLOG} (the lecture uses 5)"
                )).at("options.backlog"));
            }
            Some(b) => Some(b as u32),
            // A proxy stands in for a real server that may take many clients at once; the
            // lecture's 5 is for its own servers.
            None if kind == Kind::TcpProxy => Some(128),
            None if tcp_server => Some(5),
            None => None,
        };
        let max_clients = match o.max_clients {
            Some(_) if !tcp_server => return Err(only_tcp_server("max_clients")),
            Some(0) => {
                return Err(invalid("field options.max_clients: must be at least 1")
                    .at("options.max_clients"));
            }
            Some(m) => Some(usize::try_from(m).unwrap_or(usize::MAX)),
            None if tcp_server && behavior == Behavior::Chat => Some(10),
            None if tcp_server => Some(1024),
            None => None,
        };
        let greeting = match o.greeting {
            Some(_) if behavior != Behavior::Greet => {
                return Err(
                    invalid("field options.greeting is used only by behavior greet")
                        .at("options.greeting"),
                );
            }
            Some(g) if g.len() > MAX_GREETING => {
                return Err(invalid(format!(
                    "field options.greeting: at most {MAX_GREETING} bytes"
                ))
                .at("options.greeting"));
            }
            Some(g) => Some(g),
            None if behavior == Behavior::Greet => Some(DEFAULT_GREETING.to_string()),
            None => None,
        };
        let file = match o.file {
            Some(_) if behavior != Behavior::File => {
                return Err(invalid(
                    "field options.file is for behavior file (a tcp-server sending a file)",
                ).at("options.file"));
            }
            Some(f) => Some(f.parse::<FileId>().map_err(|_| {
                invalid(format!(
                    "field options.file: \"{}\" is not a file id; upload one (POST /api/files) and give its id, e.g. f1",
                    f.chars().take(40).collect::<String>()
                )).at("options.file")
            })?),
            None if behavior == Behavior::File => {
                return Err(invalid(
                    "field options.file is missing: behavior file sends a file; upload one (POST /api/files) and give its id, e.g. \"file\": \"f1\"",
                ).at("options.file"));
            }
            None => None,
        };
        let save = match o.save {
            Some(_) if kind != Kind::TcpClient => {
                return Err(invalid(format!(
                    "field options.save is for a tcp-client; a tcp-server keeps files with behavior receive, a {} cannot",
                    kind.name()
                )).at("options.save"));
            }
            s => s,
        };
        let impair = match o.impair {
            Some(_) if kind.is_tcp() => {
                return Err(invalid(format!(
                    "field options.impair is for UDP (udp-server, udp-client, udp-proxy); TCP repairs loss itself, so a {} cannot show it",
                    kind.name()
                )).at("options.impair"));
            }
            Some(i) => {
                i.check()?;
                Some(i)
            }
            None => None,
        };
        let idle_secs = match o.idle_secs {
            Some(_) if kind != Kind::UdpProxy => {
                return Err(invalid(format!(
                    "field options.idle_secs is for a udp-proxy (how long a silent client keeps its pair); a {} has no such option",
                    kind.name()
                )).at("options.idle_secs"));
            }
            Some(s) if !(1..=MAX_IDLE_SECS).contains(&s) => {
                return Err(invalid(format!(
                    "field options.idle_secs: {s} is out of range 1-{MAX_IDLE_SECS} (default {DEFAULT_IDLE_SECS})"
                )).at("options.idle_secs"));
            }
            Some(s) => Some(s),
            None if kind == Kind::UdpProxy => Some(DEFAULT_IDLE_SECS),
            None => None,
        };
        let compiled_rules = match &o.rules {
            Some(_) if !kind.is_server() => {
                return Err(invalid(format!(
                    "field options.rules is for servers; a {} replies with its behavior",
                    kind.name()
                ))
                .at("options.rules"));
            }
            Some(r) => Arc::new(Rules::compile(r)?),
            None => Arc::default(),
        };
        Ok(Self {
            kind,
            bind: raw.bind.map(|s| s.trim().to_string()),
            target: raw.target.map(|s| s.trim().to_string()),
            behavior,
            name: raw.name,
            options: Options {
                recv_size: recv_size as usize,
                backlog,
                max_clients,
                greeting,
                rules: o.rules,
                file,
                save,
                impair,
                idle_secs,
            },
            bind_hp,
            target_hp,
            compiled_rules,
        })
    }
}

/// The behaviors each kind supports (API.md's table: `chat` is TCP only; clients react to
/// what they receive but do not greet, tell the time or host a room).
pub fn allowed_behaviors(kind: Kind) -> Vec<Behavior> {
    use Behavior::*;
    match kind {
        Kind::TcpServer => vec![
            Manual, Echo, Uppercase, Add, Greet, Chat, Discard, Daytime, File, Receive,
        ],
        Kind::UdpServer => vec![Manual, Echo, Uppercase, Add, Greet, Discard, Daytime],
        Kind::TcpClient | Kind::UdpClient => vec![Manual, Echo, Uppercase, Add, Discard],
        Kind::TcpProxy | Kind::UdpProxy => vec![Manual],
    }
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
