// The signaling WebSocket /api/signal (subprotocol tincan.v1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import {
  BASE, ID_RE, SUBPROTOCOL, TURN_HOST, TURN_PORT, TURN_SECRET, connect, createRoom, enter, http,
  joinRoom, sleep,
} from './helpers.mjs';

// Expects connect() to be refused with HTTP @status.
async function refused(promise, status) {
  const err = await promise.then(
    (c) => {
      c.ws.terminate();
      assert.fail(`upgrade accepted, wanted ${status}`);
    },
    (e) => e,
  );
  assert.equal(err.status, status, err.message);
  return err;
}

test('two peers: welcome, peer-joined, signal both ways, peer-left', async () => {
  const room = await createRoom();
  const a = await enter(room);
  assert.equal(a.welcome.id, a.participant);
  assert.deepEqual(a.welcome.peers, []);
  assert.equal(a.welcome.iceServers.length, 2);

  const b = await enter(room);
  assert.equal(b.welcome.id, b.participant);
  assert.deepEqual(b.welcome.peers, [a.participant]);
  assert.deepEqual(Object.keys(b.welcome).sort(), ['capacity', 'expires_in', 'iceServers', 'id',
    'names', 'peers', 'resumed', 'token', 'type']);
  assert.equal(b.welcome.resumed, false);
  assert.deepEqual(b.welcome.names, {});
  assert.deepEqual(await a.client.next(), { type: 'peer-joined', id: b.participant });

  // The newcomer offers to the peers listed in its welcome.
  const offer = { description: { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\n' },
    extra: [1, 2.5, null, true, { deep: 'é✓' }] };
  b.client.send({ type: 'signal', to: a.participant, data: offer });
  assert.deepEqual(await a.client.next(), { type: 'signal', from: b.participant, data: offer });
  a.client.send({ type: 'signal', to: b.participant, data: { candidate: 'c' } });
  assert.deepEqual(await b.client.next(), { type: 'signal', from: a.participant,
    data: { candidate: 'c' } });
  // "from" is the sender's real id whatever it claims.
  b.client.send({ type: 'signal', to: a.participant, from: 'mallory', data: {} });
  assert.equal((await a.client.next()).from, b.participant);
  assert.ok(await b.client.quiet());

  await b.client.close();
  assert.deepEqual(await a.client.next(), { type: 'peer-left', id: b.participant });
  await a.client.close();
});

test('welcome carries the same iceServers as GET /api/ice-servers, credential verifying', async () => {
  const room = await createRoom();
  const a = await enter(room);
  const [stun, turn] = a.welcome.iceServers;
  assert.deepEqual(stun, { urls: [`stun:${TURN_HOST}:${TURN_PORT}`] });
  assert.deepEqual(turn.urls, [`turn:${TURN_HOST}:${TURN_PORT}?transport=udp`]);
  assert.equal(turn.username.split(':')[1], a.participant);
  assert.equal(turn.credential,
    crypto.createHmac('sha1', TURN_SECRET).update(turn.username).digest('base64'));
  await a.client.close();
});

test('the negotiated subprotocol is tincan.v1; without it the upgrade is 400', async () => {
  const room = await createRoom();
  const j = await joinRoom(room);
  await refused(connect(j.token, { protocols: null }), 400);
  await refused(connect(j.token, { protocols: 'other.v2' }), 400);
  const c = await connect(j.token, { protocols: ['other.v2', SUBPROTOCOL] });
  assert.equal(c.ws.protocol, SUBPROTOCOL);
  await c.close();
});

test('a third socket in a room of two is refused with 409', async () => {
  const room = await createRoom();
  const a = await enter(room);
  // Two tokens minted while the room was not full yet: only one can take the seat.
  const j2 = await joinRoom(room);
  const j3 = await joinRoom(room);
  const b = await connect(j2.token);
  assert.equal((await b.next()).type, 'welcome');
  const err = await refused(connect(j3.token), 409);
  assert.equal(err.json.status, 409);
  assert.match(err.headers['content-type'], /^application\/problem\+json/);
  // The refused one left no trace.
  assert.equal((await a.client.next()).type, 'peer-joined');
  assert.ok(await a.client.quiet());
  assert.equal((await http('GET', `/api/rooms/${room}`)).json.participants, 2);
  await a.client.close();
  await b.close();
});

test('the same participant connecting again takes over: the old socket gets replaced, 4001', async () => {
  const room = await createRoom();
  const a = await enter(room);
  const b = await enter(room);
  assert.equal((await a.client.next()).type, 'peer-joined');
  const b2 = await connect(b.token);
  const w = await b2.next();
  assert.equal(w.type, 'welcome');
  assert.equal(w.resumed, true);
  assert.deepEqual(w.peers, [a.participant]);
  assert.deepEqual(await b.client.next(), { type: 'replaced' });
  const closed = await b.client.closed;
  assert.equal(closed.code, 4001);
  // a is told nothing: the participant never left.
  assert.ok(await a.client.quiet(300));
  a.client.send({ type: 'signal', to: b.participant, data: { via: 'b2' } });
  assert.deepEqual((await b2.next()).data, { via: 'b2' });
  await b2.close();
  assert.deepEqual(await a.client.next(), { type: 'peer-left', id: b.participant });
  await a.client.close();
});

test('a bad, tampered or missing token is refused with HTTP 401', async () => {
  const room = await createRoom();
  const j = await joinRoom(room);
  const [h, p, s] = j.token.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
  claims.room = await createRoom();
  const tampered = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
  for (const token of ['garbage', '', 'a.b.c', tampered, `${h}.${p}.`]) {
    const err = await refused(connect(token), 401);
    assert.equal(err.json.status, 401);
    assert.equal(err.json.type, 'about:blank');
  }
  await refused(connect(null, { query: '' }), 401);
  await refused(connect(null, { query: 'tok=x' }), 401);
  // The token itself is still good.
  const c = await connect(j.token);
  assert.equal((await c.next()).type, 'welcome');
  await c.close();
});

test('WebSockets elsewhere than /api/signal are 404', async () => {
  const { default: WebSocket } = await import('ws');
  const base = process.env.TINCAN_URL.replace(/^http/, 'ws');
  for (const path of ['/', '/api/rooms', '/metrics', '/api/signal/x']) {
    const status = await new Promise((resolve) => {
      const ws = new WebSocket(base + path, SUBPROTOCOL);
      ws.on('unexpected-response', (req, res) => {
        resolve(res.statusCode);
        ws.terminate();
      });
      ws.on('open', () => {
        resolve('open');
        ws.terminate();
      });
      ws.on('error', () => {});
    });
    assert.equal(status, 404, path);
  }
});

test('bad messages get error frames and the socket stays open', async () => {
  const room = await createRoom();
  const a = await enter(room);
  const b = await enter(room);
  await a.client.next(); // peer-joined
  const cases = [
    ['', 'bad-json'],
    ['{"type":', 'bad-json'],
    ['[1,2,3]', 'bad-json'],
    ['"signal"', 'bad-json'],
    ['{}', 'bad-message'],
    ['{"type":42}', 'bad-message'],
    [{ type: 'dance' }, 'unknown-type'],
    [{ type: 'welcome', id: 'x' }, 'unknown-type'],
    [{ type: 'signal', to: b.participant }, 'bad-message'],
    [{ type: 'signal', to: b.participant, data: 'sdp' }, 'bad-message'],
    [{ type: 'signal', data: {} }, 'bad-message'],
    [{ type: 'signal', to: 'AAAAAAAAAAAAAAAAAAAAAA', data: {} }, 'unknown-peer'],
    [{ type: 'signal', to: a.participant, data: {} }, 'unknown-peer'],
  ];
  for (const [msg, code] of cases) {
    a.client.send(msg);
    const err = await a.client.next();
    assert.equal(err.type, 'error', JSON.stringify(msg));
    assert.equal(err.code, code, JSON.stringify(msg));
    assert.equal(typeof err.message, 'string');
  }
  a.client.ws.send(Buffer.from('{"type":"ping"}'), { binary: true });
  assert.equal((await a.client.next()).code, 'bad-json');
  // Nothing reached b, and a still works.
  assert.ok(await b.client.quiet());
  a.client.send({ type: 'ping' });
  assert.deepEqual(await a.client.next(), { type: 'pong' });
  a.client.send({ type: 'signal', to: b.participant, data: { ok: 1 } });
  assert.deepEqual((await b.client.next()).data, { ok: 1 });
  await a.client.close();
  await b.client.close();
});

test('a message over 64 KiB gets too-large and close 1009', async () => {
  const room = await createRoom();
  const a = await enter(room);
  const b = await enter(room);
  await a.client.next(); // peer-joined
  // Exactly 64 KiB is fine.
  const pad = 65536 - JSON.stringify({ type: 'signal', to: b.participant, data: { p: '' } }).length;
  a.client.send({ type: 'signal', to: b.participant, data: { p: 'x'.repeat(pad) } });
  assert.equal((await b.client.next()).data.p.length, pad);
  a.client.send({ type: 'signal', to: b.participant, data: { p: 'x'.repeat(70000) } });
  const err = await a.client.next();
  assert.equal(err.type, 'error');
  assert.equal(err.code, 'too-large');
  const closed = await a.client.closed;
  assert.equal(closed.code, 1009);
  // Cut by the server, not left: peer-left comes after rooms.reconnect_grace (1 s here).
  assert.deepEqual(await b.client.next(5000), { type: 'peer-left', id: a.participant });
  await b.client.close();
});

test('a connection closing while its peer reads nothing does not stall the server', async () => {
  // b reads nothing; a sends it messages until the kernel holds all it can (the server's send
  // queue to b, read with ss, stops growing) and a few more wait in tincand's own queue. Then b
  // connects again with its token: the old socket is closed politely (4001 after its queue),
  // which cannot happen while its window is shut, so it stays closing for up to 5 s while the
  // keepalive tick walks the connections every second. The tick must step over it: it once
  // spun on such a connection forever, and no HTTP or WebSocket request was served again.
  const room = await createRoom();
  const a = await enter(room);
  const b = await enter(room);
  assert.equal((await a.client.next()).type, 'peer-joined');
  b.client.ws._socket.pause();
  const filter = `( sport = :${new URL(BASE).port} and dport = :${b.client.ws._socket.localPort} )`;
  const sendQ = () => Number(execFileSync('ss', ['-tnH', filter]).toString().trim().split(/\s+/)[2]);
  const data = { p: 'z'.repeat(60000) };
  let last = -1;
  for (let i = 0, same = 0; same < 3; i++) {
    assert.ok(i < 400, 'the kernel kept taking messages');
    a.client.send({ type: 'signal', to: b.participant, data });
    await sleep(20);
    const q = sendQ();
    same = q === last ? same + 1 : 0;
    last = q;
  }
  for (let i = 0; i < 4; i++) a.client.send({ type: 'signal', to: b.participant, data });
  await sleep(100);
  const b2 = await connect(b.token);
  assert.equal((await b2.next()).type, 'welcome');
  await sleep(2500); // two keepalive ticks or more while the old socket is closing
  const res = await fetch(`${BASE}/api/health`, { signal: AbortSignal.timeout(3000) });
  assert.equal(res.status, 200);
  b.client.ws.terminate();
  await b2.close();
  await a.client.close();
});

test('a message fragmented over several frames is reassembled', async () => {
  const room = await createRoom();
  const a = await enter(room);
  const b = await enter(room);
  await a.client.next();
  const text = JSON.stringify({ type: 'signal', to: b.participant, data: { big: 'y'.repeat(20000) } });
  const third = Math.floor(text.length / 3);
  a.client.ws.send(text.slice(0, third), { fin: false });
  a.client.ws.send(text.slice(third, 2 * third), { fin: false });
  a.client.ws.send(text.slice(2 * third), { fin: true });
  assert.equal((await b.client.next()).data.big.length, 20000);
  await a.client.close();
  await b.client.close();
});

test('a client that never reads is disconnected, not buffered forever', async () => {
  const room = await createRoom();
  const a = await enter(room);
  const b = await enter(room);
  await a.client.next();
  // b stops reading from its socket; a floods it with 60 KiB messages.
  b.client.ws._socket.pause();
  const data = { p: 'z'.repeat(60000) };
  let left = null;
  for (let i = 0; i < 200 && !left; i++) {
    a.client.send({ type: 'signal', to: b.participant, data });
    if (i % 10 === 9) {
      const m = await a.client.next(200).catch(() => null);
      if (m && m.type === 'peer-left') left = m;
    }
  }
  left ??= await a.client.next(8000); // after rooms.reconnect_grace
  assert.deepEqual(left, { type: 'peer-left', id: b.participant });
  b.client.ws.terminate();
  await a.client.close();
});

test('ids in welcome and peer-joined are participant ids', async () => {
  const room = await createRoom();
  const a = await enter(room);
  assert.match(a.welcome.id, ID_RE);
  await a.client.close();
});
