#!/usr/bin/env bash
# The program behind socketlab engine e1: a UDP client of 127.0.0.1:5000: it answers each "A,B" with the sum.
# Run it: bash e1_udp_add_client.sh
set -u
HOST='127.0.0.1'
PORT=5000

add() {                       # the sum of "A,B", as the add server answers
  local a b
  IFS=, read -r a b <<< "$1"
  a=${a// /}; b=${b// /}
  if [[ $a =~ ^[-+]?[0-9]+$ && $b =~ ^[-+]?[0-9]+$ ]]; then
    if (( ${#a} > 18 || ${#b} > 18 )); then   # Bash's arithmetic is 64-bit
      echo 'error: Bash adds numbers of up to 18 digits; use the Python version'
    else
      echo $(( ${a%%[0-9]*}10#${a#[-+]} + ${b%%[0-9]*}10#${b#[-+]} ))   # 10#: 012 is twelve, not octal
    fi
  else
    echo 'error: send two integers like 50,40'
  fi
}

exec 3<>"/dev/udp/$HOST/$PORT"   # socket(), and the address datagrams go to
# cat reads a whole datagram at a time (Bash's read would take a byte and lose the rest).
printf '\n' >&3                    # sendto(): a first datagram, so the server knows our port
cat <&3 | while IFS= read -r line; do   # recvfrom()
  echo "received $line"
  add "$line" >&3     # sendto()
done
