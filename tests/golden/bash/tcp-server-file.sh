#!/usr/bin/env bash
# The program behind socketlab engine e1: a TCP file server on 127.0.0.1:5000: it sends a file to each client, then closes.
# Run it: bash e1_file_server.sh
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
# It sends the file "lecture notes.txt": download it into this folder first (socketlab's Files panel).
set -u
# Bash has no listen(): nc (netcat-openbsd) listens and accepts, one client at a
# time, and this script reads and writes through it.
HOST='127.0.0.1'
PORT=5000
FILENAME='lecture notes.txt'

while true; do
  nc -l -N "$HOST" "$PORT" < "$FILENAME"   # accept(), send() the file, close()
  echo "sent $FILENAME SHA-256 $(sha256sum < "$FILENAME" | cut -d' ' -f1)"
done
