#!/usr/bin/env python3
# The program behind socketlab engine e1: a UDP client of 127.0.0.1:5000: you type what it sends.
# Run it: python3 e1_udp_manual_client.py
import socket, sys, threading

HOST, PORT = "127.0.0.1", 5000

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)         # socket()
s.bind(("127.0.0.1", 0))                              # bind(): any free port
print("bound to", s.getsockname(), flush=True)

def show():
    while True:
        data, addr = s.recvfrom(1024)       # recvfrom()
        print("received", data, "from", addr, flush=True)

threading.Thread(target=show, daemon=True).start()
for line in sys.stdin:                  # each line you type
    s.sendto(line.encode(), (HOST, PORT))   # sendto()
time_to_answer = 1.0
threading.Event().wait(time_to_answer)    # a last reply may still come
s.close()                                 # close()
