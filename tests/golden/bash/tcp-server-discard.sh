#!/usr/bin/env bash
# The program behind socketlab engine e1: a TCP discard server on 127.0.0.1:5000: it prints what arrives and never replies.
# Run it: bash e1_discard_server.sh
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
set -u
# Bash has no listen(): nc (netcat-openbsd) listens and accepts, one client at a
# time, and this script reads and writes through it.
HOST='127.0.0.1'
PORT=5000

# What arrives is printed; what you type is sent.
while true; do
  nc -l -d "$HOST" "$PORT"
done
