// The network self-test page (/test.html): rows for STUN UDP, TURN UDP, TURN TCP, TURN TLS. This
// server offers STUN and TURN over UDP (both must work, through the loopback relay, with a round
// trip); TCP and TLS are not offered yet and must say so. A stubbed /api/selftest that also lists
// turn:…?transport=tcp and turns: URLs lights those rows up (tested, and failing here since
// nothing listens there, with firewall advice naming the port).
import { BASE, check, info, openPage, scenario, tid } from './lib.mjs';

const rows = (page) => page.$$eval('[data-testid="selftest-rows"] tr', (trs) => trs.map((tr) => ({
  row: tr.dataset.row, result: tr.dataset.result, text: [...tr.children].map((td) => td.textContent).join(' | '),
})));

await scenario('selftest', async (browser) => {
  const p = await openPage(browser, 'T');
  await p.goto(`${BASE}/test.html`);
  await p.locator('body[data-done="true"]').waitFor({ timeout: 40_000 });
  const r = await rows(p);
  for (const x of r) info(`${x.row}: ${x.result}: ${x.text}`);
  const by = Object.fromEntries(r.map((x) => [x.row, x]));
  check('STUN over UDP works', by['stun-udp']?.result === 'ok');
  check('TURN over UDP works, with a round trip in ms', by['turn-udp']?.result === 'ok' && / \d+ ms /.test(by['turn-udp'].text));
  check('TURN over TCP: not offered by this server', by['turn-tcp']?.result === 'absent' && /Not offered/.test(by['turn-tcp'].text));
  check('TURN over TLS: not offered by this server', by['turn-tls']?.result === 'absent' && /Not offered/.test(by['turn-tls'].text));
  check('the summary says the offered paths work', /All 2 offered paths work/.test(await tid(p, 'selftest-summary').textContent()));

  // The rows follow what the server lists: add TCP and TLS URLs to a real answer.
  const q = await openPage(browser, 'T2');
  await q.route('**/api/selftest', async (route) => {
    const res = await route.fetch();
    const body = await res.json();
    const turn = body.iceServers.find((s) => s.urls[0].startsWith('turn:'));
    const host = turn.urls[0].replace(/^turn:([^?]+).*/, '$1').replace(/:\d+$/, '');
    body.iceServers.push({ ...turn, urls: [`turn:${host}:22009?transport=tcp`] });
    body.iceServers.push({ ...turn, urls: [`turns:${host}:22008?transport=tcp`] });
    await route.fulfill({ response: res, json: body });
  });
  await q.goto(`${BASE}/test.html`);
  await q.locator('body[data-done="true"]').waitFor({ timeout: 60_000 });
  const r2 = Object.fromEntries((await rows(q)).map((x) => [x.row, x]));
  info(`tcp: ${r2['turn-tcp']?.text}`);
  info(`tls: ${r2['turn-tls']?.text}`);
  check('listed TCP/TLS URLs are tested; failures name the port to open',
    r2['turn-tcp']?.result === 'fail' && /TCP port 22009/.test(r2['turn-tcp'].text) &&
    r2['turn-tls']?.result === 'fail' && /TCP port 22008/.test(r2['turn-tls'].text));
});
