#!/usr/bin/env bash
# The program behind socketlab engine e1: a TCP client of 127.0.0.1:5000: it prints what arrives and never replies.
# Run it: bash e1_discard_client.sh
set -u
HOST='127.0.0.1'
PORT=5000

exec 3<>"/dev/tcp/$HOST/$PORT"   # socket(), connect(): the connection is descriptor 3
echo "connected to $HOST:$PORT"
cat <&3 > received.bin            # recv() until the server closes
echo "saved received.bin SHA-256 $(sha256sum < received.bin | cut -d' ' -f1)"
exec 3>&-                         # close()
