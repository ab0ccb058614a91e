#!/usr/bin/env python3
# The program behind socketlab engine e1: a UDP client of 127.0.0.1:5000: it sends back what it receives.
# Run it: python3 e1_udp_echo_client.py
import socket

HOST, PORT = "127.0.0.1", 5000

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)         # socket()
s.bind(("127.0.0.1", 0))                              # bind(): any free port
print("bound to", s.getsockname(), flush=True)

while True:
    data, addr = s.recvfrom(1024)           # recvfrom()
    print("received", data, "from", addr, flush=True)
    s.sendto(data, addr)                 # sendto()
