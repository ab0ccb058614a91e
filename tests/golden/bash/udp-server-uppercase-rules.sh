#!/usr/bin/env bash
# The program behind socketlab engine e1: a UDP uppercase server on 127.0.0.1:5000: it sends back what it receives in capitals.
# Run it: bash e1_udp_uppercase_server.sh
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
set -u
# Bash has no bind() of its own: nc -u -l binds, and talks to the first client that
# writes to it; this script reads and writes through it, a line at a time.
HOST='127.0.0.1'
PORT=5000

# Reply rules, tried on each line before the behavior: the first match answers.
declare -a counters=(0 0 0)
rule_reply() {               # $1: the line, $2: who sent it; fails if no rule matches
  local text=${1%$'\r'} found re
  local now; now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  if [[ $text == 'ping' ]]; then
    found='ping'
    counters[0]=$(( counters[0] + 1 ))
    local out='pong #{{counter}}'
    out=${out//\{\{peer\}\}/$2}; out=${out//\{\{time\}\}/$now}
    out=${out//\{\{counter\}\}/${counters[0]}}; out=${out//\{\{match\}\}/$found}
    printf '%s\n' "$out"
    return 0
  fi
  if [[ $text == *'time'* ]]; then
    found='time'
    counters[1]=$(( counters[1] + 1 ))
    local out='it is {{time}}'
    out=${out//\{\{peer\}\}/$2}; out=${out//\{\{time\}\}/$now}
    out=${out//\{\{counter\}\}/${counters[1]}}; out=${out//\{\{match\}\}/$found}
    printf '%s\n' "$out"
    return 0
  fi
  if re='^HELLO (\w+)$'; [[ $text =~ $re ]]; then
    found=${BASH_REMATCH[1]:-${BASH_REMATCH[0]}}
    counters[2]=$(( counters[2] + 1 ))
    local out='hi {{match}}, you are {{peer}}; it'\''s "$5" [ok]'
    out=${out//\{\{peer\}\}/$2}; out=${out//\{\{time\}\}/$now}
    out=${out//\{\{counter\}\}/${counters[2]}}; out=${out//\{\{match\}\}/$found}
    printf '%s\n' "$out"
    return 0
  fi
  return 1
}

coproc NC { nc -u -l "$HOST" "$PORT"; }   # socket(), bind(), recvfrom(), sendto()
while IFS= read -r line <&"${NC[0]}"; do   # recv(): a line at a time
  echo "received $line"
  { rule_reply "$line" client || printf '%s\n' "${line^^}"; } >&"${NC[1]}"     # send()
done
