#!/usr/bin/env python3
"""udpcapture.py LISTEN_PORT SERVER_PORT OUTDIR - a recording UDP proxy for the fuzz seed corpus.

Listens on 127.0.0.1:LISTEN_PORT and forwards every datagram to 127.0.0.1:SERVER_PORT from one
upstream socket per client address (so the server still sees one 5-tuple per client), and the
answers back. Every datagram both ways is written to OUTDIR/NNNNNN-c2s or OUTDIR/NNNNNN-s2c, as it
was on the wire. Runs until SIGTERM. Used by tests/fuzz/capture.sh; not part of make check.
"""
import os
import selectors
import signal
import socket
import sys


def main():
    listen_port, server_port, outdir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    os.makedirs(outdir, exist_ok=True)
    server = ("127.0.0.1", server_port)
    front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    front.bind(("127.0.0.1", listen_port))
    sel = selectors.DefaultSelector()
    sel.register(front, selectors.EVENT_READ, None)
    upstream = {}  # client address -> socket towards the server
    seq = [0]

    def record(direction, data):
        seq[0] += 1
        with open(os.path.join(outdir, "%06d-%s" % (seq[0], direction)), "wb") as f:
            f.write(data)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        for key, _ in sel.select():
            if key.data is None:
                data, client = front.recvfrom(65536)
                up = upstream.get(client)
                if up is None:
                    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    up.bind(("127.0.0.1", 0))
                    upstream[client] = up
                    sel.register(up, selectors.EVENT_READ, client)
                record("c2s", data)
                up.sendto(data, server)
            else:
                data, _ = key.fileobj.recvfrom(65536)
                record("s2c", data)
                front.sendto(data, key.data)


if __name__ == "__main__":
    main()
