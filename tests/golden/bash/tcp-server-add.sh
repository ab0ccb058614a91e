#!/usr/bin/env bash
# The program behind socketlab engine e1: a TCP add server on 127.0.0.1:5000: it answers each "A,B" with the sum.
# Run it: bash e1_add_server.sh
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
set -u
# Bash has no listen(): nc (netcat-openbsd) listens and accepts, one client at a
# time, and this script reads and writes through it.
HOST='127.0.0.1'
PORT=5000

add() {                       # the sum of "A,B", as the add server answers
  local a b
  IFS=, read -r a b <<< "$1"
  a=${a// /}; b=${b// /}
  if [[ $a =~ ^[-+]?[0-9]+$ && $b =~ ^[-+]?[0-9]+$ ]]; then
    if (( ${#a} > 18 || ${#b} > 18 )); then   # Bash's arithmetic is 64-bit
      echo 'error: Bash adds numbers of up to 18 digits; use the Python version'
    else
      echo $(( ${a%%[0-9]*}10#${a#[-+]} + ${b%%[0-9]*}10#${b#[-+]} ))   # 10#: 012 is twelve, not octal
    fi
  else
    echo 'error: send two integers like 50,40'
  fi
}

while true; do
  coproc NC { nc -l "$HOST" "$PORT"; }   # listen(), accept()
  while IFS= read -r line <&"${NC[0]}"; do   # recv(): a line at a time
    echo "received $line"
    add "$line" >&"${NC[1]}"     # send()
  done
  wait "$NC_PID"                       # close(): the client is gone
done
