#!/usr/bin/env tclsh
# The program behind socketlab engine e1: a UDP echo server on [::1]:5000: it sends back what it receives.
# Run it: tclsh e1_udp_echo_server.tcl
# (Stop engine e1 first: only one program at a time can use [::1]:5000.)
package require udp
set PORT 5000

proc name {host port} {
    # 127.0.0.1:5000, an IPv6 host in brackets, as socketlab writes it
    if {[string first : $host] >= 0} {
        return "\[$host\]:$port"
    }
    return "$host:$port"
}

proc reply {data peer} {
    return "$data"
}

proc datagram {s} {
    set data [read $s]                    ;# recvfrom(): one datagram
    set from [fconfigure $s -peer]       ;# and who sent it
    set peer [name {*}$from]
    puts "received [string length $data] bytes from $peer: $data"
    set out [reply $data $peer]
    if {$out ne ""} {
        fconfigure $s -remote $from
        puts -nonewline $s $out            ;# sendto()
    }
}

# tcl-udp's udp_open takes no address: it binds every interface (socketlab binds ::1).
set s [udp_open $PORT ipv6]                   ;# socket(), bind()
fconfigure $s -blocking 0 -buffering none -translation binary
fileevent $s readable [list datagram $s]
puts "bound to port $PORT"
vwait forever
