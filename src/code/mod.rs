//! The program behind an engine: what it does, written out in Python (the lecture's
//! language), Bash, Tcl and PowerShell, with its real addresses, runnable as it is.
//!
//! Built as the best code generators are (Kong's httpsnippet, Postman's): one small
//! line-and-indent [`builder`], an escaping helper per language, a generator per language
//! from one description of the engine ([`Program`]), golden files compared byte for byte,
//! and tests that run the generated programs for real.

mod bash;
pub mod builder;
mod powershell;
mod python;
mod tcl;

use std::net::SocketAddr;

use serde::Serialize;

use crate::engine::behavior::Behavior;
use crate::engine::rules::RuleSpec;
use crate::engine::{EngineView, Kind};

/// A language a program can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Python 3.
    Python,
    /// Bash, with `nc` for listening sockets.
    Bash,
    /// Tcl (UDP with tcl-udp).
    Tcl,
    /// PowerShell (.NET sockets).
    Powershell,
}

impl Lang {
    /// Every language, in the order the page shows them.
    pub const ALL: [Lang; 4] = [Lang::Python, Lang::Bash, Lang::Tcl, Lang::Powershell];

    /// The name used in the API.
    pub fn name(self) -> &'static str {
        match self {
            Self::Python => "python",
            Self::Bash => "bash",
            Self::Tcl => "tcl",
            Self::Powershell => "powershell",
        }
    }

    /// Parses a language name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.name() == s)
    }

    /// A program file's extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Python => "py",
            Self::Bash => "sh",
            Self::Tcl => "tcl",
            Self::Powershell => "ps1",
        }
    }

    /// What to know before running a program in this language.
    pub fn note(self) -> &'static str {
        match self {
            Self::Python => {
                "Python 3, the lecture's language: socket(), bind(), listen(), accept(), recv(), sendall(), close(); recvfrom()/sendto() for UDP."
            }
            Self::Bash => {
                "Bash makes client sockets itself (/dev/tcp, /dev/udp) but cannot listen, so its servers run nc (netcat-openbsd) and read a line at a time: they answer a message only once its line ends (tick \"add \\n\" in the Send box, or press Enter in nc), where the engine answers every recv(). A chat room needs many connections at once, which nc cannot hold."
            }
            Self::Tcl => {
                "Tcl: socket for clients, socket -server and fileevent for servers (many clients at once); UDP needs the tcl-udp package (package require udp)."
            }
            Self::Powershell => {
                "PowerShell: .NET's System.Net.Sockets (TcpListener, TcpClient, UdpClient). Not run here (no PowerShell on this machine): checked as text."
            }
        }
    }

    /// The command that runs a program saved as `file`.
    pub fn run(self, file: &str) -> String {
        match self {
            Self::Python => format!("python3 {file}"),
            Self::Bash => format!("bash {file}"),
            Self::Tcl => format!("tclsh {file}"),
            Self::Powershell => format!("pwsh {file}"),
        }
    }
}

/// Everything a generator needs to know of an engine.
#[derive(Debug, Clone)]
pub struct Program {
    /// `e3`.
    pub engine: String,
    /// The kind.
    pub kind: Kind,
    /// The behavior.
    pub behavior: Behavior,
    /// Where a server listens, or where a client connects / sends.
    pub addr: SocketAddr,
    /// Bytes per `recv()`.
    pub recv_size: usize,
    /// `listen()` backlog.
    pub backlog: u32,
    /// Clients at once (a chat room's `max_clients`).
    pub max_clients: usize,
    /// What `greet` says.
    pub greeting: String,
    /// The file a `file` server sends: its name (the program reads it from its folder).
    pub file_name: Option<String>,
    /// Reply rules.
    pub rules: Vec<RuleSpec>,
    /// Whether a client keeps what it receives as a file.
    pub save: bool,
}

impl Program {
    /// The description of an engine, as it is now; `file_name` is the name of the file a
    /// `file` server sends.
    pub fn of(v: &EngineView, file_name: Option<String>) -> Option<Self> {
        let addr = if v.kind.is_server() {
            v.local
                .or_else(|| v.bind.as_deref().and_then(|b| b.parse().ok()))
        } else {
            v.peer
                .or_else(|| v.target.as_deref().and_then(|t| t.parse().ok()))
        }?;
        Some(Self {
            engine: v.id.to_string(),
            kind: v.kind,
            behavior: v.behavior,
            addr,
            recv_size: v.options.recv_size,
            backlog: v.options.backlog.unwrap_or(5),
            max_clients: v.options.max_clients.unwrap_or(1024),
            greeting: v.options.greeting.clone().unwrap_or_default(),
            file_name,
            rules: v.options.rules.clone().unwrap_or_default(),
            save: v.options.save == Some(true),
        })
    }

    /// `e3_echo_server`, a name for the program's file.
    pub fn stem(&self) -> String {
        let role = if self.kind.is_server() {
            "server"
        } else {
            "client"
        };
        let proto = if self.kind.is_tcp() { "" } else { "udp_" };
        format!("{}_{proto}{}_{role}", self.engine, self.behavior.name())
    }

    /// The host part, as a program writes it (no brackets around IPv6).
    pub fn host(&self) -> String {
        self.addr.ip().to_string()
    }

    /// What the program does, in a sentence.
    pub fn what(&self) -> String {
        let proto = if self.kind.is_tcp() { "TCP" } else { "UDP" };
        let doing = match self.behavior {
            Behavior::Manual => "you type what it sends",
            Behavior::Echo => "it sends back what it receives",
            Behavior::Uppercase => "it sends back what it receives in capitals",
            Behavior::Add => "it answers each \"A,B\" with the sum",
            Behavior::Greet => "it greets each client, then closes",
            Behavior::Chat => "a chat room: each message goes to the other members",
            Behavior::Discard => "it prints what arrives and never replies",
            Behavior::Daytime => "it tells the time",
            Behavior::File => "it sends a file to each client, then closes",
            Behavior::Receive => "it keeps what each client sends as a file",
        };
        if self.kind.is_server() {
            format!(
                "a {proto} {} server on {}: {doing}",
                self.behavior.name(),
                self.addr
            )
        } else {
            format!("a {proto} client of {}: {doing}", self.addr)
        }
    }

    /// The lines every program starts with: what it is, and how to run it.
    pub fn header(&self, lang: Lang) -> Vec<String> {
        let file = format!("{}.{}", self.stem(), lang.extension());
        let mut lines = vec![
            format!(
                "The program behind socketlab engine {}: {}.",
                self.engine,
                self.what()
            ),
            format!("Run it: {}", lang.run(&file)),
        ];
        if self.kind.is_server() {
            lines.push(format!(
                "(Stop engine {} first: only one program at a time can use {}.)",
                self.engine, self.addr
            ));
        }
        if self.behavior == Behavior::File
            && let Some(name) = &self.file_name
        {
            lines.push(format!(
                "It sends the file {name:?}: download it into this folder first (socketlab's Files panel)."
            ));
        }
        lines
    }
}

impl Program {
    /// The one setting a server of this behavior starts with, named by the language's
    /// `names` (greeting, file name, chat's most members) and its value written by `quote`
    /// where it is text.
    pub(crate) fn setting(
        &self,
        names: [&'static str; 3],
        quote: fn(&str) -> String,
    ) -> Option<(&'static str, String)> {
        let [greeting, file_name, max_clients] = names;
        match self.behavior {
            Behavior::Greet => Some((greeting, quote(&self.greeting))),
            Behavior::File => Some((
                file_name,
                quote(self.file_name.as_deref().unwrap_or("file.bin")),
            )),
            Behavior::Chat => Some((max_clients, self.max_clients.to_string())),
            _ => None,
        }
    }
}

/// A generator's program for each kind of engine: TCP server, UDP server, TCP client, UDP
/// client.
pub(crate) type ByKind = [fn(&Program, &mut builder::Code); 4];

/// Writes the program for `p`'s kind from a generator's four (a proxy, which has no program
/// of its own, gets a comment saying so).
pub(crate) fn by_kind(p: &Program, c: &mut builder::Code, programs: ByKind) {
    let [tcp_server, udp_server, tcp_client, udp_client] = programs;
    match p.kind {
        Kind::TcpServer => tcp_server(p, c),
        Kind::UdpServer => udp_server(p, c),
        Kind::TcpClient => tcp_client(p, c),
        Kind::UdpClient => udp_client(p, c),
        // The route refuses proxies before asking; a comment rather than a panic all the same.
        Kind::TcpProxy | Kind::UdpProxy => {
            c.line("# a proxy relays between two programs; it has none of its own");
        }
    }
}

/// A whole program: the interpreter line if any, the header as `#` comments, the program
/// for `p`'s kind.
pub(crate) fn with_header(
    p: &Program,
    lang: Lang,
    interpreter: Option<&str>,
    programs: ByKind,
) -> String {
    let mut c = builder::Code::new("    ");
    if let Some(line) = interpreter {
        c.line(line);
    }
    for h in p.header(lang) {
        c.line(format!("# {h}"));
    }
    by_kind(p, &mut c, programs);
    c.finish()
}

/// The program behind an engine in `lang`.
pub fn generate(lang: Lang, p: &Program) -> String {
    match lang {
        Lang::Python => python::program(p),
        Lang::Bash => bash::program(p),
        Lang::Tcl => tcl::program(p),
        Lang::Powershell => powershell::program(p),
    }
}

/// A language as `GET /api/engines/{id}/code` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct LangInfo {
    /// Its name.
    pub lang: Lang,
    /// What to know.
    pub note: &'static str,
    /// The file the program is saved as.
    pub file: String,
    /// The command that runs it.
    pub run: String,
}

/// Every language, with its note and run line for this program.
pub fn languages(p: &Program) -> Vec<LangInfo> {
    Lang::ALL
        .iter()
        .map(|&lang| {
            let file = format!("{}.{}", p.stem(), lang.extension());
            LangInfo {
                lang,
                note: lang.note(),
                run: lang.run(&file),
                file,
            }
        })
        .collect()
}
