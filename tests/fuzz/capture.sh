#!/bin/bash
# tests/fuzz/capture.sh [BUILDDIR] — records real TURN traffic into the fuzz seed corpus.
#
# Starts BUILDDIR/tincand (default: the current folder) on loopback, puts the recording proxy
# tests/fuzz/udpcapture.py in front of it, and drives it with coturn's turnutils_uclient (Send
# indications, channels, REST credentials, IPv6 and dual-stack allocations, DONT-FRAGMENT,
# EVEN-PORT/RESERVATION-TOKEN pairs) and, if Chromium, node and tests/node_modules are there, with a
# relay-only WebRTC call in headless Chromium (tests/fuzz/chromium-relay.mjs). Every distinct
# message (method, class and attribute types; ChannelData by length) is written, both directions,
# to tests/fuzz/corpus/stun/{uclient,chromium}-NNN-<method>-<class>. A one-off tool for when
# clients change: the committed seeds are its output; make check does not run it.
#
# Ports: tincand 25900 (HTTP 25902), the proxy 25901, echo peers 25903 (IPv4) and 25904 (IPv6),
# relay ports 25910-25999 (the unit-test range of tests/lib.sh).
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
builddir=$(cd "${1:-.}" && pwd)
corpus="$top/tests/fuzz/corpus/stun"
work=$(mktemp -d "${TMPDIR:-/tmp}/tincan-capture.XXXXXX")
pids=()

cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
}
trap cleanup EXIT

cat >"$work/tincan.conf" <<CONF
log_level = "info";
turn = {
  listen = "127.0.0.1:25900";
  relay_address = [ "127.0.0.1", "::1" ];
  relay_port_min = 25910;
  relay_port_max = 25999;
  realm = "tincan.capture";
  secret = "capture-secret-0123456789";
  users = ( { name = "demo"; password = "demo"; } );
  allow_peers = [ "127.0.0.0/8", "::1/128" ];
  user_quota = 0;
  unauth_rate = 0;
};
http = {
  listen = "127.0.0.1:25902";
  html_dir = "$top/html";
};
CONF

"$builddir/tincand" --config "$work/tincan.conf" >"$work/tincand.log" 2>&1 &
pids+=($!)
turnutils_peer -L 127.0.0.1 -p 25903 >/dev/null 2>&1 &
pids+=($!)
turnutils_peer -L ::1 -p 25904 >/dev/null 2>&1 &
pids+=($!)

# proxy TAG: (re)starts the recording proxy into $work/TAG.
proxy() {
	if [ -n "${proxy_pid:-}" ]; then
		kill "$proxy_pid"
		wait "$proxy_pid" 2>/dev/null || true
	fi
	python3 "$top/tests/fuzz/udpcapture.py" 25901 25900 "$work/$1" &
	proxy_pid=$!
	pids+=("$proxy_pid")
	sleep 0.3
}

proxy uclient
uc=(timeout 60 turnutils_uclient -p 25901 -e 127.0.0.1 -r 25903 -n 5 -m 1)
"${uc[@]}" -c -s -u demo -w demo 127.0.0.1 >"$work/uc1.log" 2>&1
"${uc[@]}" -c -u demo -w demo 127.0.0.1 >"$work/uc2.log" 2>&1
"${uc[@]}" -c -g -W capture-secret-0123456789 -u capture 127.0.0.1 >"$work/uc3.log" 2>&1
"${uc[@]}" -u demo -w demo 127.0.0.1 >"$work/uc4.log" 2>&1
timeout 60 turnutils_uclient -p 25901 -e ::1 -r 25904 -n 5 -m 1 -c -x -u demo -w demo 127.0.0.1 \
	>"$work/uc5.log" 2>&1
"${uc[@]}" -Z -u demo -w demo 127.0.0.1 >"$work/uc6.log" 2>&1 || true
echo "capture: uclient: $(ls "$work/uclient" | wc -l) datagrams"

if [ -x "${CHROMIUM:-/usr/bin/chromium}" ] && command -v node >/dev/null &&
	[ -d "$top/tests/node_modules/puppeteer-core" ]; then
	proxy chromium
	node "$top/tests/fuzz/chromium-relay.mjs" 25901
	echo "capture: chromium: $(ls "$work/chromium" | wc -l) datagrams"
else
	echo "capture: no Chromium, node or tests/node_modules/puppeteer-core: uclient seeds only"
fi
cleanup
pids=()

python3 - "$work" "$corpus" <<'PY'
import os, struct, sys

work, corpus = sys.argv[1], sys.argv[2]
methods = {1: "binding", 3: "allocate", 4: "refresh", 6: "send", 7: "data", 8: "createpermission",
           9: "channelbind"}
classes = {0x000: "request", 0x010: "indication", 0x100: "success", 0x110: "error"}


def describe(d):
    """(key, name) of one datagram: STUN by method, class and attribute types; ChannelData by
    length; None for anything else."""
    if len(d) >= 20 and d[0] < 0x40 and d[4:8] == b"\x21\x12\xa4\x42":
        t = struct.unpack(">H", d[:2])[0]
        m = (t & 0x000F) | (t & 0x00E0) >> 1 | (t & 0x3E00) >> 2
        c = t & 0x0110
        attrs, off = [], 20
        while off + 4 <= len(d):
            at, al = struct.unpack(">HH", d[off:off + 4])
            attrs.append(at)
            off += 4 + ((al + 3) & ~3)
        name = "%s-%s" % (methods.get(m, "method%03x" % m), classes[c])
        return (m, c, tuple(attrs)), name
    if len(d) >= 4 and 0x40 <= d[0] <= 0x7F:
        return ("channeldata", len(d) // 64), "channeldata"
    return None


for tag in ("uclient", "chromium"):
    src = os.path.join(work, tag)
    if not os.path.isdir(src):
        continue
    for f in os.listdir(corpus):  # the previous capture's seeds of this client
        if f.startswith(tag + "-"):
            os.unlink(os.path.join(corpus, f))
    seen, n = set(), 0
    for f in sorted(os.listdir(src)):
        d = open(os.path.join(src, f), "rb").read()
        kd = describe(d)
        if not kd or kd[0] in seen:
            continue
        seen.add(kd[0])
        n += 1
        with open(os.path.join(corpus, "%s-%03d-%s" % (tag, n, kd[1])), "wb") as out:
            out.write(d)
    print("capture: %s: %d distinct messages written to %s" % (tag, n, corpus))
PY
rm -rf "$work"
