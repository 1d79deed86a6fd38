// The shared port (src/mux), against a real tincand started by tests/mux/run.sh: every kind of
// client on one TCP port, and bad clients that must not disturb the good ones.
//
//   https       GET /api/health over TLS with ALPN http/1.1 (lws terminates TLS) and without ALPN
//               (tincand terminates TLS and proxies to lws through a socketpair)
//   wss         the signaling WebSocket on both paths; its welcome lists turn: UDP, then turns: on
//               the shared port
//   redirect    plain HTTP gets 308 to https://HOST:PORT/same/path
//   stun        a STUN Binding over TCP (RFC 8656 §3.1 framing) and over TLS on the shared port
//   garbage     bytes that are none of TLS, STUN, HTTP: closed at once
//   slow        slowloris (1 byte/s, plain and TLS) and a stalled TLS handshake, while 20 HTTPS
//               requests stay fast; they are closed at mux.classify_timeout
//   cap         past mux.max_unclassified_per_ip a new connection is closed at accept
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { test } from 'node:test';
import WebSocket from 'ws';

const HOST = process.env.TINCAN_MUX_HOST ?? '127.0.0.1';
const PORT = Number(process.env.TINCAN_MUX_PORT ?? 23002);
const TLS_PORT = Number(process.env.TINCAN_TLS_PORT ?? 23003); // turn.tls_listen
const CA = readFileSync(process.env.TINCAN_MUX_CA);
const TIMEOUT = Number(process.env.TINCAN_MUX_TIMEOUT ?? 2);     // mux.classify_timeout
const PER_IP = Number(process.env.TINCAN_MUX_PER_IP ?? 8);       // mux.max_unclassified_per_ip
const TURN_STREAMS = process.env.TINCAN_TURN_STREAMS === '1';    // the relay takes TCP/TLS
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// An HTTPS request on the shared port. @alpn: ['http/1.1'] (lws's TLS) or null (no ALPN).
function get(path, { alpn = ['http/1.1'], method = 'GET', body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: HOST, port: PORT, path, method, ca: CA, servername: HOST === '127.0.0.1' ? undefined : HOST,
      agent: false, headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(alpn ? { ALPNProtocols: alpn } : {}),
    }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text,
        alpn: res.socket?.alpnProtocol }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`${path}: no answer in 5 s`)));
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

// Resolves how the server ended @sock: 'closed' (FIN or RST) after ms, or 'open' at @within ms.
function watchClose(sock, within) {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ how: 'open', ms: Date.now() - t0 }), within);
    const done = () => { clearTimeout(timer); resolve({ how: 'closed', ms: Date.now() - t0 }); };
    sock.on('close', done);
    sock.on('end', done);
    sock.on('error', () => {});
    sock.on('data', () => {});
  });
}

function connectTcp() {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: HOST, port: PORT }, () => resolve(s));
    s.once('error', reject);
  });
}

// A STUN Binding request (RFC 8489 §5): 20-byte header, no attributes.
function bindingRequest() {
  const b = Buffer.alloc(20);
  b.writeUInt16BE(0x0001, 0);
  b.writeUInt32BE(0x2112a442, 4);
  crypto.randomBytes(12).copy(b, 8);
  return b;
}

// Reads one STUN message from a stream socket (TCP or TLS). Resolves {type, tid} or rejects.
function readStun(sock, ms = 3000) {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => reject(new Error('no STUN answer in ' + ms + ' ms')), ms);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 20 && buf.length >= 20 + buf.readUInt16BE(2)) {
        clearTimeout(timer);
        resolve({ type: buf.readUInt16BE(0), tid: buf.subarray(8, 20).toString('hex') });
      }
    });
    sock.on('close', () => { clearTimeout(timer); reject(new Error('closed without a STUN answer')); });
    sock.on('error', () => {});
  });
}

// The signaling WebSocket on the shared port: resolves the welcome message.
async function welcome(alpn) {
  const room = JSON.parse((await get('/api/rooms', { method: 'POST', body: {}, alpn })).text).room;
  const join = JSON.parse((await get(`/api/rooms/${room}/join`, { method: 'POST', body: {}, alpn })).text);
  const ws = new WebSocket(`wss://${HOST}:${PORT}/api/signal?token=${encodeURIComponent(join.token)}`,
    'tincan.v1', { ca: CA, ...(alpn ? { ALPNProtocols: alpn } : {}) });
  const msg = await new Promise((resolve, reject) => {
    ws.once('message', (d) => resolve(JSON.parse(d.toString())));
    ws.once('error', reject);
    setTimeout(() => reject(new Error('no welcome in 5 s')), 5000);
  });
  ws.close(1000);
  return msg;
}

test('https: GET /api/health with ALPN http/1.1 (lws TLS) and without ALPN (proxied)', async () => {
  const a = await get('/api/health');
  assert.equal(a.status, 200, a.text);
  assert.equal(JSON.parse(a.text).status, 'ok');
  assert.equal(a.alpn, 'http/1.1');
  const b = await get('/api/health', { alpn: null });
  assert.equal(b.status, 200, b.text);
  assert.equal(JSON.parse(b.text).status, 'ok');
  assert.equal(b.alpn, false, 'no ALPN negotiated on the proxied path');
  const page = await get('/');
  assert.equal(page.status, 200);
  assert.match(page.text, /<html/i);
  assert.match(page.headers['content-security-policy'] ?? '', /default-src 'none'/);
});

test('https: /metrics from a loopback client, both paths (the real peer address is used)', async () => {
  assert.equal((await get('/metrics')).status, 200);
  const res = await get('/metrics', { alpn: null });
  assert.equal(res.status, 200);
  // The shared port's own counters: this very request came in as TLS without ALPN, proxied.
  const n = (name) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(res.text)?.[1]);
  assert.ok(n('tincan_mux_accepted_total') >= 2, res.text);
  assert.ok(n('tincan_mux_connections_total\\{route="https"\\}') >= 1, 'ALPN http/1.1 counted');
  assert.ok(n('tincan_mux_connections_total\\{route="https_proxied"\\}') >= 1, 'no-ALPN counted');
  assert.ok(n('tincan_mux_unclassified') >= 0);
});

test('wss: signaling on both paths; welcome lists turn: UDP, turns: on turn.tls_listen, then on the shared port', async () => {
  for (const alpn of [['http/1.1'], null]) {
    const w = await welcome(alpn);
    assert.equal(w.type, 'welcome');
    const urls = w.iceServers.flatMap((s) => s.urls);
    const turn = urls.filter((u) => /^turns?:/.test(u));
    assert.match(turn[0], /^turn:.*\?transport=udp$/, urls.join(' '));
    assert.equal(turn[turn.length - 2], `turns:${HOST}:${TLS_PORT}?transport=tcp`, urls.join(' '));
    assert.equal(turn[turn.length - 1], `turns:${HOST}:${PORT}?transport=tcp`, urls.join(' '));
  }
});

test('redirect: plain HTTP gets 308 to https:// with the same path', async () => {
  const res = await new Promise((resolve, reject) => {
    http.get({ host: HOST, port: PORT, path: '/api/health?x=1', agent: false }, (r) => {
      r.resume();
      r.on('end', () => resolve(r));
    }).on('error', reject);
  });
  assert.equal(res.statusCode, 308);
  assert.equal(res.headers.location, `https://${HOST}:${PORT}/api/health?x=1`);
});

test('stun: Binding over TCP and over TLS (no ALPN) on the shared port', { skip: !TURN_STREAMS && 'the relay does not take TCP/TLS streams yet (turn_server_adopt_stream)' }, async () => {
  const s = await connectTcp();
  const req = bindingRequest();
  s.write(req);
  const r = await readStun(s);
  assert.equal(r.type, 0x0101, 'Binding success response');
  assert.equal(r.tid, req.subarray(8, 20).toString('hex'));
  s.destroy();
  const t = tls.connect({ host: HOST, port: PORT, ca: CA, servername: HOST === '127.0.0.1' ? undefined : HOST });
  await new Promise((resolve, reject) => { t.once('secureConnect', resolve); t.once('error', reject); });
  const req2 = bindingRequest();
  t.write(req2);
  const r2 = await readStun(t);
  assert.equal(r2.type, 0x0101);
  assert.equal(r2.tid, req2.subarray(8, 20).toString('hex'));
  t.destroy();
});

test('garbage: neither TLS, STUN nor HTTP is closed at once', async () => {
  const s = await connectTcp();
  s.write(Buffer.from([0x00, 0xff, 0x80, 0x01, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00]));
  const r = await watchClose(s, 1000);
  assert.equal(r.how, 'closed', 'garbage was not closed within 1 s');
  // A record that claims to be TLS but is not a ClientHello.
  const t = await connectTcp();
  t.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00]));
  assert.equal((await watchClose(t, 1000)).how, 'closed');
});

// A ClientHello without ALPN as Chromium's TURN/TLS sends it, captured from node's TLS client.
async function captureClientHello() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const got = new Promise((resolve) => srv.once('connection', (c) => c.once('data', (d) => { resolve(d); c.destroy(); })));
  const cl = tls.connect({ host: '127.0.0.1', port: srv.address().port, servername: 'localhost', rejectUnauthorized: false });
  cl.on('error', () => {});
  const hello = await got;
  cl.destroy();
  srv.close();
  return hello;
}

test('slow: slowloris and a stalled handshake hold no one up; closed at classify_timeout', async () => {
  const hello = await captureClientHello();
  // Plain slowloris: an HTTP request line at 1 byte/s. TLS slowloris: a ClientHello at 1 byte/s.
  // Stalled handshake: a whole ClientHello without ALPN (tincand answers), then silence.
  const slow = [];
  const timers = [];
  for (const bytes of [Buffer.from('GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n'), hello]) {
    const s = await connectTcp();
    let i = 0;
    timers.push(setInterval(() => { if (!s.destroyed && i < bytes.length) s.write(bytes.subarray(i, ++i)); }, 1000));
    slow.push(watchClose(s, (TIMEOUT + 3) * 1000));
  }
  const stalled = await connectTcp();
  stalled.write(hello);
  slow.push(watchClose(stalled, (TIMEOUT + 3) * 1000));
  const silent = await connectTcp();
  slow.push(watchClose(silent, (TIMEOUT + 3) * 1000));

  // Meanwhile, good clients: 20 HTTPS requests, half of them without ALPN.
  const times = [];
  for (let i = 0; i < 20; i++) {
    const t0 = Date.now();
    const r = await get('/api/health', { alpn: i % 2 ? null : ['http/1.1'] });
    times.push(Date.now() - t0);
    assert.equal(r.status, 200);
  }
  const max = Math.max(...times);
  console.log(`# 20 HTTPS requests beside slowloris/stalled clients: median ${times.sort((a, b) => a - b)[10]} ms, max ${max} ms`);
  assert.ok(max < 1000, `an HTTPS request took ${max} ms`);

  const ends = await Promise.all(slow);
  timers.forEach(clearInterval);
  console.log(`# closed after: ${ends.map((e) => `${e.how} ${e.ms} ms`).join(', ')} (slowloris plain, slowloris TLS, stalled handshake, silent)`);
  for (const e of ends) {
    assert.equal(e.how, 'closed');
    assert.ok(e.ms >= TIMEOUT * 1000 - 300 && e.ms <= TIMEOUT * 1000 + 1500, `closed after ${e.ms} ms, timeout ${TIMEOUT} s`);
  }
});

test('cap: past max_unclassified_per_ip a new connection is closed at accept; others recover', async () => {
  const held = [];
  for (let i = 0; i < PER_IP; i++) held.push(await connectTcp());
  await sleep(200);
  const extra = await connectTcp();
  const r = await watchClose(extra, 1000);
  assert.equal(r.how, 'closed', 'the connection past the cap was not refused');
  assert.ok(r.ms < 500, `refused after ${r.ms} ms`);
  console.log(`# connection ${PER_IP + 1} from one address closed after ${r.ms} ms`);
  for (const s of held) s.destroy();
  await sleep(200);
  assert.equal((await get('/api/health')).status, 200);
});
