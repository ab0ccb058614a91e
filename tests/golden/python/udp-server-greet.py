#!/usr/bin/env python3
# The program behind socketlab engine e1: a UDP greet server on 127.0.0.1:5000: it greets each client, then closes.
# Run it: python3 e1_udp_greet_server.py
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
import socket

HOST, PORT = "127.0.0.1", 5000
GREETING = "Hello from the server! It's \"$HOME\" [1]\n"

def name(addr):
    host, port = addr[0], addr[1]
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)         # socket()
s.bind((HOST, PORT))                                  # bind()
print("bound to", HOST, PORT, flush=True)
while True:
    data, addr = s.recvfrom(1024)            # recvfrom(): a datagram and who sent it
    print("received", data, "from", name(addr), flush=True)
    reply = GREETING.encode()
    if reply:
        s.sendto(reply, addr)                # sendto()
