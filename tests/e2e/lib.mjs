// Shared helpers of the browser end-to-end scenarios (tests/e2e/*.mjs). Each scenario is its own
// file, run by run.sh as `node FILE BASE_URL`, so that a failure names the feature.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const BASE = process.argv[2] ?? 'http://127.0.0.1:22001';
export const ARTIFACTS = path.join(process.env.TOP_BUILDDIR || process.cwd(), 'tests/e2e/artifacts');
mkdirSync(ARTIFACTS, { recursive: true });

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--auto-select-desktop-capture-source=Entire screen',
  '--autoplay-policy=no-user-gesture-required',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const failures = [];
const pages = [];
let name = path.basename(process.argv[1], '.mjs');

export function check(what, ok, detail = '') {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${what}${detail ? `: ${detail}` : ''}`);
  if (!ok) failures.push(what);
  return ok;
}

export const info = (text) => console.log(`     ${text}`);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const tid = (page, id) => page.locator(`[data-testid="${id}"]`);

export async function launch(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [...CHROMIUM_ARGS, ...extraArgs],
  });
}

// A page in its own browser context (own storage, own camera), with errors echoed to the log.
export async function openPage(browser, label, { viewport = { width: 1100, height: 720 }, init } = {}) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  context.setDefaultTimeout(15_000);
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  watch(page, label);
  return page;
}

export function watch(page, label) {
  page.on('pageerror', (err) => {
    console.log(`[${label}] page error: ${err.message}`);
    failures.push(`${label}: uncaught exception in the page`);
  });
  page.on('console', (msg) => {
    if (msg.type() !== 'error' && msg.type() !== 'warning') return;
    const text = msg.text().replace(/token=[^&'"\s]+/g, 'token=…');
    console.log(`[${label}] console.${msg.type()}: ${text}`);
  });
  pages.push({ label, page });
}

export function withRelay(url) {
  const u = new URL(url, BASE);
  u.searchParams.set('relay', '1');
  return u.href;
}

export const waitScreen = (page, screen, timeout) =>
  page.locator(`body[data-screen="${screen}"]`).waitFor({ state: 'attached', timeout });

export const waitText = (page, id, text, timeout) =>
  page.locator(`[data-testid="${id}"]:visible`, { hasText: text }).first().waitFor({ timeout });

export const callState = (page) => page.evaluate(() => window.tincan.state());
export const callStats = (page) => page.evaluate(() => window.tincan.stats());

// Landing page -> Start a call. Returns the shareable link.
export async function startCall(page, { password = '', capacity } = {}) {
  await page.goto(withRelay(`${BASE}/`));
  await waitScreen(page, 'start');
  if (password) await tid(page, 'create-password').fill(password);
  if (capacity) await tid(page, 'create-capacity').selectOption(String(capacity));
  await tid(page, 'start-call').click();
  await waitScreen(page, 'created');
  return tid(page, 'room-link').inputValue();
}

// The creator's Continue -> pre-join -> Join.
export async function joinCreated(page, { name } = {}) {
  await tid(page, 'join-created').click();
  await waitScreen(page, 'prejoin');
  if (name !== undefined) await tid(page, 'join-name').fill(name);
  await tid(page, 'join-button').click();
}

// Opens @link (+relay=1), fills the pre-join form and presses Join; the caller waits.
export async function openAndJoin(page, link, { password, name, query = {} } = {}) {
  const u = new URL(withRelay(link));
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
  await page.goto(u.href);
  await waitScreen(page, 'prejoin');
  if (name !== undefined) await tid(page, 'join-name').fill(name);
  if (password !== undefined) await tid(page, 'join-password').fill(password);
  await tid(page, 'join-button').click();
}

// Waits until @page is connected to its peer and has received and decoded some video.
export async function waitForMedia(page, timeout = 30_000) {
  const deadline = Date.now() + timeout;
  let state;
  let stats;
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

// Two pages in a relayed call: A creates and joins, B opens the link. Returns {a, b, link}.
export async function twoInCall(browser, { names = ['Ann', 'Bob'], viewportB } = {}) {
  const a = await openPage(browser, 'A');
  const b = await openPage(browser, 'B', viewportB ? { viewport: viewportB } : {});
  const link = await startCall(a, { capacity: 2 });
  await joinCreated(a, { name: names[0] });
  await waitScreen(a, 'call');
  await openAndJoin(b, link, { name: names[1] });
  await waitScreen(b, 'call');
  const [ra, rb] = await Promise.all([waitForMedia(a), waitForMedia(b)]);
  check('A and B connected and decoding video', ra.ok && rb.ok,
    `A ${ra.state.call}/${ra.stats?.framesDecoded} B ${rb.state.call}/${rb.stats?.framesDecoded}`);
  return { a, b, link, ok: ra.ok && rb.ok };
}

export async function screenshot(page, file) {
  const p = path.join(ARTIFACTS, file);
  await page.screenshot({ path: p });
  info(`screenshot: ${p}`);
  return p;
}

// Runs @fn with a browser; prints the verdict and exits 0 or 1.
export async function scenario(label, fn, { browser: makeBrowser = launch } = {}) {
  name = label;
  const browser = await makeBrowser();
  const t0 = Date.now();
  try {
    await fn(browser);
  } catch (err) {
    check('scenario finished', false, err.stack?.split('\n').slice(0, 3).join(' | '));
  }
  if (failures.length) {
    for (const { label: l, page } of pages) {
      if (page.isClosed()) continue;
      try {
        console.log(`[${l}] ${page.url()} state=${JSON.stringify(await callState(page).catch(() => null))}`);
        await page.screenshot({ path: path.join(ARTIFACTS, `failure-${label}-${l}.png`) });
      } catch (err) {
        console.log(`[${l}] could not dump: ${err.message.split('\n')[0]}`);
      }
    }
  }
  await browser.close().catch(() => {});
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  if (failures.length) {
    console.log(`${label}: FAILED in ${secs} s (${failures.length}): ${failures.join('; ')}`);
    process.exit(1);
  }
  console.log(`${label}: all checks passed in ${secs} s`);
  process.exit(0);
}
