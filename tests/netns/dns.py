#!/usr/bin/env python3
"""A one-name DNS server for a client namespace of tests/netns/run.sh.

    dns.py NAME IPV4      (listens on 127.0.0.1:53, UDP)

Answers A queries for NAME with IPV4, AAAA queries for NAME with no records (NOERROR), anything
else with NXDOMAIN. Chromium resolves the host names of TURN URLs through DNS only (neither
--host-resolver-rules nor /etc/hosts reach WebRTC's lookups), so the test name must be in a real
DNS answer for the browser to use turn:NAME and turns:NAME.
"""
import socket
import struct
import sys

name, ip = sys.argv[1].lower().rstrip("."), socket.inet_aton(sys.argv[2])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 53))
while True:
    q, addr = sock.recvfrom(512)
    if len(q) < 12:
        continue
    tid, flags, qd = struct.unpack("!HHH", q[:6])
    # The question: labels, then QTYPE and QCLASS.
    i, labels = 12, []
    while i < len(q) and q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode("ascii", "replace"))
        i += 1 + q[i]
    if qd != 1 or i + 5 > len(q):
        continue
    question = q[12:i + 5]
    qtype = struct.unpack("!H", q[i + 1:i + 3])[0]
    found = ".".join(labels).lower() == name
    rcode = 0 if found else 3
    answers = b""
    if found and qtype == 1:
        answers = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + ip
    head = struct.pack("!HHHHHH", tid, 0x8180 | rcode, 1, 1 if answers else 0, 0, 0)
    sock.sendto(head + question + answers, addr)
