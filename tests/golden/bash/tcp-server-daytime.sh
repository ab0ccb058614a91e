#!/usr/bin/env bash
# The program behind socketlab engine e1: a TCP daytime server on 127.0.0.1:5000: it tells the time.
# Run it: bash e1_daytime_server.sh
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
set -u
# Bash has no listen(): nc (netcat-openbsd) listens and accepts, one client at a
# time, and this script reads and writes through it.
HOST='127.0.0.1'
PORT=5000

while true; do
  printf '%s\r\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" | nc -l -N "$HOST" "$PORT"   # accept(), send(), close()
done
