#!/usr/bin/env tclsh
# The program behind socketlab engine e1: a TCP chat server on 127.0.0.1:5000: a chat room: each message goes to the other members.
# Run it: tclsh e1_chat_server.tcl
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
set HOST "127.0.0.1"
set PORT 5000
set MAX_CLIENTS 10
set members [dict create]   ;# each member's channel, and its name

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

# Reply rules, tried on each message before the behavior: the first match answers.
set RULES [list \
    [list "exact" "ping" "pong #{{counter}}"] \
    [list "contains" "time" "it is {{time}}"] \
    [list "regex" "^HELLO (\\w+)\$" "hi {{match}}, you are {{peer}}; it's \"\$5\" \[ok\]"] \
]
set counters [lrepeat 3 0]

proc rule_reply {message peer} {
    # The reply of the first rule matching message, or nothing.
    set text [encoding convertfrom utf-8 [string trimright $message \n]]
    set text [string trimright $text \r]
    set i 0
    foreach rule $::RULES {
        lassign $rule kind pattern reply
        set found ""
        set hit 0
        if {$kind eq "exact"} {
            set hit [expr {$text eq $pattern}]; set found $pattern
        } elseif {$kind eq "contains"} {
            set hit [expr {[string first $pattern $text] >= 0}]; set found $pattern
        } else {
            set m [regexp -inline -- $pattern $text]
            set hit [expr {[llength $m] > 0}]
            set found [expr {[llength $m] > 1 ? [lindex $m 1] : [lindex $m 0]}]
        }
        if {$hit} {
            lset ::counters $i [expr {[lindex $::counters $i] + 1}]
            set now [clock format [clock seconds] -format %Y-%m-%dT%H:%M:%SZ -gmt 1]
            set out [string map [list "{{peer}}" $peer "{{time}}" $now \
                "{{counter}}" [lindex $::counters $i] "{{match}}" $found] $reply]
            if {[string index $message end] eq "\n" && [string index $out end] ne "\n"} {
                append out \n
            }
            return [list [encoding convertto utf-8 $out]]
        }
        incr i
    }
    return [list]
}

proc tell {message {sender ""}} {
    # Sends a message to every member but the sender.
    dict for {m who} $::members {
        if {$m ne $sender} {
            catch {puts -nonewline $m $message}
        }
    }
}

proc join_room {chan me} {
    if {[dict size $::members] >= $::MAX_CLIENTS} {
        close $chan                          ;# the room is full
        return
    }
    dict set ::members $chan $me
    set n [dict size $::members]
    puts -nonewline $chan "*** welcome $me; $n online\n"
    tell "*** $me joined ($n online)\n" $chan
    fileevent $chan readable [list hear $chan $me]
}

proc hear {chan me} {
    set gone [catch {read $chan} data]   ;# recv(); an error is a reset
    if {$gone} {set data ""}
    foreach message [messages $data] {
        set answer [rule_reply $message $me]
        if {[llength $answer]} {
            puts -nonewline $chan [lindex $answer 0]
            continue
        }
        if {[string index $message end] ne "\n"} {
            append message \n
        }
        tell "$me: $message" $chan
    }
    if {$gone || [eof $chan]} {
        dict unset ::members $chan
        close $chan
        tell "*** $me left ([dict size $::members] online)\n"
    }
}

proc accept {chan host port} {   ;# accept(): a new channel for this client
    set peer [name $host $port]
    puts "connection from $peer"
    fconfigure $chan -blocking 0 -buffering none -translation binary
    join_room $chan $peer
}

socket -server accept -myaddr $HOST $PORT   ;# socket(), bind(), listen() (backlog 5 in socketlab)
puts "listening on $HOST $PORT"
vwait forever                                ;# wait for events: clients, data
