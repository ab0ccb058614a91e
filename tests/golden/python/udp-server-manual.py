#!/usr/bin/env python3
# The program behind socketlab engine e1: a UDP manual server on 127.0.0.1:5000: you type what it sends.
# Run it: python3 e1_udp_manual_server.py
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
import socket

HOST, PORT = "127.0.0.1", 5000

def name(addr):
    host, port = addr[0], addr[1]
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)         # socket()
s.bind((HOST, PORT))                                  # bind()
print("bound to", HOST, PORT, flush=True)
while True:
    data, addr = s.recvfrom(1024)            # recvfrom(): a datagram and who sent it
    print("received", data, "from", name(addr), flush=True)
    reply = input("reply> ").encode() + b"\n"
    if reply:
        s.sendto(reply, addr)                # sendto()
