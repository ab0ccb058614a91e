#!/usr/bin/env bash
# The program behind socketlab engine e1: a TCP client of 127.0.0.1:5000: you type what it sends.
# Run it: bash e1_manual_client.sh
set -u
HOST='127.0.0.1'
PORT=5000

exec 3<>"/dev/tcp/$HOST/$PORT"   # socket(), connect(): the connection is descriptor 3
echo "connected to $HOST:$PORT"
cat <&3 &                          # what the server sends, printed as it comes
reader=$!
while IFS= read -r line; do       # each line you type
  printf '%s\n' "$line" >&3       # send()
done
sleep 1                            # Bash cannot half-close: give the last reply a moment
kill "$reader" 2>/dev/null
exec 3>&-                          # close()
