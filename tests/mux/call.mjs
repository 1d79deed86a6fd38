// A call over turns: on the shared port only, with the port busy: tests/mux/run.sh step 3.
//
//   node call.mjs BASE_URL CA_PEM WORKDIR TINCAND_PID
//
// Two Chromium pages (A, B) load the call page over HTTPS from the shared port and call each
// other; an init script keeps only the turns: URL of the ICE servers, so the media must go over
// TURN/TLS on that same port. While the call runs, for 12 s:
//   - a third page reloads the call page again and again (HTTPS, lws's TLS);
//   - node hammers GET /api/health and /api/info, half with ALPN (lws's TLS), half without
//     (tincand's TLS, proxied to lws), 4 at a time (the test's mux.max_unclassified_per_ip is 8,
//     and every new connection is unclassified for its first flight);
//   - at 6 s the certificate files are replaced and tincand gets SIGHUP: new HTTPS connections
//     must get the new certificate, the call must not notice.
// Every second B's received bytes and decoded frames must have grown. Chromium trusts tincand's
// self-signed certificate through an NSS database in its own HOME.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdirSync, readFileSync, renameSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { chromium } from 'playwright-core';

const [BASE, CA_FILE, WORK, TINCAND_PID] = process.argv.slice(2);
process.argv[2] = BASE; // lib.mjs reads its BASE from here
const { CHROMIUM_ARGS, callStats, joinCreated, openAndJoin, sleep, startCall, waitForMedia,
  waitScreen } = await import('../e2e/lib.mjs');
const url = new URL(BASE);

let failures = 0;
function check(what, ok, detail = '') {
  console.log(`${ok ? 'ok  ' : 'FAIL'} mux-call: ${what}${detail ? `: ${detail}` : ''}`);
  if (!ok) failures++;
  return ok;
}

// Chromium's trust store: an NSS database in a HOME of its own trusting the certificate.
const home = path.join(WORK, 'chromium-home');
const nss = path.join(home, '.pki/nssdb');
mkdirSync(nss, { recursive: true });
execFileSync('certutil', ['-N', '-d', `sql:${nss}`, '--empty-password']);
execFileSync('certutil', ['-A', '-d', `sql:${nss}`, '-n', 'tincan-selfsigned', '-t', 'P,,', '-i', CA_FILE]);

// Fingerprint of the certificate a new TLS connection gets.
function peerFingerprint() {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: url.hostname, port: Number(url.port), rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'] }, () => { resolve(s.getPeerX509Certificate().fingerprint256); s.destroy(); });
    s.on('error', reject);
  });
}

function get(p, alpn) {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const req = https.request({ host: url.hostname, port: Number(url.port), path: p, agent: false,
      rejectUnauthorized: false, ...(alpn ? { ALPNProtocols: ['http/1.1'] } : {}) }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ok: res.statusCode === 200, ms: Date.now() - t0 }));
    });
    req.on('error', () => resolve({ ok: false, ms: Date.now() - t0 }));
    req.setTimeout(5000, () => req.destroy());
    req.end();
  });
}

// Keep only turns: URLs, so the call must use TURN over TLS on the shared port.
const turnsOnly = () => {
  const Orig = window.RTCPeerConnection;
  window.RTCPeerConnection = function (cfg = {}, ...rest) {
    const servers = (cfg.iceServers ?? []).map((s) => ({ ...s,
      urls: [].concat(s.urls).filter((u) => u.startsWith('turns:')) })).filter((s) => s.urls.length);
    return new Orig({ ...cfg, iceServers: servers, iceTransportPolicy: 'relay' }, ...rest);
  };
  window.RTCPeerConnection.prototype = Orig.prototype;
};

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true, args: CHROMIUM_ARGS, env: { ...process.env, HOME: home } });
const t0 = Date.now();
try {
  const page = async (label, init) => {
    const ctx = await browser.newContext({ viewport: { width: 1000, height: 700 } });
    ctx.setDefaultTimeout(20_000);
    if (init) await ctx.addInitScript(init);
    const p = await ctx.newPage();
    p.on('console', (m) => { if (m.type() === 'error') console.log(`[${label}] console.error: ${m.text().replace(/token=[^&'"\s]+/g, 'token=…')}`); });
    return p;
  };
  const a = await page('A', turnsOnly);
  const b = await page('B', turnsOnly);
  const link = await startCall(a);
  await joinCreated(a, { name: 'Ann' });
  await waitScreen(a, 'call');
  await openAndJoin(b, link, { name: 'Bob' });
  await waitScreen(b, 'call');
  const [ra, rb] = await Promise.all([waitForMedia(a, 30_000), waitForMedia(b, 30_000)]);
  if (!check('A and B connected over the shared port and decoding video', ra.ok && rb.ok,
    `A ${ra.state?.call}/${ra.stats?.framesDecoded} B ${rb.state?.call}/${rb.stats?.framesDecoded}`)) throw new Error('no call');
  const s0 = await callStats(b);
  check('the selected pair is TURN over TLS (relayProtocol tls)', s0.localCandidateType === 'relay' && s0.relayProtocol === 'tls',
    `${s0.localCandidateType}/${s0.relayProtocol}`);

  // The disturbances.
  let stop = false;
  const c = await page('C');
  let reloads = 0;
  const reloader = (async () => {
    while (!stop) {
      await c.goto(`${BASE}/`);
      reloads++;
      await sleep(300);
    }
  })();
  const results = [];
  const hammer = Array.from({ length: 4 }, (_, i) => (async () => {
    while (!stop) results.push(await get(i % 2 ? '/api/health' : '/api/info', i < 2));
  })());
  const fp0 = await peerFingerprint();
  let fp1 = null;
  let reloadMs = 0;
  const stalls = [];
  let prev = s0;
  for (let sec = 1; sec <= 12; sec++) {
    await sleep(1000);
    if (sec === 6) {
      // A new certificate for the same names, swapped in atomically, then SIGHUP.
      const dir = path.dirname(CA_FILE);
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-days', '30', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout', path.join(dir, 'new-key.pem'), '-out', path.join(dir, 'new-cert.pem')], { stdio: 'ignore' });
      renameSync(path.join(dir, 'new-key.pem'), path.join(dir, 'selfsigned-key.pem'));
      renameSync(path.join(dir, 'new-cert.pem'), CA_FILE);
      // The reload runs on the signal thread and then on each server thread: poll until a new
      // connection shows the new certificate (bounded), rather than after a fixed wait that a
      // slow (sanitizer) build can miss.
      process.kill(Number(TINCAND_PID), 'SIGHUP');
      const t0 = Date.now();
      for (;;) {
        await sleep(100);
        fp1 = await peerFingerprint();
        if ((fp1 && fp1 !== fp0) || Date.now() - t0 > 5000) break;
      }
      reloadMs = Date.now() - t0;
    }
    const s = await callStats(b);
    if (!(s.bytesReceived > prev.bytesReceived && s.framesDecoded > prev.framesDecoded)) stalls.push(sec);
    prev = s;
  }
  stop = true;
  await Promise.all([reloader, ...hammer]);
  const ok = results.filter((r) => r.ok).length;
  const ms = results.map((r) => r.ms).sort((x, y) => x - y);
  console.log(`     B: bytesReceived ${s0.bytesReceived} -> ${prev.bytesReceived}, framesDecoded ${s0.framesDecoded} -> ${prev.framesDecoded}, relayProtocol ${prev.relayProtocol}`);
  console.log(`     page reloads: ${reloads}; API requests: ${ok}/${results.length} ok, median ${ms[ms.length >> 1]} ms, max ${ms[ms.length - 1]} ms`);
  check('B kept receiving bytes and decoding frames every second', stalls.length === 0, stalls.length ? `stalled in second(s) ${stalls}` : '');
  check('the call stayed on TURN over TLS', prev.relayProtocol === 'tls' && prev.localCandidateType === 'relay');
  check('the page reloaded while the call ran', reloads >= 5, `${reloads}`);
  check('every API request succeeded', results.length > 50 && ok === results.length, `${ok}/${results.length}`);
  check('after SIGHUP new connections get the new certificate', fp1 && fp1 !== fp0,
    `${fp0?.slice(0, 17)} -> ${fp1?.slice(0, 17)} after ${reloadMs} ms`);
} catch (err) {
  check('scenario finished', false, err.stack?.split('\n').slice(0, 3).join(' | '));
}
await browser.close().catch(() => {});
console.log(`mux-call: ${failures ? `FAILED (${failures})` : 'all checks passed'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
process.exit(failures ? 1 : 0);
