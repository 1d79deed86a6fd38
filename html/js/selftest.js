// selftest: the network self-test page (/test.html).
//
// POST /api/selftest gives a short TURN credential tied to no room and the list of ICE servers
// the server offers. For each path there is one row:
//   STUN over UDP   gathering with only the stun: URL: a server-reflexive candidate, or gathering
//                   that completes without an icecandidateerror, means the server answered.
//   TURN over UDP / TCP / TLS
//                   two relay-only RTCPeerConnections in this page, each given only that TURN URL,
//                   connect to each other through the server's relay (as Galène's relay-test
//                   does); a data channel then measures the round trip (median of 5 pings).
// A path the server does not list (today TURN over TCP and TLS) is shown as "not offered by this
// server"; the row lights up by itself once /api/selftest lists a turn:…?transport=tcp or turns: URL.

import * as api from './api.js';

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
const TIMEOUT_MS = 10_000;

const ROWS = [
  { key: 'stun-udp', label: 'STUN over UDP', match: (u) => /^stuns?:/.test(u) && !/transport=tcp/.test(u) },
  { key: 'turn-udp', label: 'TURN over UDP', match: (u) => /^turn:/.test(u) && !/transport=tcp/.test(u) },
  { key: 'turn-tcp', label: 'TURN over TCP', match: (u) => /^turn:/.test(u) && /transport=tcp/.test(u) },
  { key: 'turn-tls', label: 'TURN over TLS', match: (u) => /^turns:/.test(u) },
];

// host:port of a stun:/turn: URL (RFC 7064/7065).
function hostPort(url) {
  const m = /^(?:stuns?|turns?):(\[[^\]]+\]|[^:?]+)(?::(\d+))?/.exec(url);
  if (!m) return { host: '?', port: '?' };
  return { host: m[1], port: m[2] ?? (url.startsWith('turns:') || url.startsWith('stuns:') ? '5349' : '3478') };
}

function advice(row, url, ports) {
  const { port } = url ? hostPort(url) : { port: ports?.turn ?? '3478' };
  const relay = ports?.relay ? `UDP ports ${ports.relay} (the relay range)` : 'the relay port range (UDP)';
  switch (row.key) {
    case 'stun-udp':
      return `The server did not answer over UDP. An administrator should allow UDP port ${port} in to the server. ` +
        'If this network blocks UDP, calls can still work over TURN TCP/TLS when the server offers them.';
    case 'turn-udp':
      return `Allow UDP port ${port} and ${relay} in to the server. ` +
        'If only this network (office, hotel) blocks UDP, TURN over TCP or TLS on port 443 is the way around it.';
    case 'turn-tcp':
      return `Allow TCP port ${port} in to the server, and ${relay} for the relayed media.`;
    default:
      return `Allow TCP port ${port} in to the server (TLS). Port 443 gets through almost every firewall.`;
  }
}

function setRow(row, result, text, rtt, details) {
  const tr = document.querySelector(`tr[data-row="${row.key}"]`);
  const [name, res, time, info] = tr.children;
  name.textContent = row.label;
  res.dataset.result = result;
  res.textContent = text;
  time.textContent = rtt === null || rtt === undefined ? '—' : `${Math.round(rtt)} ms`;
  info.replaceChildren();
  for (const line of [].concat(details ?? [])) {
    const p = document.createElement('p');
    p.className = 'advice';
    p.textContent = line;
    info.append(p);
  }
  tr.dataset.result = result;
}

function buildTable() {
  $('selftest-rows').replaceChildren(...ROWS.map((row) => {
    const tr = document.createElement('tr');
    tr.dataset.row = row.key;
    tr.dataset.testid = `row-${row.key}`;
    for (const label of ['Path', 'Result', 'Round trip', 'Details']) {
      const td = document.createElement('td');
      td.dataset.label = label;
      tr.append(td);
    }
    return tr;
  }));
}

const withTimeout = (p, ms, what) => Promise.race([p,
  new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s (${what})`)), ms))]);

// STUN: gather with only @server; resolves {rtt, address} or throws.
async function testStun(server) {
  const pc = new RTCPeerConnection({ iceServers: [server] });
  const errors = [];
  let srflx = null;
  const t0 = performance.now();
  try {
    pc.addEventListener('icecandidateerror', (ev) => errors.push(`${ev.errorCode} ${ev.errorText || ''}`.trim()));
    const done = new Promise((resolve) => {
      pc.addEventListener('icecandidate', (ev) => {
        if (ev.candidate?.type === 'srflx' || / typ srflx /.test(ev.candidate?.candidate ?? '')) {
          srflx ??= { t: performance.now(), address: ev.candidate.address ?? '' };
        }
        if (!ev.candidate) resolve();
      });
    });
    pc.createDataChannel('probe');
    await pc.setLocalDescription(await pc.createOffer());
    await withTimeout(done, TIMEOUT_MS, 'STUN');
    if (srflx) return { rtt: srflx.t - t0, detail: `Your address as the server sees it: ${srflx.address || 'hidden'}.` };
    if (errors.length) throw new Error(`the browser reports: ${errors.join('; ')}`);
    return { rtt: performance.now() - t0, detail: 'The server answered; your address as it sees it is your own (no NAT in between).' };
  } finally {
    pc.close();
  }
}

// TURN: two relay-only connections through @server; resolves {rtt, detail} or throws.
async function testTurn(server) {
  const cfg = { iceServers: [server], iceTransportPolicy: 'relay' };
  const a = new RTCPeerConnection(cfg);
  const b = new RTCPeerConnection(cfg);
  const errors = [];
  try {
    for (const [from, to] of [[a, b], [b, a]]) {
      from.addEventListener('icecandidate', (ev) => { if (ev.candidate) to.addIceCandidate(ev.candidate).catch(() => {}); });
      from.addEventListener('icecandidateerror', (ev) => errors.push(`${ev.errorCode} ${ev.errorText || ''}`.trim()));
    }
    const ca = a.createDataChannel('probe', { negotiated: true, id: 0 });
    const cb = b.createDataChannel('probe', { negotiated: true, id: 0 });
    cb.addEventListener('message', (ev) => cb.send(ev.data)); // echo
    const open = new Promise((resolve) => ca.addEventListener('open', resolve, { once: true }));
    await a.setLocalDescription(await a.createOffer());
    await b.setRemoteDescription(a.localDescription);
    await b.setLocalDescription(await b.createAnswer());
    await a.setRemoteDescription(b.localDescription);
    try {
      await withTimeout(open, TIMEOUT_MS, 'relay');
    } catch (err) {
      throw new Error(errors.length ? `${err.message}; the browser reports: ${[...new Set(errors)].join('; ')}` : err.message);
    }
    const rtts = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const back = new Promise((resolve) => ca.addEventListener('message', resolve, { once: true }));
      ca.send(`ping ${i}`);
      await withTimeout(back, 3000, 'echo');
      rtts.push(performance.now() - t0);
    }
    rtts.sort((x, y) => x - y);
    const relay = await relayAddress(a);
    return { rtt: rtts[2], detail: `Data went through the relay and back${relay ? ` (relay address ${relay})` : ''}.` };
  } finally {
    a.close();
    b.close();
  }
}

async function relayAddress(pc) {
  const report = await pc.getStats();
  let addr = null;
  report.forEach((s) => {
    if (s.type === 'local-candidate' && s.candidateType === 'relay' && !addr) {
      addr = `${s.address ?? s.ip ?? '?'}:${s.port}`;
    }
  });
  return addr;
}

async function run() {
  const button = $('selftest-run');
  button.disabled = true;
  buildTable();
  for (const row of ROWS) setRow(row, 'pending', 'Waiting…', null);
  $('selftest-summary').textContent = 'Testing…';
  let res;
  try {
    res = await api.selftest();
  } catch (err) {
    const why = err.status === 429 ? 'Too many tests from your address: wait a minute and run it again.'
      : err.status === 404 ? 'The self-test is turned off on this server (http.selftest_rate = 0).'
        : `Could not reach the server: ${err.message}`;
    for (const row of ROWS) setRow(row, 'fail', 'Not tested', null, why);
    $('selftest-summary').textContent = why;
    button.disabled = false;
    return;
  }
  const results = [];
  for (const row of ROWS) {
    // One server entry per URL, so that each test uses exactly one path.
    const entries = [];
    for (const s of res.iceServers ?? []) {
      for (const url of [].concat(s.urls)) if (row.match(url)) entries.push({ ...s, urls: [url] });
    }
    if (!entries.length) {
      setRow(row, 'absent', 'Not offered by this server', null,
        row.key === 'turn-tls' ? 'TURN over TLS (port 443) is not set up on this server yet.'
          : row.key === 'turn-tcp' ? 'TURN over TCP is not set up on this server yet.'
            : 'The server lists no such address.');
      results.push('absent');
      continue;
    }
    const server = entries[0];
    const { host, port } = hostPort(server.urls[0]);
    setRow(row, 'pending', 'Testing…', null, `${host}:${port}`);
    try {
      const r = row.key === 'stun-udp' ? await testStun(server) : await testTurn(server);
      setRow(row, 'ok', 'Works', r.rtt, [`${host}:${port}. ${r.detail}`]);
      results.push('ok');
    } catch (err) {
      setRow(row, 'fail', 'Failed', null, [`${host}:${port}: ${err.message}.`, advice(row, server.urls[0], res.ports)]);
      results.push('fail');
    }
  }
  const ok = results.filter((r) => r === 'ok').length;
  const failed = results.filter((r) => r === 'fail').length;
  $('selftest-summary').textContent = failed
    ? `${failed} of ${ok + failed} offered paths failed: calls from here may not connect. The Details column says what to open.`
    : `All ${ok} offered paths work: calls from this browser can connect through this server.`;
  document.body.dataset.done = 'true';
  button.disabled = false;
}

$('selftest-run').addEventListener('click', run);
run();
