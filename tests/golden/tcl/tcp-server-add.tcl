#!/usr/bin/env tclsh
# The program behind socketlab engine e1: a TCP add server on 127.0.0.1:5000: it answers each "A,B" with the sum.
# Run it: tclsh e1_add_server.tcl
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

proc messages {data} {
    # The messages in one recv(): the whole chunk, or each line when it holds several.
    set parts [split $data \n]
    set out [list]
    foreach part [lrange $parts 0 end-1] {
        lappend out "$part\n"
    }
    if {[lindex $parts end] ne ""} {
        lappend out [lindex $parts end]
    }
    return $out
}

proc add {data} {
    # The sum of each A,B message, as the lecture's add server answers.
    set out ""
    foreach line [messages $data] {
        set nl [expr {[string index $line end] eq "\n" ? "\n" : ""}]
        set parts [split [string trim $line] ,]
        lassign $parts a b
        set a [string trim $a]; set b [string trim $b]
        set number {^[-+]?[0-9]+$}
        if {[llength $parts] == 2 && [regexp $number $a] && [regexp $number $b]} {
            # Leading zeros off, or Tcl would read 012 as octal
            regsub {^([-+]?)0+(?=[0-9])} $a {\1} a
            regsub {^([-+]?)0+(?=[0-9])} $b {\1} b
            append out [expr {$a + $b}] $nl
        } else {
            append out "error: send two integers like 50,40\n"
        }
    }
    return $out
}

proc reply {data peer} {
    return "[add $data]"
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
