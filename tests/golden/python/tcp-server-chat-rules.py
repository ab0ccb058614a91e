#!/usr/bin/env python3
# The program behind socketlab engine e1: a TCP chat server on 127.0.0.1:5000: a chat room: each message goes to the other members.
# Run it: python3 e1_chat_server.py
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
import re, socket, threading, time

HOST, PORT = "127.0.0.1", 5000
MAX_CLIENTS = 10

def name(addr):
    host, port = addr[0], addr[1]
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)

def messages(data):
    """The messages in one recv(): the whole chunk, or each line when it holds several."""
    parts = data.split(b"\n")
    return [part + b"\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])

# Reply rules, tried on each message before the behavior: the first match answers.
RULES = [
    ("exact", "ping", "pong #{{counter}}"),
    ("contains", "time", "it is {{time}}"),
    ("regex", "^HELLO (\\w+)$", "hi {{match}}, you are {{peer}}; it's \"$5\" [ok]"),
]
counters = [0] * len(RULES)

def rule_reply(message, peer):
    text = message.rstrip(b"\n").rstrip(b"\r").decode("utf-8", "replace")
    for i, (kind, pattern, reply) in enumerate(RULES):
        if kind == "exact":
            found = pattern if text == pattern else None
        elif kind == "contains":
            found = pattern if pattern in text else None
        else:
            m = re.search(pattern, text)
            found = (m.group(1) if m.lastindex else m.group(0)) if m else None
        if found is None:
            continue
        counters[i] += 1
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        out = reply.replace("{{peer}}", peer).replace("{{time}}", now)
        out = out.replace("{{counter}}", str(counters[i])).replace("{{match}}", found)
        if message.endswith(b"\n") and not out.endswith("\n"):
            out += "\n"
        return out.encode()
    return None

members = {}                     # socket -> its client's address
lock = threading.Lock()

def tell(message, sender=None):
    """Sends a message to every member but the sender."""
    with lock:
        others = [m for m in members if m is not sender]
    for m in others:
        try:
            m.sendall(message)
        except OSError:
            pass

def member(conn, addr):
    me = name(addr)
    with lock:
        full = len(members) >= MAX_CLIENTS
        if not full:
            members[conn] = addr
        n = len(members)
    if full:
        conn.close()                     # the room is full
        return
    conn.sendall(("*** welcome %s; %d online\n" % (me, n)).encode())
    tell(("*** %s joined (%d online)\n" % (me, n)).encode(), conn)
    while True:
        try:
            data = conn.recv(1024)        # recv()
        except ConnectionError:
            data = b""                        # reset by the member: gone too
        if not data:
            break
        for message in messages(data):
            answer = rule_reply(message, me)
            if answer is not None:
                conn.sendall(answer)
                continue
            line = message if message.endswith(b"\n") else message + b"\n"
            tell(me.encode() + b": " + line, conn)
    with lock:
        del members[conn]
        n = len(members)
    tell(("*** %s left (%d online)\n" % (me, n)).encode())
    conn.close()

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)        # socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((HOST, PORT))                                  # bind()
s.listen(5)                                           # listen()
print("listening on", HOST, PORT, flush=True)
while True:
    conn, addr = s.accept()          # accept(): a new socket for this client
    print("connection from", name(addr), flush=True)
    threading.Thread(target=member, args=(conn, addr), daemon=True).start()
