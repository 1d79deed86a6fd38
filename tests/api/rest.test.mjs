// REST API: every route of docs/api.md and its errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import {
  BASE, CAPACITY, ID_RE, TURN_HOST, TURN_PORT, TURN_SECRET, assertProblem, createRoom, decodeJwt,
  enter, http, joinRoom,
} from './helpers.mjs';

// Sends raw bytes over one TCP connection and resolves everything the server sent back
// until it closes or @idleMs pass without data.
function rawHttp(request, idleMs = 500) {
  const url = new URL(BASE);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(url.port), url.hostname);
    let out = '';
    let timer;
    const finish = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(out);
    };
    sock.on('data', (d) => {
      out += d;
      clearTimeout(timer);
      timer = setTimeout(finish, idleMs);
    });
    sock.on('close', finish);
    sock.on('error', reject);
    sock.write(request);
    timer = setTimeout(finish, idleMs * 4);
  });
}

test('GET /api/health answers ok and the version', async () => {
  const res = await http('GET', '/api/health');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^application\/json/);
  assert.equal(res.json.status, 'ok');
  assert.match(res.json.version, /^\d+\.\d+\.\d+/);
  assert.equal(res.headers.get('cache-control'), 'no-store');
});

test('HEAD /api/health has the headers and no body', async () => {
  const res = await http('HEAD', '/api/health');
  assert.equal(res.status, 200);
  assert.equal(res.text, '');
  assert.ok(Number(res.headers.get('content-length')) > 0);
});

test('POST /api/rooms creates a room with a 128-bit base64url id', async () => {
  const res = await http('POST', '/api/rooms', { body: {} });
  assert.equal(res.status, 201);
  assert.match(res.json.room, ID_RE);
  assert.equal(res.json.url, `/?room=${res.json.room}`);
  assert.equal(res.headers.get('location'), `/api/rooms/${res.json.room}`);
  const ids = new Set();
  for (let i = 0; i < 20; i++) ids.add(await createRoom());
  assert.equal(ids.size, 20);
});

test('POST /api/rooms takes an empty body, or none, as {}', async () => {
  let res = await http('POST', '/api/rooms', { body: '' });
  assert.equal(res.status, 201);
  // No Content-Length at all (curl -X POST): answered, and the connection closed.
  const raw = await rawHttp('POST /api/rooms HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.match(raw, /^HTTP\/1\.1 201/);
  res = await http('POST', '/api/rooms', { body: { password: null } });
  assert.equal(res.status, 201);
  const info = await http('GET', `/api/rooms/${res.json.room}`);
  assert.equal(info.json.password, false);
});

test('GET /api/rooms/<id> describes a room', async () => {
  const open = await createRoom();
  let res = await http('GET', `/api/rooms/${open}`);
  assert.equal(res.status, 200);
  assert.deepEqual(res.json, { room: open, password: false, participants: 0, capacity: CAPACITY });

  const locked = await createRoom('hunter2');
  res = await http('GET', `/api/rooms/${locked}`);
  assert.equal(res.json.password, true);

  const a = await enter(open);
  res = await http('GET', `/api/rooms/${open}`);
  assert.equal(res.json.participants, 1);
  await a.client.close();
});

test('GET /api/rooms/<unknown or malformed id> is 404', async () => {
  assertProblem(await http('GET', '/api/rooms/AAAAAAAAAAAAAAAAAAAAAA'), 404);
  assertProblem(await http('GET', '/api/rooms/short'), 404);
  assertProblem(await http('GET', '/api/rooms/AAAAAAAAAAAAAAAAAAAA%2BA'), 404);
  assertProblem(await http('GET', '/api/rooms/'), 404);
  assertProblem(await http('GET', '/api/rooms/AAAAAAAAAAAAAAAAAAAAAA/other'), 404);
});

test('POST /api/rooms/<id>/join mints an HS256 token for a fresh participant', async () => {
  const room = await createRoom();
  const res = await http('POST', `/api/rooms/${room}/join`, { body: {} });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.match(res.json.participant, ID_RE);
  assert.equal(typeof res.json.expires_in, 'number');
  assert.ok(res.json.expires_in >= 60);
  const { header, payload } = decodeJwt(res.json.token);
  assert.equal(header.alg, 'HS256');
  assert.equal(payload.room, room);
  assert.equal(payload.sub, res.json.participant);
  assert.equal(payload.exp - payload.iat, res.json.expires_in);
  assert.ok(Math.abs(payload.iat - Date.now() / 1000) < 5);

  const again = await joinRoom(room);
  assert.notEqual(again.participant, res.json.participant);
});

test('joining a room with a password: right 200, wrong or missing 401', async () => {
  const room = await createRoom('correct horse');
  assert.equal((await http('POST', `/api/rooms/${room}/join`,
    { body: { password: 'correct horse' } })).status, 200);
  assertProblem(await http('POST', `/api/rooms/${room}/join`,
    { body: { password: 'correct hors' } }), 401);
  assertProblem(await http('POST', `/api/rooms/${room}/join`, { body: {} }), 401);
  assertProblem(await http('POST', `/api/rooms/${room}/join`, { body: { password: '' } }), 401);
  // A room without a password ignores one.
  const open = await createRoom();
  assert.equal((await http('POST', `/api/rooms/${open}/join`,
    { body: { password: 'anything' } })).status, 200);
});

test('joining an unknown room is 404', async () => {
  assertProblem(await http('POST', '/api/rooms/AAAAAAAAAAAAAAAAAAAAAA/join', { body: {} }), 404);
  assertProblem(await http('POST', '/api/rooms/nope/join', { body: {} }), 404);
});

test('joining a full room is 409', async () => {
  const room = await createRoom();
  const peers = [];
  for (let i = 0; i < CAPACITY; i++) peers.push(await enter(room));
  assertProblem(await http('POST', `/api/rooms/${room}/join`, { body: {} }), 409);
  await peers[0].client.close();
  // A seat is free again once a socket has closed.
  for (let i = 0; i < 20; i++) {
    const res = await http('POST', `/api/rooms/${room}/join`, { body: {} });
    if (res.status === 200) break;
    assert.equal(res.status, 409);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal((await http('POST', `/api/rooms/${room}/join`, { body: {} })).status, 200);
  for (const p of peers.slice(1)) await p.client.close();
});

test('bad bodies are 400: not JSON, not an object, wrong types, NUL', async () => {
  const room = await createRoom();
  for (const path of ['/api/rooms', `/api/rooms/${room}/join`]) {
    assertProblem(await http('POST', path, { body: '{"password":' }), 400);
    assertProblem(await http('POST', path, { body: '[]' }), 400);
    assertProblem(await http('POST', path, { body: '"x"' }), 400);
    assertProblem(await http('POST', path, { body: { password: 42 } }), 400);
    assertProblem(await http('POST', path, { body: { password: ['x'] } }), 400);
    assertProblem(await http('POST', path, { body: '{"password":"a","password":"b"}' }), 400);
    assertProblem(await http('POST', path, { body: '{"password":"a\\u0000b"}' }), 400);
  }
  assertProblem(await http('POST', '/api/rooms', { body: { password: 'x'.repeat(257) } }), 400);
  assert.equal((await http('POST', '/api/rooms', { body: { password: 'x'.repeat(256) } })).status,
    201);
});

test('a body over 8 KiB is 413, and the connection still answers', async () => {
  const big = JSON.stringify({ password: 'x', pad: 'y'.repeat(9000) });
  assertProblem(await http('POST', '/api/rooms', { body: big }), 413);
  assertProblem(await http('POST', '/api/rooms', { body: 'z'.repeat(8193) }), 413);
  assert.equal((await http('POST', '/api/rooms', { body: ' '.repeat(8000) + '{}' })).status, 201);
  // Far too large: refused from the headers, the connection closed.
  const raw = await rawHttp('POST /api/rooms HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n');
  assert.match(raw, /^HTTP\/1\.1 413/);
  // Keep-alive after a drained 413: a second request on the same connection is answered.
  const body = 'q'.repeat(9000);
  const two = await rawHttp(`POST /api/rooms HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`
    + 'GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.match(two, /^HTTP\/1\.1 413/);
  assert.match(two, /HTTP\/1\.1 200 OK[\s\S]*"status":"ok"/);
});

test('chunked request bodies are 411', async () => {
  const raw = await rawHttp('POST /api/rooms HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n');
  assert.match(raw, /^HTTP\/1\.1 411/);
});

test('unknown /api paths are 404 problems', async () => {
  for (const path of ['/api', '/api/', '/api/nope', '/api/rooms/x/y/z', '/api/health/x', '/metrics/x']) {
    assertProblem(await http('GET', path), 404);
  }
  assertProblem(await http('POST', '/api/nope', { body: {} }), 404);
});

test('wrong methods are 405 with Allow', async () => {
  const room = await createRoom();
  const cases = [
    ['GET', '/api/rooms', 'POST'],
    ['DELETE', '/api/rooms', 'POST'],
    ['PUT', '/api/rooms', 'POST'],
    ['POST', '/api/health', 'GET, HEAD'],
    ['DELETE', `/api/rooms/${room}`, 'GET, HEAD'],
    ['GET', `/api/rooms/${room}/join`, 'POST'],
    ['POST', '/api/ice-servers', 'GET, HEAD'],
    ['POST', '/metrics', 'GET, HEAD'],
  ];
  for (const [method, path, allow] of cases) {
    const body = method === 'POST' || method === 'PUT' ? {} : undefined;
    const res = await http(method, path, { body });
    assertProblem(res, 405);
    assert.equal(res.headers.get('allow'), allow, `${method} ${path}`);
  }
});

test('GET /api/signal without an upgrade is 426', async () => {
  const res = await http('GET', '/api/signal');
  assertProblem(res, 426);
  assert.equal(res.headers.get('upgrade'), 'websocket');
});

test('GET /api/ice-servers gives STUN and TURN with a REST credential that verifies', async () => {
  const room = await createRoom();
  const j = await joinRoom(room);
  const res = await http('GET', '/api/ice-servers', { headers: { authorization: `Bearer ${j.token}` } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  const { iceServers, ttl } = res.json;
  assert.equal(typeof ttl, 'number');
  assert.deepEqual(iceServers[0], { urls: [`stun:${TURN_HOST}:${TURN_PORT}`] });
  const turn = iceServers[1];
  assert.deepEqual(turn.urls, [`turn:${TURN_HOST}:${TURN_PORT}?transport=udp`]);
  const [expiry, who] = turn.username.split(':');
  assert.equal(who, j.participant);
  assert.ok(Math.abs(Number(expiry) - (Date.now() / 1000 + ttl)) < 5);
  const expected = crypto.createHmac('sha1', TURN_SECRET).update(turn.username).digest('base64');
  assert.equal(turn.credential, expected);
  // The scheme is case-insensitive.
  assert.equal((await http('GET', '/api/ice-servers',
    { headers: { authorization: `bearer ${j.token}` } })).status, 200);
});

test('GET /api/ice-servers without a valid token is 401 with a Bearer challenge', async () => {
  let res = await http('GET', '/api/ice-servers');
  assertProblem(res, 401);
  assert.match(res.headers.get('www-authenticate'), /^Bearer/);
  const j = await joinRoom(await createRoom());
  const tampered = j.token.slice(0, -3) + (j.token.endsWith('AAA') ? 'BBB' : 'AAA');
  for (const auth of ['Bearer', 'Bearer ', 'Bearer nonsense', `Basic ${j.token}`,
    `Bearer ${tampered}`, j.token]) {
    res = await http('GET', '/api/ice-servers', { headers: { authorization: auth } });
    assertProblem(res, 401);
    assert.match(res.headers.get('www-authenticate'), /^Bearer/);
  }
});

test('GET /metrics from loopback is Prometheus text that parses', async () => {
  assert.equal((await http('GET', '/api/health')).status, 200);
  assert.equal((await http('GET', '/api/nope')).status, 404);
  const res = await http('GET', '/metrics');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const samples = new Map();
  const typed = new Set();
  for (const line of res.text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      assert.ok(['counter', 'gauge'].includes(type), line);
      typed.add(name);
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*)?\})? (\d+(\.\d+)?)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    assert.ok(typed.has(m[1]), `no # TYPE before ${m[1]}`);
    samples.set(m[1] + (m[2] ?? ''), Number(m[5]));
  }
  for (const name of ['tincan_turn_allocations', 'tincan_turn_allocations_total',
    'tincan_turn_permissions', 'tincan_turn_channels', 'tincan_turn_stale_nonces_total',
    'tincan_turn_malformed_total', 'tincan_turn_port_exhausted_total',
    'tincan_turn_unauth_dropped_total', 'tincan_turn_peer_denied_total',
    'tincan_turn_quota_exceeded_total', 'tincan_turn_capacity_exceeded_total',
    'tincan_turn_bandwidth_dropped_total', 'tincan_turn_reservations', 'tincan_turn_streams',
    'tincan_turn_streams_total', 'tincan_turn_streams_refused_total',
    'tincan_turn_stream_dropped_total', 'tincan_turn_hairpinned_total',
    'tincan_turn_coalesce_waits_total', 'tincan_turn_handoffs_total',
    'tincan_turn_handoff_full_total', 'tincan_rooms',
    'tincan_participants', 'tincan_ws_connections']) {
    assert.ok(samples.has(name), name);
  }
  for (const reason of ['unknown_user', 'expired', 'revoked', 'bad_integrity']) {
    assert.ok(samples.has(`tincan_turn_auth_failures_total{reason="${reason}"}`), reason);
  }
  // HTTP responses by status: the health check and the unknown route above at least.
  assert.ok(samples.get('tincan_http_requests_total{code="200"}') >= 1);
  assert.ok(samples.get('tincan_http_requests_total{code="404"}') >= 1);
  for (const k of samples.keys()) {
    if (k.startsWith('tincan_http_requests_total')) assert.match(k, /\{code="[1-5]\d\d"\}$/);
  }
  for (const dir of ['to_peer', 'to_client']) {
    assert.ok(samples.has(`tincan_turn_relayed_packets_total{direction="${dir}"}`));
    assert.ok(samples.has(`tincan_turn_relayed_bytes_total{direction="${dir}"}`));
  }
  assert.ok([...samples.keys()].some((k) => /^tincan_build_info\{version="[^"]+"\}$/.test(k)));
  assert.ok(samples.get('tincan_rooms') >= 0);
});

test('/metrics counts rooms and participants', async () => {
  const read = async (name) => {
    const text = (await http('GET', '/metrics')).text;
    return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)[1]);
  };
  const room = await createRoom();
  assert.ok((await read('tincan_rooms')) >= 1);
  const ws = await read('tincan_ws_connections');
  const a = await enter(room);
  assert.ok((await read('tincan_participants')) >= 1);
  assert.equal(await read('tincan_ws_connections'), ws + 1);
  await a.client.close();
});

test('static files: the UI with its types, CSP and no caching', async () => {
  let res = await http('GET', '/');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/html/);
  assert.match(res.text, /<!doctype html>/i);
  const csp = res.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /media-src [^;]*blob:/);
  assert.match(csp, /media-src [^;]*mediastream:/);
  assert.match(res.headers.get('cache-control'), /no-store|no-cache/);
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');

  res = await http('GET', '/?room=AAAAAAAAAAAAAAAAAAAAAA');
  assert.equal(res.status, 200);
  res = await http('GET', '/js/main.js');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/javascript/);
  assert.match(res.headers.get('cache-control'), /no-store|no-cache/);
  res = await http('GET', '/css/tincan.css');
  assert.match(res.headers.get('content-type'), /^text\/css/);
  res = await http('GET', '/favicon.svg');
  assert.match(res.headers.get('content-type'), /^image\/svg\+xml/);
  assert.equal((await http('GET', '/no-such-file.html')).status, 404);
  const raw = await rawHttp('GET /../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.doesNotMatch(raw, /root:/);
});
