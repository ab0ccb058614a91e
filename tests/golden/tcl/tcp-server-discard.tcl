#!/usr/bin/env tclsh
# The program behind socketlab engine e1: a TCP discard server on 127.0.0.1:5000: it prints what arrives and never replies.
# Run it: tclsh e1_discard_server.tcl
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
set HOST "127.0.0.1"
set PORT 5000

proc name {host port} {
    # 127.0.0.1:5000, an IPv6 host in brackets, as socketlab writes it
    if {[string first : $host] >= 0} {
        return "\[$host\]:$port"
    }
    return "$host:$port"
}

proc reply {data peer} {
    return ""
}

proc answer {chan peer} {
    set gone [catch {read $chan} data]   ;# recv(): what has arrived; an error is a reset
    if {$gone} {set data ""}
    if {$data ne ""} {
        puts "received [string length $data] bytes from $peer: $data"
        set out [reply $data $peer]
        if {$out ne ""} {
            puts -nonewline $chan $out      ;# send()
        }
    }
    if {$gone || [eof $chan]} {
        close $chan                        ;# close(): the client closed
        puts "$peer closed"
    }
}

proc accept {chan host port} {   ;# accept(): a new channel for this client
    set peer [name $host $port]
    puts "connection from $peer"
    fconfigure $chan -blocking 0 -buffering none -translation binary
    fileevent $chan readable [list answer $chan $peer]
}

socket -server accept -myaddr $HOST $PORT   ;# socket(), bind(), listen() (backlog 5 in socketlab)
puts "listening on $HOST $PORT"
vwait forever                                ;# wait for events: clients, data
