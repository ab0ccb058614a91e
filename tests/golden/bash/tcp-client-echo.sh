#!/usr/bin/env bash
# The program behind socketlab engine e1: a TCP client of 127.0.0.1:5000: it sends back what it receives.
# Run it: bash e1_echo_client.sh
set -u
HOST='127.0.0.1'
PORT=5000

exec 3<>"/dev/tcp/$HOST/$PORT"   # socket(), connect(): the connection is descriptor 3
echo "connected to $HOST:$PORT"
while IFS= read -r line <&3; do   # recv(): a line at a time
  echo "received $line"
  printf '%s\n' "$line" >&3     # send()
done
exec 3>&-                            # close()
