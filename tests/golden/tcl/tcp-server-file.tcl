#!/usr/bin/env tclsh
# The program behind socketlab engine e1: a TCP file server on 127.0.0.1:5000: it sends a file to each client, then closes.
# Run it: tclsh e1_file_server.tcl
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
# It sends the file "lecture notes.txt": download it into this folder first (socketlab's Files panel).
set HOST "127.0.0.1"
set PORT 5000
set FILENAME "lecture notes.txt"

proc name {host port} {
    # 127.0.0.1:5000, an IPv6 host in brackets, as socketlab writes it
    if {[string first : $host] >= 0} {
        return "\[$host\]:$port"
    }
    return "$host:$port"
}

proc accept {chan host port} {   ;# accept(): a new channel for this client
    set peer [name $host $port]
    puts "connection from $peer"
    fconfigure $chan -translation binary
    set f [open $::FILENAME rb]
    set n [fcopy $f $chan]              ;# send() the file, as it is read
    close $f
    close $chan                          ;# close(): the whole file is sent
    puts "sent $::FILENAME ($n bytes) to $peer"
}

socket -server accept -myaddr $HOST $PORT   ;# socket(), bind(), listen() (backlog 5 in socketlab)
puts "listening on $HOST $PORT"
vwait forever                                ;# wait for events: clients, data
