#!/usr/bin/env node
// bench/wsload.mjs: signaling at scale (issue 6). Opens PARTICIPANTS WebSockets in ROOMS rooms
// against one tincand, exchanges offer / answer / ICE candidates in every room as browsers do,
// and reports room and join rates, WebSocket setup rate and latency, message fan-out latency
// (client A's send -> client B's receive, same process, performance.now()), and tincand's RSS
// per connection and CPU per message.
//
// With --tincand BIN it starts tincand itself (config generated, loopback, pinned with taskset
// to --server-cpu) and stops it by PID at the end; otherwise it measures the server at --url and
// reads /proc of --pid.
//
// The client must not be what is measured: messages are paced (--rate), the Node event loop's own
// delay is measured (perf_hooks.monitorEventLoopDelay) and printed next to the fan-out latency,
// and the client can run pinned to its own core (taskset -c 1 node bench/wsload.mjs ...).
//
// `ws` is taken from tests/node_modules (npm ci in tests/), or from --ws-module / TINCAN_WS_MODULE.
//
// Every phase is bounded by --timeout; the script exits 0 if every participant connected and every
// message arrived, 1 otherwise.
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const USAGE = `Usage: node bench/wsload.mjs [OPTIONS]

  --rooms N          rooms (default 5000)
  --per-room N       participants per room, 2.. (default 2; tincand's rooms.capacity)
  --candidates N     ICE candidates each participant sends (default 4)
  --sdp BYTES        size of an offer / answer SDP (default 3000)
  --rate N           messages per second sent over all rooms (default 5000)
  --concurrency N    HTTP requests / WebSocket handshakes in flight (default 200)
  --url URL          tincand's HTTP listener (default http://127.0.0.1:27501)
  --pid PID          tincand's pid, for RSS and CPU (/proc)
  --tincand BIN      start this tincand (generated config, port from --url) and stop it at the end
  --server-cpu N     with --tincand: pin it to CPU N with taskset (default 0; -1: no pinning)
  --idle SEC         after connecting, measure tincand's CPU with every socket idle (default 5)
  --timeout SEC      bound on each phase (default 300)
  --ws-module PATH   where the npm package ws is (default: tests/node_modules/ws)
  --json             only print the JSON line
  -h, --help         this help
`;

function parseArgs(argv) {
  const o = {
    rooms: 5000, perRoom: 2, candidates: 4, sdp: 3000, rate: 5000, concurrency: 200,
    url: 'http://127.0.0.1:27501', pid: 0, tincand: '', serverCpu: 0, timeout: 300, idle: 5,
    wsModule: process.env.TINCAN_WS_MODULE ?? '', json: false,
  };
  const num = (v, name) => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`${name}: a number expected`);
    return n;
  };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--rooms': o.rooms = num(v(), a); break;
      case '--per-room': o.perRoom = num(v(), a); break;
      case '--candidates': o.candidates = num(v(), a); break;
      case '--sdp': o.sdp = num(v(), a); break;
      case '--rate': o.rate = num(v(), a); break;
      case '--concurrency': o.concurrency = num(v(), a); break;
      case '--url': o.url = v(); break;
      case '--pid': o.pid = num(v(), a); break;
      case '--tincand': o.tincand = v(); break;
      case '--server-cpu': o.serverCpu = num(v(), a); break;
      case '--timeout': o.timeout = num(v(), a); break;
      case '--idle': o.idle = num(v(), a); break;
      case '--ws-module': o.wsModule = v(); break;
      case '--json': o.json = true; break;
      case '-h': case '--help': process.stdout.write(USAGE); process.exit(0);
      default: throw new Error(`unknown option ${a}`);
    }
  }
  if (o.rooms < 1 || o.perRoom < 2 || o.rate <= 0 || o.concurrency < 1)
    throw new Error('--rooms >= 1, --per-room >= 2, --rate > 0, --concurrency >= 1');
  if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(o.url)) throw new Error('--url must be http://127.0.0.1:PORT');
  return o;
}

function loadWs(o) {
  if (o.wsModule) return createRequire(import.meta.url)(resolve(o.wsModule));
  for (const b of [join(HERE, '..', 'tests'), process.cwd()]) {
    try {
      return createRequire(join(b, 'package.json'))('ws');
    } catch {
      // next
    }
  }
  throw new Error('npm package ws not found: run npm ci in tests/, or pass --ws-module DIR/ws');
}

// ---- /proc ----
function rssKiB(pid) {
  if (!pid) return -1;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : -1;
  } catch {
    return -1;
  }
}

function cpuSeconds(pid) {
  if (!pid) return 0;
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, USER_HZ = 100 on Linux
  } catch {
    return 0;
  }
}

// ---- statistics ----
const r1 = (x) => Math.round(x * 1000) / 1000;
function quantiles(arr) {
  if (!arr.length) return { n: 0, p50: 0, p99: 0, p999: 0, max: 0 };
  const a = Float64Array.from(arr).sort();
  const q = (p) => a[Math.min(a.length - 1, Math.max(0, Math.ceil(p * a.length) - 1))];
  return { n: a.length, p50: r1(q(0.5)), p99: r1(q(0.99)), p999: r1(q(0.999)), max: r1(a[a.length - 1]) };
}

// Runs @fn(i) for i in [0, n) with at most @limit in flight; resolves with the results.
async function pool(n, limit, fn) {
  const out = new Array(n);
  let next = 0;
  async function lane() {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, n) }, lane));
  return out;
}

function withTimeout(p, sec, what) {
  let t;
  return Promise.race([
    p,
    new Promise((_, rej) => {
      t = setTimeout(() => rej(new Error(`${what}: not done within ${sec} s`)), sec * 1000);
    }),
  ]).finally(() => clearTimeout(t));
}

async function post(base, path) {
  const res = await fetch(base + path, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}',
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

// ---- tincand ----
async function startTincand(o) {
  const port = Number(new URL(o.url).port);
  const dir = mkdtempSync(join(tmpdir(), 'tincan-wsload-'));
  const conf = join(dir, 'tincan.conf');
  // TURN is started too (tincand always runs it); its ports sit next to the HTTP port.
  writeFileSync(conf, `# generated by bench/wsload.mjs
log_level = "notice";
turn = {
  listen = "127.0.0.1:${port - 1}";
  relay_address = "127.0.0.1";
  relay_port_min = ${port + 10};
  relay_port_max = ${port + 20};
  external_address = "127.0.0.1";
};
http = {
  listen = "127.0.0.1:${port}";
  html_dir = "${join(HERE, '..', 'html')}";
};
rooms = {
  capacity = ${o.perRoom};
  max_rooms = ${o.rooms + 100};
};
`);
  const args = ['--config', conf];
  const logFd = openSync(join(dir, 'tincand.log'), 'a');
  const stdio = ['ignore', logFd, logFd];
  const child = o.serverCpu >= 0
    ? spawn('taskset', ['-c', String(o.serverCpu), o.tincand, ...args], { stdio })
    : spawn(o.tincand, args, { stdio });
  const t0 = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`tincand exited with ${child.exitCode}`);
    try {
      const r = await fetch(`${o.url}/api/health`);
      if (r.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() - t0 > 10000) throw new Error('tincand did not answer /api/health in 10 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, dir };
}

async function stopTincand(t) {
  if (!t || t.child.exitCode !== null) return;
  const done = new Promise((r) => t.child.once('exit', r));
  t.child.kill('SIGTERM');
  const timer = setTimeout(() => t.child.kill('SIGKILL'), 10000);
  await done;
  clearTimeout(timer);
}

// ---- participants ----
class Participant {
  constructor(room, slot) {
    this.room = room;   // index
    this.slot = slot;   // 0 = first in the room
    this.token = '';
    this.id = '';
    this.ws = null;
    this.gotSignals = 0;
    this.onSignal = null;
  }
}

async function main() {
  const o = parseArgs(process.argv);
  const WebSocket = loadWs(o);
  const log = (...a) => { if (!o.json) console.log(...a); };
  let server = null;
  const res = { tool: 'wsload', rooms: o.rooms, per_room: o.perRoom, participants: o.rooms * o.perRoom };
  const fanout = [];          // ms, signal send -> receive
  const connectLat = [];      // ms, new WebSocket -> welcome
  let errors = 0;
  let firstError = '';
  const err = (e) => {
    errors++;
    // fetch() puts the reason (ECONNRESET, "other side closed", ...) in e.cause.
    if (!firstError) {
      firstError = String(e && e.message ? e.message : e);
      if (e && e.cause) firstError += ` (${e.cause.code ?? ''} ${e.cause.message ?? e.cause})`;
    }
  };

  try {
    if (o.tincand) {
      server = await startTincand(o);
      o.pid = server.child.pid;
    }
    const wsBase = o.url.replace(/^http/, 'ws');
    const N = o.rooms * o.perRoom;
    res.rss_idle_kib = rssKiB(o.pid);

    // 1. Rooms.
    let t0 = performance.now();
    const rooms = await withTimeout(pool(o.rooms, o.concurrency, () => post(o.url, '/api/rooms')),
      o.timeout, 'rooms');
    res.rooms_per_s = r1(o.rooms / ((performance.now() - t0) / 1000));

    // 2. Join tokens.
    const ps = [];
    for (let r = 0; r < o.rooms; r++)
      for (let s = 0; s < o.perRoom; s++) ps.push(new Participant(r, s));
    t0 = performance.now();
    await withTimeout(pool(N, o.concurrency, async (i) => {
      const p = ps[i];
      p.token = (await post(o.url, `/api/rooms/${rooms[p.room].room}/join`)).token;
    }), o.timeout, 'joins');
    res.joins_per_s = r1(N / ((performance.now() - t0) / 1000));
    res.rss_rooms_kib = rssKiB(o.pid);
    log(`rooms: ${o.rooms} created (${res.rooms_per_s}/s), ${N} join tokens (${res.joins_per_s}/s)`);

    // 3. WebSockets, one slot at a time (so that later slots see the earlier ones in "peers").
    const byId = new Map();
    const connect = (p) => new Promise((resolve) => {
      const start = performance.now();
      const ws = new WebSocket(`${wsBase}/api/signal?token=${encodeURIComponent(p.token)}`,
        'tincan.v1', { perMessageDeflate: false });
      p.ws = ws;
      let welcomed = false;
      ws.on('message', (data) => {
        const now = performance.now();
        let m;
        try {
          m = JSON.parse(data.toString());
        } catch (e) {
          err(e);
          return;
        }
        if (m.type === 'welcome') {
          welcomed = true;
          p.id = m.id;
          p.peers = m.peers;
          byId.set(p.id, p);
          connectLat.push(now - start);
          resolve(true);
        } else if (m.type === 'signal') {
          fanout.push(now - m.data.t);
          p.gotSignals++;
          if (p.onSignal) p.onSignal(m);
        } else if (m.type === 'error') {
          err(`server error message: ${m.code} ${m.message}`);
        }
      });
      ws.on('error', (e) => {
        err(e);
        if (!welcomed) resolve(false);
      });
      ws.on('close', () => {
        if (!welcomed) resolve(false);
      });
    });
    t0 = performance.now();
    let connected = 0;
    for (let s = 0; s < o.perRoom; s++) {
      const slot = ps.filter((p) => p.slot === s);
      const ok = await withTimeout(pool(slot.length, o.concurrency, (i) => connect(slot[i])),
        o.timeout, 'websockets');
      connected += ok.filter(Boolean).length;
    }
    const wsSec = (performance.now() - t0) / 1000;
    res.connected = connected;
    res.ws_per_s = r1(connected / wsSec);
    res.ws_connect_ms = quantiles(connectLat);
    await new Promise((r) => setTimeout(r, 500)); // let the last peer-joined messages land
    res.rss_ws_kib = rssKiB(o.pid);
    res.rss_per_conn_kib = res.rss_ws_kib >= 0 ? r1((res.rss_ws_kib - res.rss_rooms_kib) / connected) : -1;
    res.rss_per_room_kib = res.rss_rooms_kib >= 0 ? r1((res.rss_rooms_kib - res.rss_idle_kib) / o.rooms) : -1;
    log(`websockets: ${connected}/${N} connected in ${wsSec.toFixed(2)} s (${res.ws_per_s}/s), ` +
      `welcome p50 ${res.ws_connect_ms.p50.toFixed(2)} ms p99 ${res.ws_connect_ms.p99.toFixed(2)} ms`);
    log(`tincand RSS: idle ${res.rss_idle_kib} KiB, +rooms ${res.rss_rooms_kib} KiB, ` +
      `+websockets ${res.rss_ws_kib} KiB: ${res.rss_per_conn_kib} KiB per connection, ` +
      `${res.rss_per_room_kib} KiB per room (with its join tokens)`);

    // 3b. Idle: what the open sockets cost with nothing to say.
    if (o.idle > 0) {
      const c0 = cpuSeconds(o.pid);
      const w0 = performance.now();
      await new Promise((r) => setTimeout(r, o.idle * 1000));
      res.server_idle_cpu_pct = r1((cpuSeconds(o.pid) - c0) / ((performance.now() - w0) / 1000) * 100);
      log(`idle: tincand used ${res.server_idle_cpu_pct} % of a core with ${connected} idle sockets`);
    }

    // 4. Exchange, paced: in each room the last to arrive offers to each earlier peer, who
    // answers; everyone then trickles candidates to everyone. Rooms start at a rate that keeps the
    // message rate at --rate.
    const sdp = 'v=0\r\n'.padEnd(o.sdp, 'a=x\r\n');
    const cand = { candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host generation 0', sdpMid: '0', sdpMLineIndex: 0 };
    const send = (from, to, data) => {
      data.t = performance.now();
      from.ws.send(JSON.stringify({ type: 'signal', to: to.id, data }));
    };
    const perRoomMsgs = (o.perRoom - 1) * 2 + o.perRoom * (o.perRoom - 1) * o.candidates;
    const expected = o.rooms * perRoomMsgs;
    for (const p of ps) {
      p.onSignal = (m) => {
        const d = m.data;
        if (d.description && d.description.type === 'offer') {
          const from = byId.get(m.from);
          if (from) {
            send(p, from, { description: { type: 'answer', sdp } });
            for (let c = 0; c < o.candidates; c++) send(p, from, { candidate: cand });
          }
        }
      };
    }
    const eld = monitorEventLoopDelay({ resolution: 1 });
    const cpu0 = cpuSeconds(o.pid);
    fanout.length = 0;
    eld.enable();
    t0 = performance.now();
    const roomsPerMs = o.rate / perRoomMsgs / 1000;
    let started = 0;
    await withTimeout(new Promise((resolve) => {
      const tick = () => {
        const due = Math.min(o.rooms, Math.floor((performance.now() - t0) * roomsPerMs) + 1);
        for (; started < due; started++) {
          const members = ps.slice(started * o.perRoom, (started + 1) * o.perRoom)
            .filter((p) => p.id && p.ws.readyState === 1);
          const last = members[members.length - 1];
          if (!last) continue;
          for (const q of members.slice(0, -1)) {
            send(last, q, { description: { type: 'offer', sdp } });
            for (let c = 0; c < o.candidates; c++) send(last, q, { candidate: cand });
          }
        }
        if (started < o.rooms) setTimeout(tick, 1);
        else resolve();
      };
      tick();
    }), o.timeout, 'exchange');
    // Wait for the stragglers (bounded).
    const waitEnd = performance.now() + 10000;
    while (fanout.length < expected && performance.now() < waitEnd)
      await new Promise((r) => setTimeout(r, 20));
    const exSec = (performance.now() - t0) / 1000;
    eld.disable();
    const cpu1 = cpuSeconds(o.pid);
    res.messages_expected = expected;
    res.messages_received = fanout.length;
    res.exchange_s = r1(exSec);
    res.msgs_per_s = r1(fanout.length / exSec);
    res.fanout_ms = quantiles(fanout);
    res.client_loop_delay_ms = {
      p50: r1(eld.percentile(50) / 1e6), p99: r1(eld.percentile(99) / 1e6), max: r1(eld.max / 1e6),
    };
    res.server_cpu_s = r1(cpu1 - cpu0);
    res.server_cpu_us_per_msg = fanout.length ? r1((cpu1 - cpu0) * 1e6 / fanout.length) : 0;
    res.rss_after_exchange_kib = rssKiB(o.pid);
    log(`exchange: ${fanout.length}/${expected} messages in ${exSec.toFixed(2)} s ` +
      `(${res.msgs_per_s}/s), fan-out p50 ${res.fanout_ms.p50.toFixed(3)} ms ` +
      `p99 ${res.fanout_ms.p99.toFixed(3)} ms p99.9 ${res.fanout_ms.p999.toFixed(3)} ms ` +
      `max ${res.fanout_ms.max.toFixed(3)} ms`);
    log(`client event loop delay: p50 ${res.client_loop_delay_ms.p50.toFixed(3)} ms ` +
      `p99 ${res.client_loop_delay_ms.p99.toFixed(3)} ms; ` +
      `tincand CPU ${res.server_cpu_s} s (${res.server_cpu_us_per_msg} us per message)`);

    // 5. Leave.
    await withTimeout(Promise.all(ps.filter((p) => p.ws && p.ws.readyState === 1).map((p) =>
      new Promise((r) => {
        p.ws.once('close', r);
        p.ws.close(1000);
      }))), 30, 'close').catch(err);
  } catch (e) {
    err(e);
  } finally {
    await stopTincand(server);
  }
  res.errors = errors;
  if (firstError) res.first_error = firstError;
  if (errors && !o.json) console.log(`errors: ${errors}, first: ${firstError}`);
  console.log(JSON.stringify(res));
  const ok = !errors && res.connected === res.participants &&
    res.messages_received === res.messages_expected;
  process.exit(ok ? 0 : 1);
}

main();
