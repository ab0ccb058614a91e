#!/usr/bin/env bash
# The program behind socketlab engine e1: a TCP chat server on 127.0.0.1:5000: a chat room: each message goes to the other members.
# Run it: bash e1_chat_server.sh
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
set -u
# Bash has no listen(): nc (netcat-openbsd) listens and accepts, one client at a
# time, and this script reads and writes through it.
HOST='127.0.0.1'
PORT=5000

# A chat room holds many connections at once and passes each message to the
# others. nc accepts one connection at a time, so Bash cannot run one: use the
# Python or Tcl version of this program.
echo 'a chat room needs many connections at once, which nc cannot hold; use the Python or Tcl version' >&2
exit 2
