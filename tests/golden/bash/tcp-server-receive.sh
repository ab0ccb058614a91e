#!/usr/bin/env bash
# The program behind socketlab engine e1: a TCP receive server on 127.0.0.1:5000: it keeps what each client sends as a file.
# Run it: bash e1_receive_server.sh
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
set -u
# Bash has no listen(): nc (netcat-openbsd) listens and accepts, one client at a
# time, and this script reads and writes through it.
HOST='127.0.0.1'
PORT=5000
count=0

while true; do
  count=$(( count + 1 ))
  nc -l -d "$HOST" "$PORT" > "received-$count.bin"   # accept(), recv() until the client is done
  echo "saved received-$count.bin SHA-256 $(sha256sum < "received-$count.bin" | cut -d' ' -f1)"
done
