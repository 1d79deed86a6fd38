// Live reload (issue 5): SIGHUP makes tincand read its configuration file again without dropping
// what is in progress. Run by tests/reload.sh, which starts a tincand of its own (base 18000) and
// exports where its configuration file, log and process are; this file rewrites the
// configuration and sends the signals. Not a *.test.mjs file: tests/api/run.sh must not pick it
// up (its tincand is not the one this test reloads).
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs';
import { test } from 'node:test';

import { TURN_HOST, TURN_PORT, assertProblem, createRoom, enter, http, sleep } from './helpers.mjs';
import { TurnClient } from './stun.mjs';

const CONF = process.env.TINCAN_RELOAD_CONF;
const LOG = process.env.TINCAN_RELOAD_LOG;
const PID = Number(process.env.TINCAN_RELOAD_PID);
const ORIGINAL = fs.readFileSync(CONF, 'utf8');

// Counts the log lines matching @re.
function logCount(re) {
  return fs.readFileSync(LOG, 'utf8').split('\n').filter((l) => re.test(l)).length;
}

// Writes @text as the configuration, sends SIGHUP and waits (5 s at most) for one more log line
// matching @done. Returns that line.
async function reload(text, done) {
  fs.writeFileSync(CONF, text);
  const before = logCount(done);
  process.kill(PID, 'SIGHUP');
  for (let i = 0; i < 100; i++) {
    const lines = fs.readFileSync(LOG, 'utf8').split('\n').filter((l) => done.test(l));
    if (lines.length > before) return lines[lines.length - 1];
    await sleep(50);
  }
  assert.fail(`no log line matching ${done} 5 s after SIGHUP`);
}

function alive() {
  try {
    process.kill(PID, 0);
    return true;
  } catch {
    return false;
  }
}

// A UDP peer on 127.0.0.1: resolves the next datagram it receives.
function makePeer() {
  const sock = dgram.createSocket('udp4');
  const waiters = [];
  sock.on('message', (m, rinfo) => {
    const w = waiters.shift();
    if (w) w({ data: m.toString(), from: rinfo });
  });
  return new Promise((resolve) => sock.bind(0, '127.0.0.1', () => resolve({
    sock,
    port: sock.address().port,
    next(ms = 2000) {
      return new Promise((res, rej) => {
        const t = setTimeout(() => rej(new Error(`the peer got nothing within ${ms} ms`)), ms);
        waiters.push((x) => { clearTimeout(t); res(x); });
      });
    },
  })));
}

// Relays one datagram each way between client @c (allocation at @relayed) and @peer; fails if
// either does not arrive within 2 s.
async function roundTrip(c, peer, relayed, tag) {
  const got = peer.next();
  c.sendTo('127.0.0.1', peer.port, `to-peer ${tag}`);
  const m = await got;
  assert.equal(m.data, `to-peer ${tag}`);
  assert.equal(m.from.port, relayed.port, 'the data comes from the relayed address');
  const back = new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(`no Data indication (${tag}) within 2 s`)), 2000);
    c.onData = (from, data) => { clearTimeout(t); res({ from, data: data.toString() }); };
  });
  peer.sock.send(`to-client ${tag}`, relayed.port, '127.0.0.1');
  const d = await back;
  assert.equal(d.data, `to-client ${tag}`);
  assert.equal(d.from.port, peer.port);
}

// The configuration after the first reload: a lower quota, a peer ACL that leaves 127.0.0.2 out,
// /metrics for 192.0.2.0/24 only, less logging (all live), and another TURN port (restart-only).
function changed() {
  let t = ORIGINAL;
  const swap = (from, to) => {
    assert.ok(t.includes(from), `the test configuration has ${from}`);
    t = t.replace(from, to);
  };
  swap('log_level = "debug";', 'log_level = "info";');
  swap('allow_peers = [ "127.0.0.0/8", "::1/128" ];',
    'allow_peers = [ "127.0.0.1/32" ];\n  user_quota = 1;');
  swap(`listen = "127.0.0.1:${TURN_PORT}";`, `listen = "127.0.0.1:${TURN_PORT + 2}";`);
  t = t.replace(/^( *html_dir = .*)$/m, '$1\n  metrics_allow = [ "192.0.2.0/24" ];');
  return t;
}

// Pins, in order on one tincand: an allocation (with a permission and relayed data both ways)
// and a two-person room survive a reload that changes live and restart-only options; the new
// quota, peer ACL and /metrics allow-list apply to new requests at once; the restart-only
// option is named in the log and keeps its running value; a broken file is logged with its
// file:line and changes nothing; a later good file applies again.
test('SIGHUP reloads the configuration and keeps calls in progress', async () => {
  const peer = await makePeer();
  const c1 = new TurnClient(TURN_HOST, TURN_PORT, 'demo', 'demo');
  const c2 = new TurnClient(TURN_HOST, TURN_PORT, 'demo', 'demo');
  const room = await createRoom();
  const a = await enter(room);
  const b = await enter(room);
  try {
    assert.equal((await a.client.next()).type, 'peer-joined');

    const r = await c1.allocate();
    assert.equal(r.cls, 'success', `Allocate: error ${r.error}`);
    const relayed = r.relayedAddr;
    assert.equal((await c1.createPermission('127.0.0.1')).cls, 'success');
    await roundTrip(c1, peer, relayed, 'before');
    assert.equal((await http('GET', '/metrics')).status, 200);

    // 1. A good file with changes.
    const line = await reload(changed(), /SIGHUP: configuration reloaded from /);
    assert.ok(alive(), 'tincand runs after SIGHUP');
    assert.ok(line.includes(`configuration reloaded from ${CONF} (4 options changed: log_level, ` +
      'turn.allow_peers, turn.user_quota, http.metrics_allow; restart needed for: turn.listen)'),
    line);
    assert.equal(logCount(/SIGHUP: turn\.listen changed; it takes effect at restart/), 1);

    // What was there stays: the allocation refreshes and relays both ways, over the running
    // TURN port; the WebSockets stay open, and the room's peers still reach each other.
    assert.equal((await c1.refresh()).cls, 'success', 'Refresh after the reload');
    await roundTrip(c1, peer, relayed, 'after');
    a.client.send({ type: 'ping' });
    assert.equal((await a.client.next()).type, 'pong');
    a.client.send({ type: 'signal', to: b.participant, data: { hello: 1 } });
    const sig = await b.client.next();
    assert.equal(sig.type, 'signal');
    assert.equal(sig.from, a.participant);

    // The new values apply to new requests.
    const denied = await c1.createPermission('127.0.0.2');
    assert.equal(denied.cls, 'error', 'a peer the new ACL refuses');
    assert.equal(denied.error, 403);
    const over = await c2.allocate();
    assert.equal(over.cls, 'error', 'a second allocation over the new quota of 1');
    assert.equal(over.error, 486);
    const m = await http('GET', '/metrics');
    assertProblem(m, 403);
    assert.match(m.json.detail, /http\.metrics_allow/);

    // 2. A broken file: logged with file:line, nothing changes.
    const broken = changed().replace('user_quota = 1;', 'user_quota = "one";');
    const brokenLine = broken.split('\n').findIndex((l) => l.includes('"one"')) + 1;
    const err = await reload(broken, /keeping the running configuration/);
    assert.ok(err.includes(`SIGHUP: ${CONF}:${brokenLine}: turn.user_quota: must be an integer`),
      err);
    assert.ok(alive(), 'tincand runs after a SIGHUP with a broken file');
    assert.equal((await c1.refresh()).cls, 'success');
    await roundTrip(c1, peer, relayed, 'after broken');
    assert.equal((await c2.allocate()).error, 486, 'the quota of the running configuration');
    assertProblem(await http('GET', '/metrics'), 403);

    // 3. The original file again: everything is back, the allocation still there.
    const back = await reload(ORIGINAL, /SIGHUP: configuration reloaded from /);
    assert.ok(back.includes('restart needed') === false, back);
    assert.equal((await http('GET', '/metrics')).status, 200);
    const second = await c2.allocate();
    assert.equal(second.cls, 'success', `Allocate under the restored quota: ${second.error}`);
    assert.equal((await c1.createPermission('127.0.0.2')).cls, 'success');
    await roundTrip(c1, peer, relayed, 'restored');
    assert.ok(await b.client.quiet(200), 'no peer-left: the room never noticed');
    await c2.refresh(0);
    await c1.refresh(0);
  } finally {
    fs.writeFileSync(CONF, ORIGINAL);
    c1.close();
    c2.close();
    peer.sock.close();
    await a.client.close();
    await b.client.close();
  }
});
