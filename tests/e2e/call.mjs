// Browser end-to-end test: two headless Chromiums call each other through tincand's TURN relay.
//
//   node tests/e2e/call.mjs BASE_URL [--direct]
//
// BASE_URL is tincand's HTTP address (http://127.0.0.1:22001). --direct is for working on the UI
// against a server without TURN: pages open without ?relay=1 and the relay and /metrics checks are
// skipped. Exits 0 if every check passed, 1 otherwise. Prints every number it looked at.
//
// What it pins, section by section:
//   call      A starts a call from the landing page, B opens the shared link (+relay=1) and joins.
//             On both pages, within 30 s: the selected candidate pair's local candidate is
//             'relay', bytesReceived grows between two samples 2.5 s apart, and the remote
//             video's framesDecoded grows. tincand's /metrics relayed-bytes counters
//             (direction to_peer and to_client) grew. Screenshot of B in the call. The mic and
//             camera toggles set aria-pressed and say "muted" / "camera is off".
//   full      A third person opening the link of the 2-person room is told the call is full.
//   leave     B leaves: B sees "You left the call", A sees "The other person left". C takes a
//             token for the free seat but B rejoins before C's WebSocket connects: tincand refuses
//             C's upgrade and C's page says the call is full. A and B are connected through the
//             relay again.
//   password  A room created with a password: a wrong password shows "Wrong password"; the right
//             one gets in. That person has no camera (getUserMedia rejects NotFoundError): the page
//             says "No camera or microphone found", "Join without camera" joins receive-only, and
//             video from the other side is decoded.
//   notfound  /?room=<unknown> says the link is not valid or has ended.
//
// Screenshots go to $TOP_BUILDDIR/tests/e2e/artifacts/ (call.png; failure-*.png on failure).

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const args = process.argv.slice(2);
const direct = args.includes('--direct');
const BASE = args.find((a) => !a.startsWith('--'));
if (!BASE) {
  console.error('usage: node call.mjs BASE_URL [--direct]');
  process.exit(2);
}
const ARTIFACTS = path.join(process.env.TOP_BUILDDIR || process.cwd(), 'tests/e2e/artifacts');
const MEDIA_TIMEOUT_MS = 30_000;
const SAMPLE_GAP_MS = 2_500;

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// --- reporting ---------------------------------------------------------------------------------

const failures = [];

function check(name, ok, detail = '') {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
  if (!ok) failures.push(name);
  return ok;
}

function info(text) {
  console.log(`     ${text}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// --- pages -------------------------------------------------------------------------------------

const pages = []; // {label, page}, for the failure dump

// A page in its own browser context (own cookies, own camera), with errors echoed to the log.
async function openPage(browser, label, { noCamera = false } = {}) {
  const context = await browser.newContext({ viewport: { width: 960, height: 720 } });
  context.setDefaultTimeout(15_000);
  if (noCamera) {
    await context.addInitScript(() => {
      navigator.mediaDevices.getUserMedia = async () => {
        throw new DOMException('Requested device not found', 'NotFoundError');
      };
    });
  }
  const page = await context.newPage();
  page.on('pageerror', (err) => {
    console.log(`[${label}] page error: ${err.message}`);
    failures.push(`${label}: uncaught exception in the page`);
  });
  page.on('console', (msg) => {
    if (msg.type() !== 'error' && msg.type() !== 'warning') return;
    const text = msg.text().replace(/token=[^&'"\s]+/g, 'token=…'); // no tokens in build logs
    console.log(`[${label}] console.${msg.type()}: ${text}`);
  });
  pages.push({ label, page });
  return page;
}

const tid = (page, id) => page.locator(`[data-testid="${id}"]`);

function withRelay(url) {
  const u = new URL(url, BASE);
  if (!direct) u.searchParams.set('relay', '1');
  return u.href;
}

const waitScreen = (page, screen, timeout) =>
  page.locator(`body[data-screen="${screen}"]`).waitFor({ state: 'attached', timeout });

const waitText = (page, id, text, timeout) =>
  page.locator(`[data-testid="${id}"]:visible`, { hasText: text }).first().waitFor({ timeout });

// Landing page -> Start a call (optionally with a password). Returns the shareable link.
async function startCall(page, password = '') {
  await page.goto(withRelay(`${BASE}/`));
  if (password) await tid(page, 'create-password').fill(password);
  await tid(page, 'start-call').click();
  await tid(page, 'room-link').waitFor({ state: 'visible' });
  return tid(page, 'room-link').inputValue();
}

// Opens @link (+relay=1) and presses Join; the caller waits for the outcome.
async function openAndJoin(page, link, password) {
  await page.goto(withRelay(link));
  await waitScreen(page, 'join');
  if (password !== undefined) await tid(page, 'join-password').fill(password);
  await tid(page, 'join-button').click();
}

const callState = (page) => page.evaluate(() => window.tincan.state());
const callStats = (page) => page.evaluate(() => window.tincan.stats());

// Waits until @page is connected to its peer and has received and decoded some video.
// Returns the last stats seen (also on timeout, so the caller can report them).
async function waitForMedia(page, timeout = MEDIA_TIMEOUT_MS) {
  const deadline = Date.now() + timeout;
  let state, stats;
  for (;;) {
    state = await callState(page);
    stats = await callStats(page);
    if (state.call === 'connected' && stats?.localCandidateType && stats.bytesReceived > 0 &&
        stats.framesDecoded > 0) {
      return { ok: true, state, stats };
    }
    if (Date.now() > deadline) return { ok: false, state, stats };
    await sleep(500);
  }
}

// --- tincand metrics ---------------------------------------------------------------------------

async function relayedBytes() {
  const res = await fetch(`${BASE}/metrics`);
  const text = await res.text();
  const value = (direction) => {
    const re = new RegExp(
      `^tincan_turn_relayed_bytes_total\\{[^}]*direction="${direction}"[^}]*\\}\\s+(\\S+)`, 'm');
    const m = text.match(re);
    return m ? Number(m[1]) : NaN;
  };
  return { status: res.status, to_peer: value('to_peer'), to_client: value('to_client') };
}

// --- sections ----------------------------------------------------------------------------------

async function sectionCall(browser) {
  const m0 = direct ? null : await relayedBytes();
  if (m0) info(`tincand /metrics before: HTTP ${m0.status}, to_peer=${m0.to_peer} to_client=${m0.to_client}`);

  const a = await openPage(browser, 'A');
  const b = await openPage(browser, 'B');

  const link = await startCall(a);
  const linkUrl = new URL(link);
  check('shareable link is an absolute URL with ?room=', /^https?:$/.test(linkUrl.protocol) &&
    linkUrl.searchParams.has('room'), link);
  if (linkUrl.origin !== new URL(BASE).origin) {
    info(`note: link origin ${linkUrl.origin} differs from ${BASE}`);
  }

  await tid(a, 'join-created').click();
  await waitScreen(a, 'call');
  await waitText(a, 'call-message', 'Waiting for the other person', 10_000);
  check('A alone sees "Waiting for the other person"', true);

  await openAndJoin(b, link);
  await waitScreen(b, 'call');

  const [ra, rb] = await Promise.all([waitForMedia(a), waitForMedia(b)]);
  for (const [label, r] of [['A', ra], ['B', rb]]) {
    check(`${label} connected and decoding video within ${MEDIA_TIMEOUT_MS / 1000} s`, r.ok,
      `state=${r.state.call} "${r.state.text}" stats=${JSON.stringify(r.stats)}`);
  }
  if (!ra.ok || !rb.ok) return { a, b, link };

  const first = await Promise.all([callStats(a), callStats(b)]);
  await sleep(SAMPLE_GAP_MS);
  const second = await Promise.all([callStats(a), callStats(b)]);
  for (const [i, label] of ['A', 'B'].entries()) {
    const s1 = first[i];
    const s2 = second[i];
    info(`${label}: local=${s2.localCandidateType} remote=${s2.remoteCandidateType} ` +
      `relayProtocol=${s2.relayProtocol} bytesReceived ${s1.bytesReceived} -> ${s2.bytesReceived} ` +
      `bytesSent ${s1.bytesSent} -> ${s2.bytesSent} ` +
      `framesDecoded ${s1.framesDecoded} -> ${s2.framesDecoded}`);
    if (!direct) {
      check(`${label} selected pair's local candidate is relay`, s2.localCandidateType === 'relay',
        s2.localCandidateType);
    }
    check(`${label} bytesReceived grew over ${SAMPLE_GAP_MS / 1000} s`, s2.bytesReceived > s1.bytesReceived);
    check(`${label} remote video framesDecoded grew`, s2.framesDecoded > s1.framesDecoded);
  }
  const shownB = await callState(b);
  check('B shows its connection as connected', shownB.call === 'connected', shownB.text);
  if (!direct) check('B says the call is relayed', shownB.text.includes('relayed'), shownB.text);

  mkdirSync(ARTIFACTS, { recursive: true });
  await b.screenshot({ path: path.join(ARTIFACTS, 'call.png') });
  info(`screenshot: ${path.join(ARTIFACTS, 'call.png')}`);

  // The toggles report their state to assistive technology and in words.
  await tid(b, 'toggle-mic').click();
  await tid(b, 'toggle-camera').click();
  const pressed = [await tid(b, 'toggle-mic').getAttribute('aria-pressed'),
    await tid(b, 'toggle-camera').getAttribute('aria-pressed')];
  const said = await tid(b, 'local-state').textContent();
  await tid(b, 'toggle-mic').click();
  await tid(b, 'toggle-camera').click();
  const released = [await tid(b, 'toggle-mic').getAttribute('aria-pressed'),
    await tid(b, 'toggle-camera').getAttribute('aria-pressed')];
  check('mic and camera toggles set aria-pressed and say so', pressed.join() === 'true,true' &&
    released.join() === 'false,false' && /muted/.test(said) && /camera is off/.test(said),
    `pressed=${pressed} released=${released} "${said}"`);

  if (!direct) {
    // The counters may be updated a moment after the packets went through.
    let m1;
    for (let i = 0; i < 10; i++) {
      m1 = await relayedBytes();
      if (m1.to_peer > m0.to_peer && m1.to_client > m0.to_client) break;
      await sleep(500);
    }
    info(`tincand /metrics after: to_peer=${m1.to_peer} (+${m1.to_peer - m0.to_peer}) ` +
      `to_client=${m1.to_client} (+${m1.to_client - m0.to_client})`);
    check('tincan_turn_relayed_bytes_total{direction="to_peer"} grew', m1.to_peer > m0.to_peer);
    check('tincan_turn_relayed_bytes_total{direction="to_client"} grew', m1.to_client > m0.to_client);
  }
  return { a, b, link };
}

async function sectionFull(browser, link) {
  const c = await openPage(browser, 'C');
  await openAndJoin(c, link);
  await waitText(c, 'join-error', 'full', 10_000);
  check('a third person is told "This call is full"', true, await tid(c, 'join-error').textContent());
  await c.context().close();
}

async function sectionLeave(browser, a, b, link) {
  await tid(b, 'leave').click();
  await waitText(b, 'message-title', 'You left the call', 5_000);
  check('B sees "You left the call"', true);
  await waitText(a, 'connection-state', 'The other person left', 10_000);
  check('A sees "The other person left"', true);

  // C gets a token for the free seat, but is held just before its WebSocket connects (the page
  // fetches ICE servers first) while B rejoins and takes the seat. tincand then refuses C's
  // upgrade (409), which the page can only see as a closed socket.
  const c = await openPage(browser, 'C2');
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  const reached = new Promise((resolve) => {
    c.route('**/api/ice-servers', async (route) => {
      resolve();
      await held;
      await route.continue();
    });
  });
  await openAndJoin(c, link);
  await reached;

  await tid(b, 'rejoin').click();
  await waitScreen(b, 'call', 10_000);
  await b.waitForFunction(() => window.tincan.state().id, null, { timeout: 10_000 }); // welcomed
  release();
  await waitText(c, 'join-error', 'full', 10_000);
  check('a seat taken between join and connect: the late page says "This call is full"', true);
  await c.context().close();
  const [ra, rb] = await Promise.all([waitForMedia(a), waitForMedia(b)]);
  for (const [label, r] of [['A', ra], ['B', rb]]) {
    const relay = direct || r.stats?.localCandidateType === 'relay';
    check(`${label} connected again after B's Rejoin${direct ? '' : ' (relay)'}`, r.ok && relay,
      `state=${r.state.call} local=${r.stats?.localCandidateType} framesDecoded=${r.stats?.framesDecoded}`);
  }
}

async function sectionPassword(browser) {
  const p = await openPage(browser, 'P');           // creates the room, has a camera
  const q = await openPage(browser, 'Q', { noCamera: true });
  const link = await startCall(p, 'open sesame');

  await openAndJoin(q, link, 'not the password');
  await waitText(q, 'join-error', 'Wrong password', 10_000);
  check('wrong password shows "Wrong password"', true);

  await tid(q, 'join-password').fill('open sesame');
  await tid(q, 'join-button').click();
  await waitText(q, 'media-error', 'No camera or microphone found', 10_000);
  check('right password gets in; no camera shows "No camera or microphone found"', true);

  await tid(q, 'join-without-media').click();
  await waitScreen(q, 'call', 10_000);
  await tid(p, 'join-created').click(); // the creator joins with the password they set
  const [rp, rq] = await Promise.all([waitForMedia(p), waitForMedia(q)]);
  check('camera-less Q receives and decodes P\'s video', rq.ok,
    `local=${rq.stats?.localCandidateType} framesDecoded=${rq.stats?.framesDecoded}`);
  check('creator P joins their password room with the password they set', rp.state.screen === 'call',
    `screen=${rp.state.screen} state=${rp.state.call}`);
  await p.context().close();
  await q.context().close();
}

async function sectionNotFound(browser) {
  const n = await openPage(browser, 'N');
  await n.goto(`${BASE}/?room=no-such-room-e2e`);
  await waitText(n, 'message-title', 'not valid or has ended', 10_000);
  check('an unknown room says "not valid or has ended"', true);
  await n.context().close();
}

// --- main --------------------------------------------------------------------------------------

async function run(name, fn) {
  try {
    return await fn();
  } catch (err) {
    check(`section ${name} finished`, false, err.message.split('\n')[0]);
    return undefined;
  }
}

async function dumpOnFailure() {
  mkdirSync(ARTIFACTS, { recursive: true });
  for (const { label, page } of pages) {
    if (page.isClosed()) continue;
    try {
      const state = await callState(page);
      console.log(`[${label}] ${page.url()} state=${JSON.stringify(state)}`);
      await page.screenshot({ path: path.join(ARTIFACTS, `failure-${label}.png`) });
    } catch (err) {
      console.log(`[${label}] could not dump: ${err.message.split('\n')[0]}`);
    }
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: CHROMIUM_ARGS,
});
try {
  console.log(`e2e: ${BASE}${direct ? ' (direct: no relay checks)' : ''}`);
  const call = await run('call', () => sectionCall(browser));
  if (call) {
    await run('full', () => sectionFull(browser, call.link));
    await run('leave', () => sectionLeave(browser, call.a, call.b, call.link));
  }
  await run('password', () => sectionPassword(browser));
  await run('notfound', () => sectionNotFound(browser));
  if (failures.length) await dumpOnFailure();
} finally {
  await browser.close();
}

if (failures.length) {
  console.log(`e2e: FAILED (${failures.length}): ${failures.join('; ')}`);
  process.exit(1);
}
console.log('e2e: all checks passed');
