#!/usr/bin/env python3
# The program behind socketlab engine e1: a TCP receive server on 127.0.0.1:5000: it keeps what each client sends as a file.
# Run it: python3 e1_receive_server.py
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
import hashlib, socket

HOST, PORT = "127.0.0.1", 5000

def name(addr):
    host, port = addr[0], addr[1]
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)        # socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((HOST, PORT))                                  # bind()
s.listen(5)                                           # listen()
print("listening on", HOST, PORT, flush=True)
count = 0
while True:
    conn, addr = s.accept()          # accept(): a new socket for this client
    print("connection from", name(addr), flush=True)
    count += 1
    filename = "received-%d.bin" % count
    digest = hashlib.sha256()
    with open(filename, "wb") as f:
        while True:
            data = conn.recv(1024)        # recv()
            if not data:
                break                        # the client is done sending
            f.write(data)
            digest.update(data)
    conn.close()                     # close()
    print("saved", filename, "SHA-256", digest.hexdigest(), flush=True)
