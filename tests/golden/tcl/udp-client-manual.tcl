#!/usr/bin/env tclsh
# The program behind socketlab engine e1: a UDP client of 127.0.0.1:5000: you type what it sends.
# Run it: tclsh e1_udp_manual_client.tcl
package require udp
set HOST "127.0.0.1"
set PORT 5000

set s [udp_open]                  ;# socket(), bind(): any free port
fconfigure $s -remote [list $HOST $PORT]   ;# where datagrams go
fconfigure $s -blocking 0 -buffering none -translation binary
puts "bound to port [fconfigure $s -myport]"

proc incoming {s} {
    set data [read $s]                    ;# recvfrom(): one datagram
    puts "received: $data from [fconfigure $s -peer]"
}

proc typed {s} {
    if {[gets stdin line] >= 0} {
        puts -nonewline $s "$line\n"      ;# sendto(): each line you type
    } elseif {[eof stdin]} {
        fileevent stdin readable {}
        after 1000 {set done 1}            ;# a last reply may still come
    }
}

fileevent stdin readable [list typed $s]
fileevent $s readable [list incoming $s]
vwait done
close $s                                  ;# close()
