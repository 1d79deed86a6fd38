#!/usr/bin/env python3
"""Listen on 127.0.0.1:PORT, save the first bytes each client sends (the ClientHello, complete:
reads until the TLS handshake message length is covered) to OUTDIR/NAME-<n>.bin, then close."""
import socket, sys, os, time
port, outdir, name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
maxconn = int(sys.argv[4]) if len(sys.argv) > 4 else 1
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen(8)
for n in range(maxconn):
    c, peer = s.accept(); c.settimeout(3)
    buf = b""
    try:
        while True:
            d = c.recv(65536)
            if not d: break
            buf += d
            # complete when records cover the handshake length
            if len(buf) >= 9 and buf[0] == 0x16:
                hs = int.from_bytes(buf[6:9], "big") + 4
                got, off = 0, 0
                while off + 5 <= len(buf):
                    rl = int.from_bytes(buf[off+3:off+5], "big")
                    if off + 5 + rl > len(buf): break
                    got += rl; off += 5 + rl
                if got >= hs: buf = buf[:off]; break
    except socket.timeout:
        pass
    open(os.path.join(outdir, f"{name}-{n}.bin"), "wb").write(buf)
    print(f"{name}-{n}: {len(buf)} bytes from {peer}", flush=True)
    c.close()
