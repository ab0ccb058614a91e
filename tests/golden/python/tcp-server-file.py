#!/usr/bin/env python3
# The program behind socketlab engine e1: a TCP file server on 127.0.0.1:5000: it sends a file to each client, then closes.
# Run it: python3 e1_file_server.py
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
# It sends the file "lecture notes.txt": download it into this folder first (socketlab's Files panel).
import hashlib, socket

HOST, PORT = "127.0.0.1", 5000
FILENAME = "lecture notes.txt"

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
    digest = hashlib.sha256()
    with open(FILENAME, "rb") as f:
        while True:
            chunk = f.read(65536)
            if not chunk:
                break
            conn.sendall(chunk)          # send()
            digest.update(chunk)
    conn.close()                     # close(): the whole file is sent
    print("sent", FILENAME, "SHA-256", digest.hexdigest(), flush=True)
