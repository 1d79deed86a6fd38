// Screenshots for the README and for people reviewing the UI: landing page, created (link + QR),
// pre-join, in the call on a desktop (with the chat open) and on a 375-px phone, the self-test
// page. Also pins that nothing overflows the phone's width. Files go to the artifacts folder;
// docs/screenshots/ holds copies.
import {
  BASE, check, joinCreated, openAndJoin, openPage, scenario, screenshot, sleep, startCall, tid,
  waitForMedia, waitScreen,
} from './lib.mjs';

const PHONE = { width: 375, height: 740 };

await scenario('screens', async (browser) => {
  const a = await openPage(browser, 'A', { viewport: { width: 1100, height: 700 } });
  await a.goto(`${BASE}/`);
  await waitScreen(a, 'start');
  await tid(a, 'capacity-row').waitFor({ state: 'visible' });
  await screenshot(a, 'landing.png');
  const link = await startCall(a, { capacity: 2 });
  await screenshot(a, 'created.png');
  await tid(a, 'join-created').click();
  await waitScreen(a, 'prejoin');
  await tid(a, 'join-name').fill('Ann');
  await sleep(800);
  await screenshot(a, 'prejoin.png');
  await tid(a, 'join-button').click();
  await waitScreen(a, 'call');

  const b = await openPage(browser, 'B', { viewport: PHONE });
  await openAndJoin(b, link, { name: 'Bob' });
  await waitScreen(b, 'call');
  const [ra, rb] = await Promise.all([waitForMedia(a), waitForMedia(b)]);
  check('in the call', ra.ok && rb.ok);
  await tid(b, 'toggle-chat').click();
  await tid(b, 'chat-input').fill('Hi Ann, can you see me?');
  await tid(b, 'chat-send').click();
  await tid(b, 'toggle-chat').click();
  await tid(a, 'toggle-chat').click();
  await sleep(1500);
  await screenshot(a, 'call-desktop.png');
  await screenshot(b, 'call-phone.png');
  const overflow = await b.evaluate(() => document.documentElement.scrollWidth);
  check('the call fits a 375-px phone without horizontal scrolling', overflow <= 375, `scrollWidth ${overflow}`);
  const controls = await b.locator('.controls button:visible').evaluateAll((bs) => bs.map((x) => x.getBoundingClientRect()).every((r) => r.right <= 375 && r.height >= 40));
  check('every call control is on screen and at least 40 px tall on the phone', controls);
  const labels = await b.locator('.controls button').evaluateAll((bs) => bs.every((x) => x.getAttribute('aria-label')));
  check('every call control has an accessible label', labels);

  const p = await openPage(browser, 'P', { viewport: PHONE });
  await p.goto(`${BASE}/`);
  await waitScreen(p, 'start');
  await screenshot(p, 'landing-phone.png');

  const t = await openPage(browser, 'T', { viewport: { width: 1000, height: 560 } });
  await t.goto(`${BASE}/test.html`);
  await t.locator('body[data-done="true"]').waitFor({ timeout: 40_000 });
  await screenshot(t, 'selftest.png');
});
