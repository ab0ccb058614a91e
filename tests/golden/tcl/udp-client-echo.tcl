#!/usr/bin/env tclsh
# The program behind socketlab engine e1: a UDP client of 127.0.0.1:5000: it sends back what it receives.
# Run it: tclsh e1_udp_echo_client.tcl
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
    fconfigure $s -remote [fconfigure $s -peer]
    puts -nonewline $s "$data"   ;# sendto()
}

fileevent $s readable [list incoming $s]
vwait done
close $s                                  ;# close()
