#!/usr/bin/env python3
# The program behind socketlab engine e1: a TCP add server on 127.0.0.1:5000: it answers each "A,B" with the sum.
# Run it: python3 e1_add_server.py
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
import socket

HOST, PORT = "127.0.0.1", 5000

def name(addr):
    host, port = addr[0], addr[1]
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)

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

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)        # socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((HOST, PORT))                                  # bind()
s.listen(5)                                           # listen()
print("listening on", HOST, PORT, flush=True)
while True:
    conn, addr = s.accept()          # accept(): a new socket for this client
    print("connection from", name(addr), flush=True)
    while True:
        try:
            data = conn.recv(1024)        # recv()
        except ConnectionError:
            data = b""                    # reset by the client: gone too
        if not data:
            break                            # the client closed
        print("received", data, flush=True)
        reply = add(data)
        if reply:
            conn.sendall(reply)              # send()
    conn.close()                         # close()
