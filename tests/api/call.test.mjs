// What the call page builds on: room capacity, display names, resuming a dropped WebSocket
// within rooms.reconnect_grace, token refresh, GET /api/info and self-test credentials.
// Runs against the "call" instance of run.sh: capacity 4, reconnect_grace 2 s, selftest_rate 3.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import WebSocket from 'ws';
import {
  Client, SUBPROTOCOL, TURN_HOST, TURN_SECRET, assertProblem, decodeJwt, http, sleep,
} from './helpers.mjs';

const BASE = process.env.TINCAN_CALL_URL ?? 'http://127.0.0.1:17001';
const WS = BASE.replace(/^http/, 'ws');
const GRACE_MS = 2000;
const TURN_PORT = 17000;

async function createRoom(body = {}) {
  const res = await http('POST', '/api/rooms', { body, base: BASE });
  assert.equal(res.status, 201, res.text);
  return res.json;
}

async function joinRoom(room, body = {}) {
  const res = await http('POST', `/api/rooms/${room}/join`, { body, base: BASE });
  assert.equal(res.status, 200, res.text);
  return res.json;
}

function connect(token) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${WS}/api/signal?token=${encodeURIComponent(token)}`, SUBPROTOCOL);
    const client = new Client(ws);
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (req, res) => {
      ws.terminate();
      reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode }));
    });
    ws.once('error', reject);
  });
}

async function enter(room, body = {}) {
  const j = await joinRoom(room, body);
  const client = await connect(j.token);
  const welcome = await client.next();
  assert.equal(welcome.type, 'welcome');
  return { client, welcome, participant: j.participant, token: j.token };
}

test('GET /api/info tells the most participants a room may have and the reconnect grace', async () => {
  const res = await http('GET', '/api/info', { base: BASE });
  assert.equal(res.status, 200);
  assert.equal(res.json.max_capacity, 4);
  assert.equal(res.json.reconnect_grace, 2);
  assert.equal(res.json.name_max, 64);
  assert.equal(res.json.selftest, true);
  assert.match(res.json.version, /^\d+\.\d+\.\d+/);
});

test('POST /api/rooms takes a capacity from 2 to rooms.capacity; the default is rooms.capacity', async () => {
  const def = await createRoom();
  assert.equal(def.capacity, 4);
  assert.equal((await http('GET', `/api/rooms/${def.room}`, { base: BASE })).json.capacity, 4);
  const two = await createRoom({ capacity: 2 });
  assert.equal(two.capacity, 2);
  assert.equal((await http('GET', `/api/rooms/${two.room}`, { base: BASE })).json.capacity, 2);
  for (const capacity of [1, 5, 0, 2.5, '3', true]) {
    assertProblem(await http('POST', '/api/rooms', { body: { capacity }, base: BASE }), 400);
  }
  // The room of two is full with two.
  const a = await enter(two.room);
  const b = await enter(two.room);
  assertProblem(await http('POST', `/api/rooms/${two.room}/join`, { body: {}, base: BASE }), 409);
  assert.equal(a.welcome.capacity, 2);
  await a.client.close();
  await b.client.close();
});

test('names: in the token, in welcome.names and peer-joined; too long or control characters are 400', async () => {
  const { room } = await createRoom();
  const a = await enter(room, { name: 'Ann <script>' });
  assert.equal(decodeJwt(a.token).payload.name, 'Ann <script>');
  const b = await enter(room, { name: 'Zoë 😀' });
  assert.deepEqual(b.welcome.names, { [a.participant]: 'Ann <script>' });
  assert.deepEqual(await a.client.next(), { type: 'peer-joined', id: b.participant, name: 'Zoë 😀' });
  const c = await enter(room); // no name
  assert.deepEqual(await a.client.next(), { type: 'peer-joined', id: c.participant });
  assert.equal(Object.keys(c.welcome.names).length, 2);
  assertProblem(await http('POST', `/api/rooms/${room}/join`,
    { body: { name: 'x'.repeat(65) }, base: BASE }), 400);
  assertProblem(await http('POST', `/api/rooms/${room}/join`,
    { body: { name: 'bell\u0007' }, base: BASE }), 400);
  assertProblem(await http('POST', `/api/rooms/${room}/join`,
    { body: { name: 42 }, base: BASE }), 400);
  // 64 bytes of UTF-8 is the limit, not 64 characters.
  assert.equal((await http('POST', `/api/rooms/${room}/join`,
    { body: { name: 'é'.repeat(32) }, base: BASE })).status, 200);
  assertProblem(await http('POST', `/api/rooms/${room}/join`,
    { body: { name: 'é'.repeat(33) }, base: BASE }), 400);
  for (const p of [a, b, c]) await p.client.close();
});

test('a dropped socket resumes within the grace: no peer-left, no peer-joined, kept signals arrive', async () => {
  const { room } = await createRoom();
  const a = await enter(room);
  const b = await enter(room);
  assert.equal((await a.client.next()).type, 'peer-joined');
  b.client.ws.terminate(); // no close frame: the network dropped
  await sleep(300);
  a.client.send({ type: 'signal', to: b.participant, data: { kept: 1 } });
  assert.ok(await a.client.quiet(500)); // no error, no peer-left
  // The seat is held: GET counts it.
  assert.equal((await http('GET', `/api/rooms/${room}`, { base: BASE })).json.participants, 2);
  const b2 = await connect(b.welcome.token); // the fresh token from welcome
  const w = await b2.next();
  assert.equal(w.type, 'welcome');
  assert.equal(w.resumed, true);
  assert.equal(w.id, b.participant);
  assert.deepEqual(w.peers, [a.participant]);
  assert.deepEqual(await b2.next(), { type: 'signal', from: a.participant, data: { kept: 1 } });
  assert.ok(await a.client.quiet(300));
  await b2.close(); // 1000: leaves at once
  assert.deepEqual(await a.client.next(), { type: 'peer-left', id: b.participant });
  await a.client.close();
});

test('after the grace a dropped participant has left: peer-left, and joining again is new', async () => {
  const { room } = await createRoom();
  const a = await enter(room);
  const b = await enter(room);
  await a.client.next();
  const t0 = Date.now();
  b.client.ws.terminate();
  const left = await a.client.next(GRACE_MS + 3000);
  const waited = Date.now() - t0;
  assert.deepEqual(left, { type: 'peer-left', id: b.participant });
  assert.ok(waited >= GRACE_MS - 1000, `peer-left after ${waited} ms, grace is ${GRACE_MS} ms`);
  const b2 = await connect(b.token);
  const w = await b2.next();
  assert.equal(w.resumed, false);
  assert.deepEqual(await a.client.next(), { type: 'peer-joined', id: b.participant });
  await b2.close();
  await a.client.close();
});

test('refresh answers with a new token for the same participant and name', async () => {
  const { room } = await createRoom();
  const a = await enter(room, { name: 'Ann' });
  a.client.send({ type: 'refresh' });
  const t = await a.client.next();
  assert.equal(t.type, 'token');
  assert.equal(typeof t.expires_in, 'number');
  const claims = decodeJwt(t.token).payload;
  assert.equal(claims.sub, a.participant);
  assert.equal(claims.room, room);
  assert.equal(claims.name, 'Ann');
  await a.client.close();
});

test('POST /api/selftest: a short TURN credential tied to no room, rate-limited per address', async () => {
  const res = await http('POST', '/api/selftest', { base: BASE });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.json.ttl, 300);
  assert.deepEqual(res.json.ports, { turn: TURN_PORT, relay: `${TURN_PORT + 100}-${TURN_PORT + 599}` });
  const [stun, turn] = res.json.iceServers;
  assert.deepEqual(stun.urls, [`stun:${TURN_HOST}:${TURN_PORT}`]);
  assert.deepEqual(turn.urls, [`turn:${TURN_HOST}:${TURN_PORT}?transport=udp`]);
  const [expiry, who] = turn.username.split(':');
  const ttl = Number(expiry) - Math.floor(Date.now() / 1000);
  assert.ok(ttl > 290 && ttl <= 300, `expires in ${ttl} s`);
  assert.match(who, /^[A-Za-z0-9_-]{22}$/);
  assert.equal(turn.credential,
    crypto.createHmac('sha1', TURN_SECRET).update(turn.username).digest('base64'));
  // selftest_rate = 3 per minute: two more, then 429 with Retry-After.
  for (let i = 0; i < 2; i++) {
    assert.equal((await http('POST', '/api/selftest', { base: BASE })).status, 200);
  }
  const limited = await http('POST', '/api/selftest', { base: BASE });
  assertProblem(limited, 429);
  assert.equal(limited.headers.get('retry-after'), '60');
  assertProblem(await http('GET', '/api/selftest', { base: BASE }), 405);
});
