#!/usr/bin/env python3
# The program behind socketlab engine e1: a UDP uppercase server on 127.0.0.1:5000: it sends back what it receives in capitals.
# Run it: python3 e1_udp_uppercase_server.py
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
import re, socket, time

HOST, PORT = "127.0.0.1", 5000

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

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)         # socket()
s.bind((HOST, PORT))                                  # bind()
print("bound to", HOST, PORT, flush=True)
while True:
    data, addr = s.recvfrom(1024)            # recvfrom(): a datagram and who sent it
    print("received", data, "from", name(addr), flush=True)
    reply = b""
    for message in messages(data):
        answer = rule_reply(message, name(addr))
        reply += answer if answer is not None else message.upper()
    if reply:
        s.sendto(reply, addr)                # sendto()
