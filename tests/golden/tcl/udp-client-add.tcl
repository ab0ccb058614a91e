#!/usr/bin/env tclsh
# The program behind socketlab engine e1: a UDP client of 127.0.0.1:5000: it answers each "A,B" with the sum.
# Run it: tclsh e1_udp_add_client.tcl
package require udp
set HOST "127.0.0.1"
set PORT 5000

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

set s [udp_open]                  ;# socket(), bind(): any free port
fconfigure $s -remote [list $HOST $PORT]   ;# where datagrams go
fconfigure $s -blocking 0 -buffering none -translation binary
puts "bound to port [fconfigure $s -myport]"

proc incoming {s} {
    set data [read $s]                    ;# recvfrom(): one datagram
    puts "received: $data from [fconfigure $s -peer]"
    fconfigure $s -remote [fconfigure $s -peer]
    puts -nonewline $s "[add $data]"   ;# sendto()
}

fileevent $s readable [list incoming $s]
vwait done
close $s                                  ;# close()
