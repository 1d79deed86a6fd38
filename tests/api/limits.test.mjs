// Limits and clocks: rooms.max_rooms, idle room expiry, token expiry. Slow-ish (idle_timeout).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  IDLE_TIMEOUT, LIMITS_BASE, MAX_ROOMS, assertProblem, connect, createRoom, enter, http,
  joinRoom, signJwt, sleep,
} from './helpers.mjs';

async function refusedStatus(promise) {
  return promise.then((c) => {
    c.ws.terminate();
    return 'open';
  }, (e) => e.status);
}

// The tests of this file run in order; this one needs one of the limits instance's rooms.
test('an IPv6 turn.external_address is bracketed in the ICE URLs', async () => {
  const room = await createRoom(undefined, LIMITS_BASE);
  const j = await http('POST', `/api/rooms/${room}/join`, { body: {}, base: LIMITS_BASE });
  const res = await http('GET', '/api/ice-servers',
    { base: LIMITS_BASE, headers: { authorization: `Bearer ${j.json.token}` } });
  assert.equal(res.status, 200);
  assert.deepEqual(res.json.iceServers[0].urls, ['stun:[::1]:21050']);
  assert.deepEqual(res.json.iceServers[1].urls, ['turn:[::1]:21050?transport=udp']);
});

test('rooms.max_rooms: the next room is 503', async () => {
  let created = 0;
  for (;;) {
    const res = await http('POST', '/api/rooms', { body: {}, base: LIMITS_BASE });
    if (res.status !== 201) {
      assertProblem(res, 503);
      break;
    }
    assert.ok(++created <= MAX_ROOMS, 'more rooms than rooms.max_rooms');
  }
  const metrics = (await http('GET', '/metrics', { base: LIMITS_BASE })).text;
  assert.match(metrics, new RegExp(`^tincan_rooms ${MAX_ROOMS}$`, 'm'));
});

test('an expired token is refused by the WebSocket and /api/ice-servers', async () => {
  const room = await createRoom();
  const { participant } = await joinRoom(room);
  const now = Math.floor(Date.now() / 1000);
  const expired = signJwt({ room, sub: participant, iat: now - 7200, exp: now - 3600 });
  const valid = signJwt({ room, sub: participant, iat: now, exp: now + 600 });
  assert.equal(await refusedStatus(connect(expired)), 401);
  assertProblem(await http('GET', '/api/ice-servers',
    { headers: { authorization: `Bearer ${expired}` } }), 401);
  // The same claims, unexpired and signed with the configured key, are accepted: the
  // refusal above is the expiry.
  assert.equal((await http('GET', '/api/ice-servers',
    { headers: { authorization: `Bearer ${valid}` } })).status, 200);
  const c = await connect(valid);
  assert.equal((await c.next()).type, 'welcome');
  await c.close();
});

test('tokens with alg none or another key are refused', async () => {
  const room = await createRoom();
  const { participant } = await joinRoom(room);
  const now = Math.floor(Date.now() / 1000);
  const claims = { room, sub: participant, iat: now, exp: now + 600 };
  const none = signJwt(claims, 'x', { alg: 'none', typ: 'JWT' }).split('.').slice(0, 2).join('.') + '.';
  const otherKey = signJwt(claims, 'another-secret-of-32-bytes-000000');
  for (const t of [none, otherKey]) {
    assert.equal(await refusedStatus(connect(t)), 401);
    assertProblem(await http('GET', '/api/ice-servers', { headers: { authorization: `Bearer ${t}` } }), 401);
  }
});

test('an empty room is deleted after rooms.idle_timeout; an occupied one is kept', async () => {
  const idle = await createRoom();
  const busy = await createRoom();
  const a = await enter(busy);
  const token = (await joinRoom(idle)).token; // joining restarts the idle clock
  await sleep((IDLE_TIMEOUT + 2) * 1000);
  assertProblem(await http('GET', `/api/rooms/${idle}`), 404);
  assert.equal((await http('GET', `/api/rooms/${busy}`)).status, 200);
  // A token for a deleted room no longer opens anything.
  assert.equal(await refusedStatus(connect(token)), 404);
  assertProblem(await http('GET', '/api/ice-servers',
    { headers: { authorization: `Bearer ${token}` } }), 404);
  // The busy room's clock starts when its last peer leaves.
  await a.client.close();
  assert.equal((await http('GET', `/api/rooms/${busy}`)).status, 200);
});
