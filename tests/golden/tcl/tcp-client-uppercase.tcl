#!/usr/bin/env tclsh
# The program behind socketlab engine e1: a TCP client of 127.0.0.1:5000: it sends back what it receives in capitals.
# Run it: tclsh e1_uppercase_client.tcl
set HOST "127.0.0.1"
set PORT 5000

proc upper {data} {
    # ASCII letters only: the bytes are not decoded, so others pass as they are
    return [string map {a A b B c C d D e E f F g G h H i I j J k K l L m M n N o O p P q Q r R s S t T u U v V w W x X y Y z Z} $data]
}

set s [socket $HOST $PORT]      ;# socket(), connect()
puts "connected from [lrange [fconfigure $s -sockname] 0 0] port [lindex [fconfigure $s -sockname] 2]"   ;# the ephemeral port
fconfigure $s -blocking 0 -buffering none -translation binary

proc incoming {s} {
    set data [read $s]                    ;# recv()
    if {$data ne ""} {
        puts "received: $data"
        puts -nonewline $s "[upper $data]"   ;# send()
    }
    if {[eof $s]} {
        close $s                              ;# close(): the server closed
        set ::done 1
    }
}

fileevent $s readable [list incoming $s]
vwait done
