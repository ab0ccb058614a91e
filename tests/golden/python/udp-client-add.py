#!/usr/bin/env python3
# The program behind socketlab engine e1: a UDP client of 127.0.0.1:5000: it answers each "A,B" with the sum.
# Run it: python3 e1_udp_add_client.py
import socket

HOST, PORT = "127.0.0.1", 5000

def messages(data):
    """The messages in one recv(): the whole chunk, or each line when it holds several."""
    parts = data.split(b"\n")
    return [part + b"\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])

def add(data):
    """The sum of each "A,B" message, as the lecture's add server answers."""
    out = b""
    for line in messages(data):
        try:
            a, b = line.decode().split(",")
            out += str(int(a) + int(b)).encode() + (b"\n" if line.endswith(b"\n") else b"")
        except ValueError:
            out += b"error: send two integers like 50,40\n"
    return out

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)         # socket()
s.bind(("127.0.0.1", 0))                              # bind(): any free port
print("bound to", s.getsockname(), flush=True)

while True:
    data, addr = s.recvfrom(1024)           # recvfrom()
    print("received", data, "from", addr, flush=True)
    s.sendto(add(data), addr)                 # sendto()
