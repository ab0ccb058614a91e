//! Python 3, in the lecture's style: one `socket` call per line, each named as the lecture
//! names it; threads only where a server must hold many clients at once (the chat room).

use super::builder::Code;
use super::{Lang, Program};
use crate::engine::behavior::Behavior;

/// A Python string literal (double-quoted, escaped).
pub fn string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn family(p: &Program) -> &'static str {
    if p.addr.is_ipv6() {
        "socket.AF_INET6"
    } else {
        "socket.AF_INET"
    }
}

/// `"127.0.0.1:5000"` for a peer address tuple, IPv6 in brackets, as socketlab writes it.
fn name_fn(c: &mut Code) {
    c.open("def name(addr):")
        .line("host, port = addr[0], addr[1]")
        .line("return \"[%s]:%d\" % (host, port) if \":\" in host else \"%s:%d\" % (host, port)")
        .close(None)
        .blank();
}

fn messages_fn(c: &mut Code) {
    c.open("def messages(data):")
        .line("\"\"\"The messages in one recv(): the whole chunk, or each line when it holds several.\"\"\"")
        .line("parts = data.split(b\"\\n\")")
        .line("return [part + b\"\\n\" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])")
        .close(None)
        .blank();
}

fn add_fn(c: &mut Code) {
    c.open("def add(data):")
        .line("\"\"\"The sum of each \"A,B\" message, as the lecture's add server answers.\"\"\"")
        .line("out = b\"\"")
        .open("for line in messages(data):")
        .open("try:")
        .line("a, b = line.decode().split(\",\")")
        .line("out += str(int(a) + int(b)).encode() + (b\"\\n\" if line.endswith(b\"\\n\") else b\"\")")
        .close(None)
        .open("except ValueError:")
        .line("out += b\"error: send two integers like 50,40\\n\"")
        .close(None)
        .close(None)
        .line("return out")
        .close(None)
        .blank();
}

fn rules_fn(p: &Program, c: &mut Code) {
    c.line("# Reply rules, tried on each message before the behavior: the first match answers.");
    c.open("RULES = [");
    for r in &p.rules {
        c.line(format!(
            "({}, {}, {}),",
            string(&r.kind),
            string(&r.pattern),
            string(&r.reply)
        ));
    }
    c.close(Some("]"));
    c.line("counters = [0] * len(RULES)").blank();
    c.open("def rule_reply(message, peer):")
        .line("text = message.rstrip(b\"\\n\").rstrip(b\"\\r\").decode(\"utf-8\", \"replace\")")
        .open("for i, (kind, pattern, reply) in enumerate(RULES):")
        .open("if kind == \"exact\":")
        .line("found = pattern if text == pattern else None")
        .close(None)
        .open("elif kind == \"contains\":")
        .line("found = pattern if pattern in text else None")
        .close(None)
        .open("else:")
        .line("m = re.search(pattern, text)")
        .line("found = (m.group(1) if m.lastindex else m.group(0)) if m else None")
        .close(None)
        .open("if found is None:")
        .line("continue")
        .close(None)
        .line("counters[i] += 1")
        .line("now = time.strftime(\"%Y-%m-%dT%H:%M:%SZ\", time.gmtime())")
        .line("out = reply.replace(\"{{peer}}\", peer).replace(\"{{time}}\", now)")
        .line("out = out.replace(\"{{counter}}\", str(counters[i])).replace(\"{{match}}\", found)")
        .open("if message.endswith(b\"\\n\") and not out.endswith(\"\\n\"):")
        .line("out += \"\\n\"")
        .close(None)
        .line("return out.encode()")
        .close(None)
        .line("return None")
        .close(None)
        .blank();
}

/// The reply expression for a chunk `data` (no rules), if the behavior replies.
fn reply_expr(b: Behavior) -> Option<&'static str> {
    match b {
        Behavior::Echo => Some("data"),
        Behavior::Uppercase => Some("data.upper()"),
        Behavior::Add => Some("add(data)"),
        Behavior::Greet => Some("GREETING.encode()"),
        Behavior::Daytime => {
            Some("time.strftime(\"%Y-%m-%dT%H:%M:%SZ\\r\\n\", time.gmtime()).encode()")
        }
        Behavior::Manual => Some("input(\"reply> \").encode() + b\"\\n\""),
        _ => None,
    }
}

/// Lines that set `reply` from `data` (from `peer_name`), rules first.
fn reply_lines(p: &Program, c: &mut Code, peer_name: &str) {
    if p.rules.is_empty() {
        match reply_expr(p.behavior) {
            Some(e) => c.line(format!("reply = {e}")),
            None => c.line("reply = b\"\""),
        };
        return;
    }
    c.line("reply = b\"\"")
        .open("for message in messages(data):");
    c.line(format!("answer = rule_reply(message, {peer_name})"));
    match reply_expr(p.behavior) {
        Some(e) => c.line(format!(
            "reply += answer if answer is not None else {}",
            e.replace("data", "message")
        )),
        None => c.line("reply += answer or b\"\""),
    };
    c.close(None);
}

fn imports(p: &Program, c: &mut Code, extra: &[&str]) {
    let mut mods = vec!["socket"];
    mods.extend_from_slice(extra);
    if !p.rules.is_empty() {
        mods.extend(["re", "time"]);
    }
    if matches!(p.behavior, Behavior::Daytime) {
        mods.push("time");
    }
    if matches!(p.behavior, Behavior::File | Behavior::Receive) || p.save {
        mods.push("hashlib");
    }
    mods.sort();
    mods.dedup();
    c.line(format!("import {}", mods.join(", "))).blank();
}

fn tcp_server(p: &Program, c: &mut Code) {
    let threads = p.behavior == Behavior::Chat;
    imports(p, c, if threads { &["threading"] } else { &[] });
    c.line(format!(
        "HOST, PORT = {}, {}",
        string(&p.host()),
        p.addr.port()
    ));
    if let Some((name, value)) = p.setting(["GREETING", "FILENAME", "MAX_CLIENTS"], string) {
        c.line(format!("{name} = {value}"));
    }
    c.blank();
    name_fn(c);
    if matches!(p.behavior, Behavior::Add | Behavior::Chat) || !p.rules.is_empty() {
        messages_fn(c);
    }
    if p.behavior == Behavior::Add {
        add_fn(c);
    }
    if !p.rules.is_empty() {
        rules_fn(p, c);
    }
    if threads {
        chat_room(p, c);
    }
    c.line(format!(
        "s = socket.socket({}, socket.SOCK_STREAM)        # socket()",
        family(p)
    ))
    .line("s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)")
    .line("s.bind((HOST, PORT))                                  # bind()")
    .line(format!(
        "s.listen({})                                           # listen()",
        p.backlog
    ))
    .line("print(\"listening on\", HOST, PORT, flush=True)");
    if p.behavior == Behavior::Receive {
        c.line("count = 0");
    }
    c.open("while True:")
        .line("conn, addr = s.accept()          # accept(): a new socket for this client")
        .line("print(\"connection from\", name(addr), flush=True)");
    match p.behavior {
        Behavior::Greet | Behavior::Daytime => {
            c.line(format!(
                "conn.sendall({})                # send()",
                reply_expr(p.behavior).unwrap_or("b\"\"")
            ))
            .line("conn.close()                     # close(): greeted, done");
        }
        Behavior::Chat => {
            c.line("threading.Thread(target=member, args=(conn, addr), daemon=True).start()");
        }
        Behavior::File => {
            c.line("digest = hashlib.sha256()")
                .open("with open(FILENAME, \"rb\") as f:")
                .open("while True:")
                .line("chunk = f.read(65536)")
                .open("if not chunk:")
                .line("break")
                .close(None)
                .line("conn.sendall(chunk)          # send()")
                .line("digest.update(chunk)")
                .close(None)
                .close(None)
                .line("conn.close()                     # close(): the whole file is sent")
                .line("print(\"sent\", FILENAME, \"SHA-256\", digest.hexdigest(), flush=True)");
        }
        Behavior::Receive => {
            c.line("count += 1")
                .line("filename = \"received-%d.bin\" % count")
                .line("digest = hashlib.sha256()")
                .open("with open(filename, \"wb\") as f:")
                .open("while True:")
                .line(format!("data = conn.recv({})        # recv()", p.recv_size))
                .open("if not data:")
                .line("break                        # the client is done sending")
                .close(None)
                .line("f.write(data)")
                .line("digest.update(data)")
                .close(None)
                .close(None)
                .line("conn.close()                     # close()")
                .line("print(\"saved\", filename, \"SHA-256\", digest.hexdigest(), flush=True)");
        }
        _ => {
            c.open("while True:")
                .open("try:")
                .line(format!("data = conn.recv({})        # recv()", p.recv_size))
                .close(None)
                .open("except ConnectionError:")
                .line("data = b\"\"                    # reset by the client: gone too")
                .close(None)
                .open("if not data:")
                .line("break                            # the client closed")
                .close(None)
                .line("print(\"received\", data, flush=True)");
            reply_lines(p, c, "name(addr)");
            c.open("if reply:")
                .line("conn.sendall(reply)              # send()")
                .close(None)
                .close(None)
                .line("conn.close()                         # close()");
        }
    }
    c.close(None);
}

fn chat_room(p: &Program, c: &mut Code) {
    let _ = p;
    c.line("members = {}                     # socket -> its client's address")
        .line("lock = threading.Lock()")
        .blank()
        .open("def tell(message, sender=None):")
        .line("\"\"\"Sends a message to every member but the sender.\"\"\"")
        .open("with lock:")
        .line("others = [m for m in members if m is not sender]")
        .close(None)
        .open("for m in others:")
        .open("try:")
        .line("m.sendall(message)")
        .close(None)
        .open("except OSError:")
        .line("pass")
        .close(None)
        .close(None)
        .close(None)
        .blank()
        .open("def member(conn, addr):")
        .line("me = name(addr)")
        .open("with lock:")
        .line("full = len(members) >= MAX_CLIENTS")
        .open("if not full:")
        .line("members[conn] = addr")
        .close(None)
        .line("n = len(members)")
        .close(None)
        .open("if full:")
        .line("conn.close()                     # the room is full")
        .line("return")
        .close(None)
        .line("conn.sendall((\"*** welcome %s; %d online\\n\" % (me, n)).encode())")
        .line("tell((\"*** %s joined (%d online)\\n\" % (me, n)).encode(), conn)")
        .open("while True:")
        .open("try:")
        .line(format!("data = conn.recv({})        # recv()", p.recv_size))
        .close(None)
        .open("except ConnectionError:")
        .line("data = b\"\"                        # reset by the member: gone too")
        .close(None)
        .open("if not data:")
        .line("break")
        .close(None)
        .open("for message in messages(data):");
    if !p.rules.is_empty() {
        c.line("answer = rule_reply(message, me)")
            .open("if answer is not None:")
            .line("conn.sendall(answer)")
            .line("continue")
            .close(None);
    }
    c.line("line = message if message.endswith(b\"\\n\") else message + b\"\\n\"")
        .line("tell(me.encode() + b\": \" + line, conn)")
        .close(None)
        .close(None)
        .open("with lock:")
        .line("del members[conn]")
        .line("n = len(members)")
        .close(None)
        .line("tell((\"*** %s left (%d online)\\n\" % (me, n)).encode())")
        .line("conn.close()")
        .close(None)
        .blank();
}

fn udp_server(p: &Program, c: &mut Code) {
    imports(p, c, &[]);
    c.line(format!(
        "HOST, PORT = {}, {}",
        string(&p.host()),
        p.addr.port()
    ));
    if p.behavior == Behavior::Greet {
        c.line(format!("GREETING = {}", string(&p.greeting)));
    }
    c.blank();
    name_fn(c);
    if p.behavior == Behavior::Add || !p.rules.is_empty() {
        messages_fn(c);
    }
    if p.behavior == Behavior::Add {
        add_fn(c);
    }
    if !p.rules.is_empty() {
        rules_fn(p, c);
    }
    c.line(format!(
        "s = socket.socket({}, socket.SOCK_DGRAM)         # socket()",
        family(p)
    ))
    .line("s.bind((HOST, PORT))                                  # bind()")
    .line("print(\"bound to\", HOST, PORT, flush=True)")
    .open("while True:")
    .line(format!(
        "data, addr = s.recvfrom({})            # recvfrom(): a datagram and who sent it",
        p.recv_size
    ))
    .line("print(\"received\", data, \"from\", name(addr), flush=True)");
    reply_lines(p, c, "name(addr)");
    c.open("if reply:")
        .line("s.sendto(reply, addr)                # sendto()")
        .close(None)
        .close(None);
}

/// A client's imports and address; whether it is the manual one (which reads the keyboard).
fn client_head(p: &Program, c: &mut Code) -> bool {
    let manual = p.behavior == Behavior::Manual;
    imports(p, c, if manual { &["sys", "threading"] } else { &[] });
    c.line(format!(
        "HOST, PORT = {}, {}",
        string(&p.host()),
        p.addr.port()
    ))
    .blank();
    manual
}

fn tcp_client(p: &Program, c: &mut Code) {
    let manual = client_head(p, c);
    if p.behavior == Behavior::Add || !p.rules.is_empty() {
        messages_fn(c);
    }
    if p.behavior == Behavior::Add {
        add_fn(c);
    }
    c.line(format!(
        "s = socket.socket({}, socket.SOCK_STREAM)        # socket()",
        family(p)
    ))
    .line("s.connect((HOST, PORT))                               # connect()")
    .line("print(\"connected from\", s.getsockname(), flush=True)   # the ephemeral port")
    .blank();
    if p.save {
        c.line("digest = hashlib.sha256()")
            .line("f = open(\"received.bin\", \"wb\")");
    }
    let on_data = |c: &mut Code| {
        if p.save {
            c.line("f.write(data)").line("digest.update(data)");
        }
        if let Some(e) = reply_expr(p.behavior).filter(|_| !manual) {
            c.line(format!("s.sendall({e})                    # send()"));
        }
    };
    if manual {
        c.open("def show():")
            .line("\"\"\"Prints what the server sends, until it closes.\"\"\"")
            .open("while True:")
            .line(format!(
                "data = s.recv({})                # recv()",
                p.recv_size
            ))
            .open("if not data:")
            .line("break")
            .close(None)
            .line("print(\"received\", data, flush=True)");
        on_data(c);
        c.close(None).close(None).blank();
        c.line("reader = threading.Thread(target=show)")
            .line("reader.start()")
            .open("for line in sys.stdin:                  # each line you type")
            .line("s.sendall(line.encode())         # send()")
            .close(None)
            .line("s.shutdown(socket.SHUT_WR)           # shutdown(): nothing more from us")
            .line("reader.join()");
    } else {
        c.open("while True:")
            .line(format!(
                "data = s.recv({})                    # recv()",
                p.recv_size
            ))
            .open("if not data:")
            .line("break                            # the server closed")
            .close(None)
            .line("print(\"received\", data, flush=True)");
        on_data(c);
        c.close(None);
    }
    if p.save {
        c.line("f.close()")
            .line("print(\"saved received.bin SHA-256\", digest.hexdigest(), flush=True)");
    }
    c.line("s.close()                                             # close()");
}

fn udp_client(p: &Program, c: &mut Code) {
    let manual = client_head(p, c);
    if p.behavior == Behavior::Add {
        messages_fn(c);
        add_fn(c);
    }
    c.line(format!(
        "s = socket.socket({}, socket.SOCK_DGRAM)         # socket()",
        family(p)
    ))
    .line(format!(
        "s.bind(({}, 0))                              # bind(): any free port",
        string(&p.host())
    ))
    .line("print(\"bound to\", s.getsockname(), flush=True)")
    .blank();
    if manual {
        c.open("def show():")
            .open("while True:")
            .line(format!(
                "data, addr = s.recvfrom({})       # recvfrom()",
                p.recv_size
            ))
            .line("print(\"received\", data, \"from\", addr, flush=True)")
            .close(None)
            .close(None)
            .blank()
            .line("threading.Thread(target=show, daemon=True).start()")
            .open("for line in sys.stdin:                  # each line you type")
            .line("s.sendto(line.encode(), (HOST, PORT))   # sendto()")
            .close(None)
            .line("time_to_answer = 1.0")
            .line("threading.Event().wait(time_to_answer)    # a last reply may still come")
            .line("s.close()                                 # close()");
    } else {
        c.open("while True:")
            .line(format!(
                "data, addr = s.recvfrom({})           # recvfrom()",
                p.recv_size
            ))
            .line("print(\"received\", data, \"from\", addr, flush=True)");
        if let Some(e) = reply_expr(p.behavior) {
            c.line(format!("s.sendto({e}, addr)                 # sendto()"));
        }
        c.close(None);
    }
}

/// The program.
pub fn program(p: &Program) -> String {
    super::with_header(
        p,
        Lang::Python,
        Some("#!/usr/bin/env python3"),
        [tcp_server, udp_server, tcp_client, udp_client],
    )
}

#[cfg(test)]
mod tests {
    use super::string;

    #[test]
    fn strings_escape_what_python_needs() {
        assert_eq!(string("a\"b\\c\n\x07é"), "\"a\\\"b\\\\c\\n\\x07é\"");
    }
}
