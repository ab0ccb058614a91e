//! Bash: clients open their own sockets through `/dev/tcp` and `/dev/udp`; Bash cannot
//! `listen()`, so servers run `nc` (netcat-openbsd) and talk to it through a coprocess, a
//! line at a time. A chat room needs many connections at once, which `nc` cannot hold: that
//! program says so.

use super::builder::Code;
use super::{Lang, Program};
use crate::engine::behavior::Behavior;

/// A Bash word quoted so the shell takes it as it is: single quotes, with `'` written as
/// `'\''`, and control characters through `$'…'`.
pub fn quote(s: &str) -> String {
    if s.chars().any(|c| c.is_control()) {
        let mut out = String::from("$'");
        for c in s.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('\'');
        return out;
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The reply to one line `$line`, as a command writing it to standard output, if any.
fn reply_cmd(p: &Program) -> Option<&'static str> {
    match p.behavior {
        Behavior::Echo => Some("printf '%s\\n' \"$line\""),
        Behavior::Uppercase => Some("printf '%s\\n' \"${line^^}\""),
        Behavior::Add => Some("add \"$line\""),
        Behavior::Greet => Some("printf '%s' \"$GREETING\""),
        Behavior::Daytime => Some("printf '%s\\r\\n' \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\""),
        _ => None,
    }
}

fn add_fn(c: &mut Code) {
    c.open("add() {                       # the sum of \"A,B\", as the add server answers")
        .line("local a b")
        .line("IFS=, read -r a b <<< \"$1\"")
        .line("a=${a// /}; b=${b// /}")
        .open("if [[ $a =~ ^[-+]?[0-9]+$ && $b =~ ^[-+]?[0-9]+$ ]]; then")
        .open("if (( ${#a} > 18 || ${#b} > 18 )); then   # Bash's arithmetic is 64-bit")
        .line("echo 'error: Bash adds numbers of up to 18 digits; use the Python version'")
        .reopen("else")
        .line("echo $(( ${a%%[0-9]*}10#${a#[-+]} + ${b%%[0-9]*}10#${b#[-+]} ))   # 10#: 012 is twelve, not octal")
        .close(Some("fi"))
        .close(None)
        .open("else")
        .line("echo 'error: send two integers like 50,40'")
        .close(Some("fi"))
        .close(Some("}"))
        .blank();
}

fn rules_fn(p: &Program, c: &mut Code) {
    c.line("# Reply rules, tried on each line before the behavior: the first match answers.");
    c.line(format!(
        "declare -a counters=({})",
        vec!["0"; p.rules.len()].join(" ")
    ));
    c.open(
        "rule_reply() {               # $1: the line, $2: who sent it; fails if no rule matches",
    )
    .line("local text=${1%$'\\r'} found re")
    .line("local now; now=$(date -u +%Y-%m-%dT%H:%M:%SZ)");
    for (i, r) in p.rules.iter().enumerate() {
        let test = match r.kind.as_str() {
            "exact" => format!("[[ $text == {} ]]", quote(&r.pattern)),
            "contains" => format!("[[ $text == *{}* ]]", quote(&r.pattern)),
            // A quoted regex would match literally: it goes through a variable.
            _ => format!("re={}; [[ $text =~ $re ]]", quote(&r.pattern)),
        };
        let found = match r.kind.as_str() {
            "regex" => "found=${BASH_REMATCH[1]:-${BASH_REMATCH[0]}}".to_string(),
            _ => format!("found={}", quote(&r.pattern)),
        };
        let reply = quote(&r.reply);
        c.open(format!("if {test}; then"))
            .line(found)
            .line(format!("counters[{i}]=$(( counters[{i}] + 1 ))"))
            .line(format!("local out={reply}"))
            .line("out=${out//\\{\\{peer\\}\\}/$2}; out=${out//\\{\\{time\\}\\}/$now}")
            .line(format!(
                "out=${{out//\\{{\\{{counter\\}}\\}}/${{counters[{i}]}}}}; out=${{out//\\{{\\{{match\\}}\\}}/$found}}"
            ))
            .line("printf '%s\\n' \"$out\"")
            .line("return 0")
            .close(Some("fi"));
    }
    c.line("return 1").close(Some("}")).blank();
}

/// The loop answering each line read from descriptor `from`, writing to `to`.
fn answer_lines(p: &Program, c: &mut Code, from: &str, to: &str, peer: &str) {
    c.open(format!(
        "while IFS= read -r line <&{from}; do   # recv(): a line at a time"
    ))
    .line("echo \"received $line\"");
    let reply = reply_cmd(p);
    match (p.rules.is_empty(), reply) {
        (true, Some(r)) => {
            c.line(format!("{r} >&{to}     # send()"));
        }
        (true, None) => {}
        (false, Some(r)) => {
            c.line(format!(
                "{{ rule_reply \"$line\" {peer} || {r}; }} >&{to}     # send()"
            ));
        }
        (false, None) => {
            c.line(format!("rule_reply \"$line\" {peer} >&{to}     # send()"));
        }
    }
    c.close(Some("done"));
}

fn tcp_server(p: &Program, c: &mut Code) {
    c.line("# Bash has no listen(): nc (netcat-openbsd) listens and accepts, one client at a")
        .line("# time, and this script reads and writes through it.")
        .line(format!("HOST={}", quote(&p.host())))
        .line(format!("PORT={}", p.addr.port()));
    match p.behavior {
        Behavior::Chat => {
            c.blank()
                .line("# A chat room holds many connections at once and passes each message to the")
                .line("# others. nc accepts one connection at a time, so Bash cannot run one: use the")
                .line("# Python or Tcl version of this program.")
                .line("echo 'a chat room needs many connections at once, which nc cannot hold; use the Python or Tcl version' >&2")
                .line("exit 2");
            return;
        }
        Behavior::Greet => {
            c.line(format!("GREETING={}", quote(&p.greeting)))
                .blank()
                .open("while true; do")
                .line("printf '%s' \"$GREETING\" | nc -l -N \"$HOST\" \"$PORT\"   # accept(), send(), close()")
                .close(Some("done"));
            return;
        }
        Behavior::Daytime => {
            c.blank()
                .open("while true; do")
                .line("printf '%s\\r\\n' \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\" | nc -l -N \"$HOST\" \"$PORT\"   # accept(), send(), close()")
                .close(Some("done"));
            return;
        }
        Behavior::File => {
            c.line(format!(
                "FILENAME={}",
                quote(p.file_name.as_deref().unwrap_or("file.bin"))
            ))
            .blank()
            .open("while true; do")
            .line("nc -l -N \"$HOST\" \"$PORT\" < \"$FILENAME\"   # accept(), send() the file, close()")
            .line("echo \"sent $FILENAME SHA-256 $(sha256sum < \"$FILENAME\" | cut -d' ' -f1)\"")
            .close(Some("done"));
            return;
        }
        Behavior::Receive => {
            c.line("count=0")
                .blank()
                .open("while true; do")
                .line("count=$(( count + 1 ))")
                .line("nc -l -d \"$HOST\" \"$PORT\" > \"received-$count.bin\"   # accept(), recv() until the client is done")
                .line("echo \"saved received-$count.bin SHA-256 $(sha256sum < \"received-$count.bin\" | cut -d' ' -f1)\"")
                .close(Some("done"));
            return;
        }
        Behavior::Manual | Behavior::Discard if p.rules.is_empty() => {
            let flag = if p.behavior == Behavior::Discard {
                " -d"
            } else {
                ""
            };
            c.blank()
                .line("# What arrives is printed; what you type is sent.")
                .open("while true; do")
                .line(format!("nc -l{flag} \"$HOST\" \"$PORT\""))
                .close(Some("done"));
            return;
        }
        _ => {}
    }
    c.blank();
    if p.behavior == Behavior::Add {
        add_fn(c);
    }
    if !p.rules.is_empty() {
        rules_fn(p, c);
    }
    c.open("while true; do")
        .line("coproc NC { nc -l \"$HOST\" \"$PORT\"; }   # listen(), accept()");
    answer_lines(p, c, "\"${NC[0]}\"", "\"${NC[1]}\"", "client");
    c.line("wait \"$NC_PID\"                       # close(): the client is gone")
        .close(Some("done"));
}

fn udp_server(p: &Program, c: &mut Code) {
    c.line("# Bash has no bind() of its own: nc -u -l binds, and talks to the first client that")
        .line("# writes to it; this script reads and writes through it, a line at a time.")
        .line(format!("HOST={}", quote(&p.host())))
        .line(format!("PORT={}", p.addr.port()));
    if p.behavior == Behavior::Greet {
        c.line(format!("GREETING={}", quote(&p.greeting)));
    }
    c.blank();
    if p.behavior == Behavior::Add {
        add_fn(c);
    }
    if !p.rules.is_empty() {
        rules_fn(p, c);
    }
    c.line(
        "coproc NC { nc -u -l \"$HOST\" \"$PORT\"; }   # socket(), bind(), recvfrom(), sendto()",
    );
    answer_lines(p, c, "\"${NC[0]}\"", "\"${NC[1]}\"", "client");
}

fn tcp_client(p: &Program, c: &mut Code) {
    c.line(format!("HOST={}", quote(&p.host())))
        .line(format!("PORT={}", p.addr.port()))
        .blank();
    if p.behavior == Behavior::Add {
        add_fn(c);
    }
    c.line(
        "exec 3<>\"/dev/tcp/$HOST/$PORT\"   # socket(), connect(): the connection is descriptor 3",
    )
    .line("echo \"connected to $HOST:$PORT\"");
    if p.save {
        c.line("cat <&3 > received.bin            # recv() until the server closes")
            .line("echo \"saved received.bin SHA-256 $(sha256sum < received.bin | cut -d' ' -f1)\"")
            .line("exec 3>&-                         # close()");
        return;
    }
    if p.behavior == Behavior::Manual {
        c.line("cat <&3 &                          # what the server sends, printed as it comes")
            .line("reader=$!")
            .open("while IFS= read -r line; do       # each line you type")
            .line("printf '%s\\n' \"$line\" >&3       # send()")
            .close(Some("done"))
            .line("sleep 1                            # Bash cannot half-close: give the last reply a moment")
            .line("kill \"$reader\" 2>/dev/null")
            .line("exec 3>&-                          # close()");
        return;
    }
    answer_lines(p, c, "3", "3", "server");
    c.line("exec 3>&-                            # close()");
}

fn udp_client(p: &Program, c: &mut Code) {
    c.line(format!("HOST={}", quote(&p.host())))
        .line(format!("PORT={}", p.addr.port()))
        .blank();
    if p.behavior == Behavior::Add {
        add_fn(c);
    }
    c.line("exec 3<>\"/dev/udp/$HOST/$PORT\"   # socket(), and the address datagrams go to")
        .line("# cat reads a whole datagram at a time (Bash's read would take a byte and lose the rest).");
    if p.behavior == Behavior::Manual {
        c.line("cat <&3 &                          # recvfrom(): replies, printed as they come")
            .line("reader=$!")
            .open("while IFS= read -r line; do       # each line you type")
            .line("printf '%s\\n' \"$line\" >&3       # sendto()")
            .close(Some("done"))
            .line("sleep 1                            # a last reply may still come")
            .line("kill \"$reader\" 2>/dev/null")
            .line("exec 3>&-                          # close()");
        return;
    }
    c.line("printf '\\n' >&3                    # sendto(): a first datagram, so the server knows our port")
        .open("cat <&3 | while IFS= read -r line; do   # recvfrom()")
        .line("echo \"received $line\"");
    if let Some(r) = reply_cmd(p) {
        c.line(format!("{r} >&3     # sendto()"));
    }
    c.close(Some("done"));
}

/// The program.
pub fn program(p: &Program) -> String {
    let mut c = Code::new("  ");
    c.line("#!/usr/bin/env bash");
    for h in p.header(Lang::Bash) {
        c.line(format!("# {h}"));
    }
    c.line("set -u");
    super::by_kind(p, &mut c, [tcp_server, udp_server, tcp_client, udp_client]);
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn words_are_quoted_for_the_shell() {
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("$HOME `x`"), "'$HOME `x`'");
        assert_eq!(quote("a\nb'"), "$'a\\nb\\''");
    }
}
