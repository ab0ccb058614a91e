#!/usr/bin/env tclsh
# The program behind socketlab engine e1: a TCP greet server on 127.0.0.1:5000: it greets each client, then closes.
# Run it: tclsh e1_greet_server.tcl
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
set HOST "127.0.0.1"
set PORT 5000
set GREETING "Hello from the server! It's \"\$HOME\" \[1\]\n"

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
    puts -nonewline $chan "$::GREETING"   ;# send()
    close $chan                          ;# close(): greeted, done
}

socket -server accept -myaddr $HOST $PORT   ;# socket(), bind(), listen() (backlog 5 in socketlab)
puts "listening on $HOST $PORT"
vwait forever                                ;# wait for events: clients, data
