// Room-bound TURN credentials (issue 3): credentials minted for a participant stop working, and
// the participant's allocations are deleted, as soon as the participant is gone for good, even
// though the credentials have not expired.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BASE, TURN_HOST, TURN_PORT, connect, createRoom, http, joinRoom } from './helpers.mjs';
import { TurnClient } from './stun.mjs';

// The TURN credential of @iceServers (the turn: entry).
function turnCredential(iceServers) {
  const s = iceServers.find((x) => x.urls.some((u) => u.startsWith('turn:')));
  assert.ok(s, 'welcome lists a turn: server');
  return s;
}

// The 401s refused for a revoked credential so far (tincan_turn_auth_failures_total{reason}).
async function revokedRefusals() {
  const res = await http('GET', '/metrics');
  const m = res.text.match(/^tincan_turn_auth_failures_total\{reason="revoked"\} (\d+)$/m);
  assert.ok(m, 'auth failures by reason in /metrics');
  return Number(m[1]);
}

async function allocationsNow() {
  const res = await http('GET', '/metrics');
  const m = res.text.match(/^tincan_turn_allocations (\d+)$/m);
  assert.ok(m, 'tincan_turn_allocations in /metrics');
  return Number(m[1]);
}

// Pins: allocate with a participant's minted credential; the participant leaves (WS closed with
// 1000, an explicit leave: no reconnect grace); within 1 s the allocation is gone (/metrics) and
// the same, unexpired credential is refused (401) for a Refresh and for a new Allocate.
test('leaving revokes the participant\'s TURN credentials and deletes its allocations', async () => {
  const room = await createRoom();
  const { token } = await joinRoom(room);
  const ws = await connect(token);
  const welcome = await ws.next();
  assert.equal(welcome.type, 'welcome');
  const cred = turnCredential(welcome.iceServers);
  const expiry = Number(cred.username.split(':')[0]);
  assert.ok(expiry > Date.now() / 1000 + 60, 'the credential is far from expiry');

  const before = await allocationsNow();
  const a = new TurnClient(TURN_HOST, TURN_PORT, cred.username, cred.credential);
  const b = new TurnClient(TURN_HOST, TURN_PORT, cred.username, cred.credential);
  try {
    const r = await a.allocate();
    assert.equal(r.cls, 'success', `Allocate: error ${r.error}`);
    assert.ok(r.relayed, 'XOR-RELAYED-ADDRESS');
    assert.equal((await a.refresh()).cls, 'success', 'Refresh works while the participant is in');
    assert.equal(await allocationsNow(), before + 1);

    await ws.close();
    const left = Date.now();
    let now;
    do {
      await new Promise((res) => setTimeout(res, 50));
      now = await allocationsNow();
    } while (now !== before && Date.now() - left < 1000);
    const ms = Date.now() - left;
    assert.equal(now, before, `the allocation is still counted ${ms} ms after leaving`);
    assert.ok(ms <= 1000, `gone after ${ms} ms`);

    // Authentication comes before the allocation lookup, so the revoked credential is what the
    // Refresh is refused for (401), rather than the missing allocation (437).
    const refusedBefore = await revokedRefusals();
    const refreshed = await a.refresh();
    assert.equal(refreshed.cls, 'error', 'Refresh after leaving is refused');
    assert.equal(refreshed.error, 401);

    const again = await b.allocate();
    assert.equal(again.cls, 'error', 'a new Allocate with the revoked credential is refused');
    assert.equal(again.error, 401);
    assert.equal(await revokedRefusals(), refusedBefore + 2, 'both refusals counted as revoked');
  } finally {
    a.close();
    b.close();
  }
});

// Pins: a participant who joins again gets a new credential that works (revocation is per
// minted credential, not a ban of the person).
test('a participant who joins again gets working TURN credentials', async () => {
  const room = await createRoom();
  const first = await joinRoom(room);
  const ws1 = await connect(first.token);
  await ws1.next();
  await ws1.close();
  const second = await joinRoom(room);
  const ws2 = await connect(second.token);
  const welcome = await ws2.next();
  const cred = turnCredential(welcome.iceServers);
  const c = new TurnClient(TURN_HOST, TURN_PORT, cred.username, cred.credential);
  try {
    const r = await c.allocate();
    assert.equal(r.cls, 'success', `Allocate: error ${r.error}`);
    await c.refresh(0);
  } finally {
    c.close();
    await ws2.close();
  }
});
