//! Tcl: `socket` for clients, `socket -server` with `fileevent` for servers (so one script
//! holds many clients at once, a chat room included), and `package require udp` (tcl-udp)
//! for UDP. Channels are binary, so what is sent is exactly the bytes received.

use super::builder::Code;
use super::{Lang, Program};
use crate::engine::behavior::Behavior;

/// A Tcl string literal: double quotes, with `\ " $ [ ]` escaped (they would otherwise be
/// substituted) and anything not printable ASCII as `\uXXXX`.
pub fn string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' | '"' | '$' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            c if (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

fn name_proc(c: &mut Code) {
    c.open("proc name {host port} {")
        .line("# 127.0.0.1:5000, an IPv6 host in brackets, as socketlab writes it")
        .open("if {[string first : $host] >= 0} {")
        .line("return \"\\[$host\\]:$port\"")
        .close(Some("}"))
        .line("return \"$host:$port\"")
        .close(Some("}"))
        .blank();
}

fn messages_proc(c: &mut Code) {
    c.open("proc messages {data} {")
        .line("# The messages in one recv(): the whole chunk, or each line when it holds several.")
        .line("set parts [split $data \\n]")
        .line("set out [list]")
        .open("foreach part [lrange $parts 0 end-1] {")
        .line("lappend out \"$part\\n\"")
        .close(Some("}"))
        .open("if {[lindex $parts end] ne \"\"} {")
        .line("lappend out [lindex $parts end]")
        .close(Some("}"))
        .line("return $out")
        .close(Some("}"))
        .blank();
}

fn add_proc(c: &mut Code) {
    c.open("proc add {data} {")
        .line("# The sum of each A,B message, as the lecture's add server answers.")
        .line("set out \"\"")
        .open("foreach line [messages $data] {")
        .line("set nl [expr {[string index $line end] eq \"\\n\" ? \"\\n\" : \"\"}]")
        .line("set parts [split [string trim $line] ,]")
        .line("lassign $parts a b")
        .line("set a [string trim $a]; set b [string trim $b]")
        .line("set number {^[-+]?[0-9]+$}")
        .open("if {[llength $parts] == 2 && [regexp $number $a] && [regexp $number $b]} {")
        .line("# Leading zeros off, or Tcl would read 012 as octal")
        .line("regsub {^([-+]?)0+(?=[0-9])} $a {\\1} a")
        .line("regsub {^([-+]?)0+(?=[0-9])} $b {\\1} b")
        .line("append out [expr {$a + $b}] $nl")
        .reopen("} else {")
        .line("append out \"error: send two integers like 50,40\\n\"")
        .close(Some("}"))
        .close(Some("}"))
        .line("return $out")
        .close(Some("}"))
        .blank();
}

fn upper_proc(c: &mut Code) {
    let map: Vec<String> = ('a'..='z')
        .map(|l| format!("{l} {}", l.to_ascii_uppercase()))
        .collect();
    c.open("proc upper {data} {")
        .line("# ASCII letters only: the bytes are not decoded, so others pass as they are")
        .line(format!("return [string map {{{}}} $data]", map.join(" ")))
        .close(Some("}"))
        .blank();
}

fn rules_proc(p: &Program, c: &mut Code) {
    c.line("# Reply rules, tried on each message before the behavior: the first match answers.");
    c.line("set RULES [list \\");
    for r in &p.rules {
        c.line(format!(
            "    [list {} {} {}] \\",
            string(&r.kind),
            string(&r.pattern),
            string(&r.reply)
        ));
    }
    c.line("]");
    c.line(format!("set counters [lrepeat {} 0]", p.rules.len().max(1)))
        .blank();
    c.open("proc rule_reply {message peer} {")
        .line("# The reply of the first rule matching message, or nothing.")
        .line("set text [encoding convertfrom utf-8 [string trimright $message \\n]]")
        .line("set text [string trimright $text \\r]")
        .line("set i 0")
        .open("foreach rule $::RULES {")
        .line("lassign $rule kind pattern reply")
        .line("set found \"\"")
        .line("set hit 0")
        .open("if {$kind eq \"exact\"} {")
        .line("set hit [expr {$text eq $pattern}]; set found $pattern")
        .reopen("} elseif {$kind eq \"contains\"} {")
        .line("set hit [expr {[string first $pattern $text] >= 0}]; set found $pattern")
        .reopen("} else {")
        .line("set m [regexp -inline -- $pattern $text]")
        .line("set hit [expr {[llength $m] > 0}]")
        .line("set found [expr {[llength $m] > 1 ? [lindex $m 1] : [lindex $m 0]}]")
        .close(Some("}"))
        .open("if {$hit} {")
        .line("lset ::counters $i [expr {[lindex $::counters $i] + 1}]")
        .line("set now [clock format [clock seconds] -format %Y-%m-%dT%H:%M:%SZ -gmt 1]")
        .line("set out [string map [list \"{{peer}}\" $peer \"{{time}}\" $now \\")
        .line("    \"{{counter}}\" [lindex $::counters $i] \"{{match}}\" $found] $reply]")
        .open("if {[string index $message end] eq \"\\n\" && [string index $out end] ne \"\\n\"} {")
        .line("append out \\n")
        .close(Some("}"))
        .line("return [list [encoding convertto utf-8 $out]]")
        .close(Some("}"))
        .line("incr i")
        .close(Some("}"))
        .line("return [list]")
        .close(Some("}"))
        .blank();
}

/// The reply to `$data` as a Tcl expression, if the behavior replies.
fn reply_expr(b: Behavior) -> Option<&'static str> {
    match b {
        Behavior::Echo => Some("$data"),
        Behavior::Uppercase => Some("[upper $data]"),
        Behavior::Add => Some("[add $data]"),
        Behavior::Greet => Some("$::GREETING"),
        Behavior::Daytime => {
            Some("[clock format [clock seconds] -format %Y-%m-%dT%H:%M:%SZ -gmt 1]\\r\\n")
        }
        Behavior::Manual => Some("[gets stdin]\\n"),
        _ => None,
    }
}

/// A `reply` proc: what to send back for `data` from `peer`, rules first.
fn reply_proc(p: &Program, c: &mut Code) {
    c.open("proc reply {data peer} {");
    if p.behavior == Behavior::Manual {
        c.line("puts -nonewline \"reply> \"; flush stdout");
    }
    if p.rules.is_empty() {
        match reply_expr(p.behavior) {
            Some(e) => c.line(format!("return \"{e}\"")),
            None => c.line("return \"\""),
        };
    } else {
        c.line("set out \"\"")
            .open("foreach message [messages $data] {");
        c.line("set answer [rule_reply $message $peer]")
            .open("if {[llength $answer]} {")
            .line("append out [lindex $answer 0]");
        match reply_expr(p.behavior) {
            Some(e) => {
                c.reopen("} else {")
                    .line("set data $message")
                    .line(format!("append out \"{e}\""))
                    .close(Some("}"));
            }
            None => {
                c.close(Some("}"));
            }
        }
        c.close(Some("}")).line("return $out");
    }
    c.close(Some("}")).blank();
}

fn helpers(p: &Program, c: &mut Code) {
    if p.kind.is_server() {
        name_proc(c);
    }
    if matches!(p.behavior, Behavior::Add | Behavior::Chat) || !p.rules.is_empty() {
        messages_proc(c);
    }
    if p.behavior == Behavior::Add {
        add_proc(c);
    }
    if p.behavior == Behavior::Uppercase {
        upper_proc(c);
    }
    if !p.rules.is_empty() {
        rules_proc(p, c);
    }
}

fn binary(c: &mut Code, chan: &str) {
    c.line(format!(
        "fconfigure {chan} -blocking 0 -buffering none -translation binary"
    ));
}

fn tcp_server(p: &Program, c: &mut Code) {
    c.line(format!("set HOST {}", string(&p.host())))
        .line(format!("set PORT {}", p.addr.port()));
    if let Some((name, value)) = p.setting(["GREETING", "FILENAME", "MAX_CLIENTS"], string) {
        c.line(format!("set {name} {value}"));
    }
    match p.behavior {
        Behavior::Chat => {
            c.line("set members [dict create]   ;# each member's channel, and its name");
        }
        Behavior::Receive => {
            c.line("set count 0");
        }
        _ => {}
    }
    c.blank();
    helpers(p, c);
    match p.behavior {
        Behavior::Chat => chat_room(p, c),
        Behavior::Receive => {
            c.open("proc save {chan f peer filename} {")
                .line("set gone [catch {read $chan} data]   ;# recv(); an error is a reset")
                .line("puts -nonewline $f $data")
                .open("if {$gone || [eof $chan]} {")
                .line("close $chan                          ;# the client is done sending")
                .line("close $f")
                .line("puts \"saved $filename ([file size $filename] bytes) from $peer\"")
                .close(Some("}"))
                .close(Some("}"))
                .blank();
        }
        Behavior::Greet | Behavior::Daytime | Behavior::File => {}
        _ => {
            reply_proc(p, c);
            c.open("proc answer {chan peer} {")
                .line("set gone [catch {read $chan} data]   ;# recv(): what has arrived; an error is a reset")
                .line("if {$gone} {set data \"\"}")
                .open("if {$data ne \"\"} {")
                .line("puts \"received [string length $data] bytes from $peer: $data\"")
                .line("set out [reply $data $peer]")
                .open("if {$out ne \"\"} {")
                .line("puts -nonewline $chan $out      ;# send()")
                .close(Some("}"))
                .close(Some("}"))
                .open("if {$gone || [eof $chan]} {")
                .line("close $chan                        ;# close(): the client closed")
                .line("puts \"$peer closed\"")
                .close(Some("}"))
                .close(Some("}"))
                .blank();
        }
    }
    c.open("proc accept {chan host port} {   ;# accept(): a new channel for this client")
        .line("set peer [name $host $port]")
        .line("puts \"connection from $peer\"");
    match p.behavior {
        Behavior::Greet | Behavior::Daytime => {
            c.line("fconfigure $chan -translation binary")
                .line(format!(
                    "puts -nonewline $chan \"{}\"   ;# send()",
                    reply_expr(p.behavior).unwrap_or("")
                ))
                .line("close $chan                          ;# close(): greeted, done");
        }
        Behavior::File => {
            c.line("fconfigure $chan -translation binary")
                .line("set f [open $::FILENAME rb]")
                .line("set n [fcopy $f $chan]              ;# send() the file, as it is read")
                .line("close $f")
                .line("close $chan                          ;# close(): the whole file is sent")
                .line("puts \"sent $::FILENAME ($n bytes) to $peer\"");
        }
        Behavior::Receive => {
            binary(c, "$chan");
            c.line("set filename received-[incr ::count].bin")
                .line("set f [open $filename wb]")
                .line("fileevent $chan readable [list save $chan $f $peer $filename]");
        }
        Behavior::Chat => {
            binary(c, "$chan");
            c.line("join_room $chan $peer");
        }
        _ => {
            binary(c, "$chan");
            c.line("fileevent $chan readable [list answer $chan $peer]");
        }
    }
    c.close(Some("}"))
        .blank()
        .line(format!(
            "socket -server accept -myaddr $HOST $PORT   ;# socket(), bind(), listen() (backlog {} in socketlab)",
            p.backlog
        ))
        .line("puts \"listening on $HOST $PORT\"")
        .line("vwait forever                                ;# wait for events: clients, data");
}

fn chat_room(p: &Program, c: &mut Code) {
    c.open("proc tell {message {sender \"\"}} {")
        .line("# Sends a message to every member but the sender.")
        .open("dict for {m who} $::members {")
        .open("if {$m ne $sender} {")
        .line("catch {puts -nonewline $m $message}")
        .close(Some("}"))
        .close(Some("}"))
        .close(Some("}"))
        .blank()
        .open("proc join_room {chan me} {")
        .open("if {[dict size $::members] >= $::MAX_CLIENTS} {")
        .line("close $chan                          ;# the room is full")
        .line("return")
        .close(Some("}"))
        .line("dict set ::members $chan $me")
        .line("set n [dict size $::members]")
        .line("puts -nonewline $chan \"*** welcome $me; $n online\\n\"")
        .line("tell \"*** $me joined ($n online)\\n\" $chan")
        .line("fileevent $chan readable [list hear $chan $me]")
        .close(Some("}"))
        .blank()
        .open("proc hear {chan me} {")
        .line("set gone [catch {read $chan} data]   ;# recv(); an error is a reset")
        .line("if {$gone} {set data \"\"}")
        .open("foreach message [messages $data] {");
    if !p.rules.is_empty() {
        c.line("set answer [rule_reply $message $me]")
            .open("if {[llength $answer]} {")
            .line("puts -nonewline $chan [lindex $answer 0]")
            .line("continue")
            .close(Some("}"));
    }
    c.open("if {[string index $message end] ne \"\\n\"} {")
        .line("append message \\n")
        .close(Some("}"))
        .line("tell \"$me: $message\" $chan")
        .close(Some("}"))
        .open("if {$gone || [eof $chan]} {")
        .line("dict unset ::members $chan")
        .line("close $chan")
        .line("tell \"*** $me left ([dict size $::members] online)\\n\"")
        .close(Some("}"))
        .close(Some("}"))
        .blank();
}

fn udp_server(p: &Program, c: &mut Code) {
    c.line("package require udp")
        .line(format!("set PORT {}", p.addr.port()));
    if p.behavior == Behavior::Greet {
        c.line(format!("set GREETING {}", string(&p.greeting)));
    }
    c.blank();
    helpers(p, c);
    reply_proc(p, c);
    let v6 = if p.addr.is_ipv6() { " ipv6" } else { "" };
    c.open("proc datagram {s} {")
        .line("set data [read $s]                    ;# recvfrom(): one datagram")
        .line("set from [fconfigure $s -peer]       ;# and who sent it")
        .line("set peer [name {*}$from]")
        .line("puts \"received [string length $data] bytes from $peer: $data\"")
        .line("set out [reply $data $peer]")
        .open("if {$out ne \"\"} {")
        .line("fconfigure $s -remote $from")
        .line("puts -nonewline $s $out            ;# sendto()")
        .close(Some("}"))
        .close(Some("}"))
        .blank()
        .line(format!(
            "# tcl-udp's udp_open takes no address: it binds every interface (socketlab binds {}).",
            p.host()
        ))
        .line(format!(
            "set s [udp_open $PORT{v6}]                   ;# socket(), bind()"
        ));
    binary(c, "$s");
    c.line("fileevent $s readable [list datagram $s]")
        .line("puts \"bound to port $PORT\"")
        .line("vwait forever");
}

fn tcp_client(p: &Program, c: &mut Code) {
    c.line(format!("set HOST {}", string(&p.host())))
        .line(format!("set PORT {}", p.addr.port()))
        .blank();
    helpers(p, c);
    c.line("set s [socket $HOST $PORT]      ;# socket(), connect()")
        .line("puts \"connected from [lrange [fconfigure $s -sockname] 0 0] port [lindex [fconfigure $s -sockname] 2]\"   ;# the ephemeral port");
    binary(c, "$s");
    if p.save {
        c.line("set f [open received.bin wb]");
    }
    c.blank()
        .open("proc incoming {s} {")
        .line("set data [read $s]                    ;# recv()")
        .open("if {$data ne \"\"} {")
        .line("puts \"received: $data\"");
    if p.save {
        c.line("puts -nonewline $::f $data");
    }
    if p.behavior != Behavior::Manual
        && let Some(e) = reply_expr(p.behavior)
    {
        c.line(format!("puts -nonewline $s \"{e}\"   ;# send()"));
    }
    c.close(Some("}"))
        .open("if {[eof $s]} {")
        .line("close $s                              ;# close(): the server closed")
        .line("set ::done 1")
        .close(Some("}"))
        .close(Some("}"))
        .blank();
    if p.behavior == Behavior::Manual {
        c.open("proc typed {s} {")
            .open("if {[gets stdin line] >= 0} {")
            .line("puts -nonewline $s \"$line\\n\"      ;# send(): each line you type")
            .reopen("} elseif {[eof stdin]} {")
            .line("fileevent stdin readable {}")
            .line("close $s write                    ;# shutdown(): no more to send; replies still come")
            .close(Some("}"))
            .close(Some("}"))
            .blank()
            .line("fileevent stdin readable [list typed $s]");
    }
    c.line("fileevent $s readable [list incoming $s]")
        .line("vwait done");
    if p.save {
        c.line("close $f")
            .line("puts \"saved received.bin ([file size received.bin] bytes)\"");
    }
}

fn udp_client(p: &Program, c: &mut Code) {
    c.line("package require udp")
        .line(format!("set HOST {}", string(&p.host())))
        .line(format!("set PORT {}", p.addr.port()))
        .blank();
    helpers(p, c);
    let v6 = if p.addr.is_ipv6() { " ipv6" } else { "" };
    c.line(format!(
        "set s [udp_open{}]                  ;# socket(), bind(): any free port",
        if v6.is_empty() { "" } else { " 0 ipv6" }
    ))
    .line("fconfigure $s -remote [list $HOST $PORT]   ;# where datagrams go");
    binary(c, "$s");
    c.line("puts \"bound to port [fconfigure $s -myport]\"")
        .blank()
        .open("proc incoming {s} {")
        .line("set data [read $s]                    ;# recvfrom(): one datagram")
        .line("puts \"received: $data from [fconfigure $s -peer]\"");
    if p.behavior != Behavior::Manual
        && let Some(e) = reply_expr(p.behavior)
    {
        c.line("fconfigure $s -remote [fconfigure $s -peer]")
            .line(format!("puts -nonewline $s \"{e}\"   ;# sendto()"));
    }
    c.close(Some("}")).blank();
    if p.behavior == Behavior::Manual {
        c.open("proc typed {s} {")
            .open("if {[gets stdin line] >= 0} {")
            .line("puts -nonewline $s \"$line\\n\"      ;# sendto(): each line you type")
            .reopen("} elseif {[eof stdin]} {")
            .line("fileevent stdin readable {}")
            .line("after 1000 {set done 1}            ;# a last reply may still come")
            .close(Some("}"))
            .close(Some("}"))
            .blank()
            .line("fileevent stdin readable [list typed $s]");
    }
    c.line("fileevent $s readable [list incoming $s]")
        .line("vwait done")
        .line("close $s                                  ;# close()");
}

/// The program.
pub fn program(p: &Program) -> String {
    let mut c = Code::new("    ");
    c.line("#!/usr/bin/env tclsh");
    for h in p.header(Lang::Tcl) {
        // A trailing backslash would continue the comment onto the next line.
        c.line(format!("# {}", h.trim_end_matches('\\')));
    }
    super::by_kind(p, &mut c, [tcp_server, udp_server, tcp_client, udp_client]);
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::string;

    #[test]
    fn strings_escape_what_tcl_would_substitute() {
        assert_eq!(string("a$b[c]\"d\\"), "\"a\\$b\\[c\\]\\\"d\\\\\"");
        assert_eq!(string("é\n{x}"), "\"\\u00e9\\n{x}\"");
    }
}
