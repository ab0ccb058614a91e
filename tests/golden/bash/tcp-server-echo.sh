#!/usr/bin/env bash
# The program behind socketlab engine e1: a TCP echo server on 127.0.0.1:5000: it sends back what it receives.
# Run it: bash e1_echo_server.sh
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
set -u
# Bash has no listen(): nc (netcat-openbsd) listens and accepts, one client at a
# time, and this script reads and writes through it.
HOST='127.0.0.1'
PORT=5000

while true; do
  coproc NC { nc -l "$HOST" "$PORT"; }   # listen(), accept()
  while IFS= read -r line <&"${NC[0]}"; do   # recv(): a line at a time
    echo "received $line"
    printf '%s\n' "$line" >&"${NC[1]}"     # send()
  done
  wait "$NC_PID"                       # close(): the client is gone
done
