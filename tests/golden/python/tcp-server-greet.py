#!/usr/bin/env python3
# The program behind socketlab engine e1: a TCP greet server on 127.0.0.1:5000: it greets each client, then closes.
# Run it: python3 e1_greet_server.py
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
import socket

HOST, PORT = "127.0.0.1", 5000
GREETING = "Hello from the server! It's \"$HOME\" [1]\n"

def name(addr):
    host, port = addr[0], addr[1]
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)        # socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((HOST, PORT))                                  # bind()
s.listen(5)                                           # listen()
print("listening on", HOST, PORT, flush=True)
while True:
    conn, addr = s.accept()          # accept(): a new socket for this client
    print("connection from", name(addr), flush=True)
    conn.sendall(GREETING.encode())                # send()
    conn.close()                     # close(): greeted, done
