#!/usr/bin/env bash
# The program behind socketlab engine e1: a UDP client of 127.0.0.1:5000: you type what it sends.
# Run it: bash e1_udp_manual_client.sh
set -u
HOST='127.0.0.1'
PORT=5000

exec 3<>"/dev/udp/$HOST/$PORT"   # socket(), and the address datagrams go to
# cat reads a whole datagram at a time (Bash's read would take a byte and lose the rest).
cat <&3 &                          # recvfrom(): replies, printed as they come
reader=$!
while IFS= read -r line; do       # each line you type
  printf '%s\n' "$line" >&3       # sendto()
done
sleep 1                            # a last reply may still come
kill "$reader" 2>/dev/null
exec 3>&-                          # close()
