// One restricted-network scenario of tests/netns/run.sh: two Chromium browsers, each started by a
// wrapper inside its client namespace, call each other through tincand in the box namespace.
//
//   node call.mjs BASE_URL CHROMIUM_A CHROMIUM_B SCENARIO WANT
//
// A opens BASE_URL (https://call.tincan.test, port 443: the shared port), starts a call and
// joins; B opens the link. Both must connect through the relay with the selected candidate
// pair's relayProtocol WANT (udp, tcp or tls) within 10 s of the media flowing, and keep
// receiving bytes and decoding frames; when a page's pair is wrong, all its pairs are printed.
// Prints one line per page: relayProtocol, bytes received and frames decoded, 2.5 s apart.
import { chromium } from 'playwright-core';

const [BASE, EXE_A, EXE_B, SCENARIO, WANT] = process.argv.slice(2);
process.argv[2] = BASE; // lib.mjs reads its BASE from here
const { CHROMIUM_ARGS, callStats, joinCreated, openAndJoin, sleep, startCall, waitForMedia,
  waitScreen } = await import('../e2e/lib.mjs');

let failures = 0;
function check(what, ok, detail = '') {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${SCENARIO}: ${what}${detail ? `: ${detail}` : ''}`);
  if (!ok) failures++;
  return ok;
}

const launch = (exe) => chromium.launch({ executablePath: exe, headless: true, args: CHROMIUM_ARGS });
const t0 = Date.now();
const [ba, bb] = await Promise.all([launch(EXE_A), launch(EXE_B)]);
try {
  const newPage = async (browser, label) => {
    const ctx = await browser.newContext({ viewport: { width: 1000, height: 700 } });
    ctx.setDefaultTimeout(20_000);
    const page = await ctx.newPage();
    page.on('console', (m) => { if (m.type() === 'error') console.log(`[${label}] console.error: ${m.text().replace(/token=[^&'"\s]+/g, 'token=…')}`); });
    return page;
  };
  const a = await newPage(ba, 'A');
  const b = await newPage(bb, 'B');
  const link = await startCall(a);
  check('A loaded the page over HTTPS and created a room', link.startsWith(BASE), link);
  await joinCreated(a, { name: 'Ann' });
  await waitScreen(a, 'call');
  await openAndJoin(b, link, { name: 'Bob' });
  await waitScreen(b, 'call');
  const [ra, rb] = await Promise.all([waitForMedia(a, 45_000), waitForMedia(b, 45_000)]);
  if (check('A and B connected and decoding video', ra.ok && rb.ok,
    `A ${ra.state?.call}/${ra.stats?.framesDecoded} B ${rb.state?.call}/${rb.stats?.framesDecoded}`)) {
    // ICE may select the first pair that works before a better one (higher priority: UDP to
    // the relay over TCP) has finished its checks, and switch when it has. What the user gets is
    // the pair it settles on: wait up to 10 s for WANT before sampling.
    const t1 = Date.now();
    let s1;
    for (;;) {
      s1 = [await callStats(a), await callStats(b)];
      if (s1.every((x) => x?.relayProtocol === WANT) || Date.now() - t1 > 10_000) break;
      await sleep(500);
    }
    console.log(`     ${SCENARIO}: ${((Date.now() - t1) / 1000).toFixed(1)} s from media to the last pair check`);
    await sleep(2500);
    const s2 = [await callStats(a), await callStats(b)];
    for (const [i, label] of [[0, 'A'], [1, 'B']]) {
      const x = s1[i], y = s2[i];
      console.log(`     ${SCENARIO} ${label}: local=${y.localCandidateType} relayProtocol=${y.relayProtocol} ` +
        `bytesReceived ${x.bytesReceived} -> ${y.bytesReceived} framesDecoded ${x.framesDecoded} -> ${y.framesDecoded}`);
      if (!check(`${label}: the selected pair is relayed over ${WANT}`, y.localCandidateType === 'relay' && y.relayProtocol === WANT,
        `${y.localCandidateType}/${y.relayProtocol}`)) {
        // Which pairs ICE tried, and how far each got: the diagnosis of a wrong selection.
        for (const q of await (i ? b : a).evaluate(() => window.tincan.pairs()) ?? []) {
          console.log(`     ${SCENARIO} ${label} pair: ${q.selected ? 'SELECTED ' : ''}${q.state}` +
            `${q.nominated ? ' nominated' : ''} local ${q.local.type}/${q.local.relayProtocol ?? q.local.protocol}` +
            ` remote ${q.remote.type}/${q.remote.protocol} requests ${q.requestsSent} responses ${q.responsesReceived}` +
            ` rtt ${q.rtt ?? '-'} priority ${q.priority ?? '-'}`);
        }
      }
      check(`${label}: bytes and decoded frames grow`, y.bytesReceived > x.bytesReceived && y.framesDecoded > x.framesDecoded);
    }
  }
} catch (err) {
  check('scenario finished', false, err.stack?.split('\n').slice(0, 3).join(' | '));
}
await Promise.all([ba.close().catch(() => {}), bb.close().catch(() => {})]);
console.log(`${SCENARIO}: ${failures ? `FAILED (${failures})` : 'all checks passed'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
process.exit(failures ? 1 : 0);
