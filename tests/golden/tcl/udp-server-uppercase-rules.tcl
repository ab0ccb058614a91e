#!/usr/bin/env tclsh
# The program behind socketlab engine e1: a UDP uppercase server on 127.0.0.1:5000: it sends back what it receives in capitals.
# Run it: tclsh e1_udp_uppercase_server.tcl
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
package require udp
set PORT 5000

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

proc upper {data} {
    # ASCII letters only: the bytes are not decoded, so others pass as they are
    return [string map {a A b B c C d D e E f F g G h H i I j J k K l L m M n N o O p P q Q r R s S t T u U v V w W x X y Y z Z} $data]
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

proc reply {data peer} {
    set out ""
    foreach message [messages $data] {
        set answer [rule_reply $message $peer]
        if {[llength $answer]} {
            append out [lindex $answer 0]
        } else {
            set data $message
            append out "[upper $data]"
        }
    }
    return $out
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

# tcl-udp's udp_open takes no address: it binds every interface (socketlab binds 127.0.0.1).
set s [udp_open $PORT]                   ;# socket(), bind()
fconfigure $s -blocking 0 -buffering none -translation binary
fileevent $s readable [list datagram $s]
puts "bound to port $PORT"
vwait forever
