#!/usr/bin/env bash
# The program behind socketlab engine e1: a UDP daytime server on 127.0.0.1:5000: it tells the time.
# Run it: bash e1_udp_daytime_server.sh
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
set -u
# Bash has no bind() of its own: nc -u -l binds, and talks to the first client that
# writes to it; this script reads and writes through it, a line at a time.
HOST='127.0.0.1'
PORT=5000

coproc NC { nc -u -l "$HOST" "$PORT"; }   # socket(), bind(), recvfrom(), sendto()
while IFS= read -r line <&"${NC[0]}"; do   # recv(): a line at a time
  echo "received $line"
  printf '%s\r\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >&"${NC[1]}"     # send()
done
