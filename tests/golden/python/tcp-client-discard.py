#!/usr/bin/env python3
# The program behind socketlab engine e1: a TCP client of 127.0.0.1:5000: it prints what arrives and never replies.
# Run it: python3 e1_discard_client.py
import socket

HOST, PORT = "127.0.0.1", 5000

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)        # socket()
s.connect((HOST, PORT))                               # connect()
print("connected from", s.getsockname(), flush=True)   # the ephemeral port

while True:
    data = s.recv(1024)                    # recv()
    if not data:
        break                            # the server closed
    print("received", data, flush=True)
s.close()                                             # close()
