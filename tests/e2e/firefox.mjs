// A call between Firefox and Chromium through the relay. Firefox (Debian's firefox-esr) is driven
// by puppeteer-core over WebDriver BiDi, no geckodriver; fake camera and microphone come from
// Firefox preferences. Checks: Firefox joins from the link, both sides connect relayed and decode
// video, and Firefox's stats (no "transport" stats, `selected` pairs, RTT on remote-inbound-rtp)
// still give the route and a round trip. Fails if firefox-esr is missing.
import { existsSync } from 'node:fs';
import puppeteer from 'puppeteer-core';
import {
  check, info, joinCreated, openPage, scenario, sleep, startCall, waitForMedia, waitScreen,
  withRelay,
} from './lib.mjs';

const FIREFOX = process.env.FIREFOX || '/usr/bin/firefox-esr';

// A missing browser is a failure, not a pass: tools/install-deps installs firefox-esr (debian/
// control), so its absence means the Firefox half of the quality bar went untested.
if (!existsSync(FIREFOX)) {
  console.log(`firefox: FAIL: ${FIREFOX} is not installed (tools/install-deps installs firefox-esr)`);
  process.exit(1);
}

await scenario('firefox', async (browser) => {
  const a = await openPage(browser, 'A');
  const link = await startCall(a, { capacity: 2 });
  await joinCreated(a, { name: 'Chromium' });
  await waitScreen(a, 'call');

  const ff = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    extraPrefsFirefox: {
      'media.navigator.streams.fake': true,
      'media.navigator.permission.disabled': true,
      'media.autoplay.default': 0,
      'media.peerconnection.ice.loopback': true,
    },
  });
  try {
    info(`firefox ${await ff.version()}`);
    const f = await ff.newPage();
    f.on('pageerror', (err) => check('firefox: no uncaught exception', false, err.message));
    await f.goto(withRelay(link));
    await f.waitForSelector('body[data-screen="prejoin"]');
    await f.type('[data-testid="join-name"]', 'Firefox');
    await f.click('[data-testid="join-button"]');
    await f.waitForSelector('body[data-screen="call"]');
    let st;
    let stats;
    for (let i = 0; i < 60; i++) {
      st = await f.evaluate(() => window.tincan.state());
      stats = await f.evaluate(() => window.tincan.stats());
      if (st.call === 'connected' && stats?.framesDecoded > 0) break;
      await sleep(500);
    }
    info(`firefox: ${st.text}; stats ${JSON.stringify({ local: stats?.localCandidateType, relayProtocol: stats?.relayProtocol, rtt: stats?.rtt, frames: stats?.framesDecoded, video: stats?.video })}`);
    const ra = await waitForMedia(a);
    check('firefox: connected and decoding Chromium\'s video', st.call === 'connected' && stats?.framesDecoded > 0);
    check('firefox: stats find the relayed pair (local candidate relay)', stats?.localCandidateType === 'relay');
    await sleep(2500);
    const s2 = await f.evaluate(() => window.tincan.stats());
    check('firefox: a round trip is reported', typeof s2?.rtt === 'number', String(s2?.rtt));
    check('chromium: decoding Firefox\'s video', ra.ok, `frames ${ra.stats?.framesDecoded}`);
    const name = await a.locator('[data-testid="peer-name"]').first().textContent();
    check('chromium shows the Firefox user\'s name', name.includes('Firefox'), name);
  } finally {
    await ff.close().catch(() => {});
  }
});
