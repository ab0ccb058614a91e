#!/usr/bin/env python3
# The program behind socketlab engine e1: a TCP client of 127.0.0.1:5000: you type what it sends.
# Run it: python3 e1_manual_client.py
import socket, sys, threading

HOST, PORT = "127.0.0.1", 5000

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)        # socket()
s.connect((HOST, PORT))                               # connect()
print("connected from", s.getsockname(), flush=True)   # the ephemeral port

def show():
    """Prints what the server sends, until it closes."""
    while True:
        data = s.recv(1024)                # recv()
        if not data:
            break
        print("received", data, flush=True)

reader = threading.Thread(target=show)
reader.start()
for line in sys.stdin:                  # each line you type
    s.sendall(line.encode())         # send()
s.shutdown(socket.SHUT_WR)           # shutdown(): nothing more from us
reader.join()
s.close()                                             # close()
