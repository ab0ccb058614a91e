#!/usr/bin/env tclsh
# The program behind socketlab engine e1: a TCP client of 127.0.0.1:5000: it prints what arrives and never replies.
# Run it: tclsh e1_discard_client.tcl
set HOST "127.0.0.1"
set PORT 5000

set s [socket $HOST $PORT]      ;# socket(), connect()
puts "connected from [lrange [fconfigure $s -sockname] 0 0] port [lindex [fconfigure $s -sockname] 2]"   ;# the ephemeral port
fconfigure $s -blocking 0 -buffering none -translation binary
set f [open received.bin wb]

proc incoming {s} {
    set data [read $s]                    ;# recv()
    if {$data ne ""} {
        puts "received: $data"
        puts -nonewline $::f $data
    }
    if {[eof $s]} {
        close $s                              ;# close(): the server closed
        set ::done 1
    }
}

fileevent $s readable [list incoming $s]
vwait done
close $f
puts "saved received.bin ([file size received.bin] bytes)"
