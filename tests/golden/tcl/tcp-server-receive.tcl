#!/usr/bin/env tclsh
# The program behind socketlab engine e1: a TCP receive server on 127.0.0.1:5000: it keeps what each client sends as a file.
# Run it: tclsh e1_receive_server.tcl
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
set HOST "127.0.0.1"
set PORT 5000
set count 0

proc name {host port} {
    # 127.0.0.1:5000, an IPv6 host in brackets, as socketlab writes it
    if {[string first : $host] >= 0} {
        return "\[$host\]:$port"
    }
    return "$host:$port"
}

proc save {chan f peer filename} {
    set gone [catch {read $chan} data]   ;# recv(); an error is a reset
    puts -nonewline $f $data
    if {$gone || [eof $chan]} {
        close $chan                          ;# the client is done sending
        close $f
        puts "saved $filename ([file size $filename] bytes) from $peer"
    }
}

proc accept {chan host port} {   ;# accept(): a new channel for this client
    set peer [name $host $port]
    puts "connection from $peer"
    fconfigure $chan -blocking 0 -buffering none -translation binary
    set filename received-[incr ::count].bin
    set f [open $filename wb]
    fileevent $chan readable [list save $chan $f $peer $filename]
}

socket -server accept -myaddr $HOST $PORT   ;# socket(), bind(), listen() (backlog 5 in socketlab)
puts "listening on $HOST $PORT"
vwait forever                                ;# wait for events: clients, data
