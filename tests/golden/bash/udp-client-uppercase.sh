#!/usr/bin/env bash
# The program behind socketlab engine e1: a UDP client of 127.0.0.1:5000: it sends back what it receives in capitals.
# Run it: bash e1_udp_uppercase_client.sh
set -u
HOST='127.0.0.1'
PORT=5000

exec 3<>"/dev/udp/$HOST/$PORT"   # socket(), and the address datagrams go to
# cat reads a whole datagram at a time (Bash's read would take a byte and lose the rest).
printf '\n' >&3                    # sendto(): a first datagram, so the server knows our port
cat <&3 | while IFS= read -r line; do   # recvfrom()
  echo "received $line"
  printf '%s\n' "${line^^}" >&3     # sendto()
done
