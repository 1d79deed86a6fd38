// WebSocket keepalive (src/http/ws.c): the server pings a socket that sent nothing for 30 s and
// drops one silent for 60 s, so a vanished peer turns into peer-left in about a minute. The
// sweep runs every second; the windows below leave room for a loaded machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRoom, enter } from './helpers.mjs';

test('an idle socket is pinged and kept while it answers; one that never answers is dropped',
  { timeout: 120000 }, async () => {
    const room = await createRoom();
    const a = await enter(room);
    // b's client does not answer pings: to the server it is a peer that vanished.
    const b = await enter(room, undefined, { autoPong: false });
    assert.deepEqual(await a.client.next(), { type: 'peer-joined', id: b.participant });
    const t0 = Date.now();
    const pings = { a: [], b: [] };
    a.client.ws.on('ping', () => pings.a.push(Date.now() - t0));
    b.client.ws.on('ping', () => pings.b.push(Date.now() - t0));

    const closed = await Promise.race([
      b.client.closed,
      new Promise((r) => setTimeout(() => r(null), 80000)),
    ]);
    const dropAt = Date.now() - t0;
    assert.ok(closed, `b still open after ${dropAt} ms`);
    // Cut, not closed: a close frame could wait forever behind a dead TCP window.
    assert.equal(closed.code, 1006);
    assert.ok(dropAt >= 59000 && dropAt <= 72000, `b dropped after ${dropAt} ms`);
    assert.ok(pings.b.length >= 1 && pings.b[0] >= 29000 && pings.b[0] <= 41000,
      `b's pings at ${pings.b} ms`);

    // a answered its pings: it is still there and hears that b left (reconnect_grace 1 s).
    assert.ok(pings.a.length >= 1 && pings.a[0] >= 29000 && pings.a[0] <= 41000,
      `a's pings at ${pings.a} ms`);
    assert.equal(a.client.ws.readyState, a.client.ws.OPEN);
    assert.deepEqual(await a.client.next(5000), { type: 'peer-left', id: b.participant });
    a.client.send({ type: 'ping' });
    assert.deepEqual(await a.client.next(), { type: 'pong' });
    await a.client.close();
  });
