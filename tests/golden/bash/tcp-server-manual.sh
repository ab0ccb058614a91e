#!/usr/bin/env bash
# The program behind socketlab engine e1: a TCP manual server on 127.0.0.1:5000: you type what it sends.
# Run it: bash e1_manual_server.sh
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
set -u
# Bash has no listen(): nc (netcat-openbsd) listens and accepts, one client at a
# time, and this script reads and writes through it.
HOST='127.0.0.1'
PORT=5000

# What arrives is printed; what you type is sent.
while true; do
  nc -l "$HOST" "$PORT"
done
