// Basic call through the relay, and the clear states around it.
//
//   call      A starts a call (room of 2) from the landing page, B opens the link (+relay=1).
//             Both connect through tincand's TURN relay (local candidate 'relay'), bytes and
//             decoded frames grow; tincand's relayed-bytes counters grow. Names show on tiles.
//             The mic and camera toggles set aria-pressed and say so in words.
//   full      A third person opening the link of the 2-person room is told the call is full.
//   tab       B's tab duplicated (same participant token in sessionStorage): the new tab takes
//             the call over, the old one says "open in another tab", A never sees B leave.
//   leave     B2 leaves: it sees "You left the call", A sees "Bob left".
//   password  Wrong password -> "Wrong password"; right one gets in, without a camera
//             (audio-only: ?video=0), and still receives video.
//   notfound  /?room=<unknown> says the link is not valid or has ended.
import {
  BASE, callState, callStats, check, info, openAndJoin, openPage, scenario, sleep, startCall, tid,
  twoInCall, waitForMedia, waitScreen, waitText, joinCreated, watch,
} from './lib.mjs';

async function relayedBytes() {
  const text = await (await fetch(`${BASE}/metrics`)).text();
  const v = (d) => Number((text.match(new RegExp(`^tincan_turn_relayed_bytes_total\\{[^}]*direction="${d}"[^}]*\\}\\s+(\\S+)`, 'm')) ?? [])[1]);
  return { to_peer: v('to_peer'), to_client: v('to_client') };
}

await scenario('call', async (browser) => {
  const m0 = await relayedBytes();
  const { a, b, link, ok } = await twoInCall(browser);
  if (!ok) return;
  const s1 = await callStats(b);
  await sleep(2500);
  const s2 = await callStats(b);
  info(`B: local=${s2.localCandidateType} relayProtocol=${s2.relayProtocol} bytesReceived ${s1.bytesReceived} -> ${s2.bytesReceived} frames ${s1.framesDecoded} -> ${s2.framesDecoded}`);
  check('selected pair is relayed (local candidate relay)', s2.localCandidateType === 'relay', s2.localCandidateType);
  check('bytes and frames keep arriving', s2.bytesReceived > s1.bytesReceived && s2.framesDecoded > s1.framesDecoded);
  const st = await callState(b);
  check('B says "Connected (relayed)"', st.text.includes('Connected') && st.text.includes('relayed'), st.text);
  check('B shows Ann\'s name on her tile', (await tid(b, 'peer-name').first().textContent()).includes('Ann'));
  check('A shows Bob\'s name on his tile', (await tid(a, 'peer-name').first().textContent()).includes('Bob'));
  let m1;
  for (let i = 0; i < 10; i++) {
    m1 = await relayedBytes();
    if (m1.to_peer > m0.to_peer && m1.to_client > m0.to_client) break;
    await sleep(500);
  }
  check('tincand relayed bytes both ways (/metrics)', m1.to_peer > m0.to_peer && m1.to_client > m0.to_client,
    `to_peer +${m1.to_peer - m0.to_peer} to_client +${m1.to_client - m0.to_client}`);

  await tid(b, 'toggle-mic').click();
  await tid(b, 'toggle-camera').click();
  const pressed = [await tid(b, 'toggle-mic').getAttribute('aria-pressed'), await tid(b, 'toggle-camera').getAttribute('aria-pressed')];
  const said = await tid(b, 'local-state').textContent();
  await waitText(a, 'peer-name', 'muted', 5000).then(() => true, () => false).then((v) => check('A sees that Bob muted', v));
  await tid(b, 'toggle-mic').click();
  await tid(b, 'toggle-camera').click();
  const released = [await tid(b, 'toggle-mic').getAttribute('aria-pressed'), await tid(b, 'toggle-camera').getAttribute('aria-pressed')];
  check('mic and camera toggles set aria-pressed and say so', pressed.join() === 'true,true' &&
    released.join() === 'false,false' && /muted/.test(said) && /camera is off/.test(said),
    `pressed=${pressed} released=${released} "${said}"`);

  // full: a third person.
  const c = await openPage(browser, 'C');
  await openAndJoin(c, link, { name: 'Cid' });
  await waitText(c, 'join-error', 'full', 10_000);
  check('a third person in a 2-person room is told "This call is full"', true, await tid(c, 'join-error').textContent());
  await c.context().close();

  // tab: a second tab of the same person (the duplicated tab has the same sessionStorage).
  const storage = await b.evaluate(() => JSON.stringify(sessionStorage));
  const b2 = await b.context().newPage();
  watch(b2, 'B2');
  await b2.addInitScript((s) => {
    if (!sessionStorage.length) for (const [k, v] of Object.entries(JSON.parse(s))) sessionStorage.setItem(k, v);
  }, storage);
  const leftBefore = (await callState(a)).events.peerLeft;
  await b2.goto(b.url());
  await waitScreen(b2, 'prejoin');
  await tid(b2, 'join-button').click();
  await waitText(b, 'message-title', 'open in another tab', 10_000);
  check('the first tab says the call is open in another tab', true);
  const r2 = await waitForMedia(b2);
  const ra = await waitForMedia(a);
  const stA = await callState(a);
  const stB2 = await callState(b2);
  check('the second tab is in the call with the same participant id', r2.ok && stB2.id === st.id, `${stB2.id} vs ${st.id}`);
  check('A is connected to the second tab and never saw Bob leave', ra.ok && stA.events.peerLeft === leftBefore,
    `peerLeft ${leftBefore} -> ${stA.events.peerLeft}`);

  // leave
  await tid(b2, 'leave').click();
  await waitText(b2, 'message-title', 'You left the call', 5000);
  check('B sees "You left the call"', true);
  await waitText(a, 'connection-state', 'Bob left', 10_000);
  check('A sees "Bob left the call" and the alone message', (await tid(a, 'call-message').textContent()).includes('alone'));
  await a.context().close();
  await b.context().close();

  // password + audio-only receiver
  const p = await openPage(browser, 'P');
  const q = await openPage(browser, 'Q');
  const plink = await startCall(p, { password: 'open sesame', capacity: 2 });
  await openAndJoin(q, plink, { password: 'not it', name: 'Quinn', query: { video: '0' } });
  await waitText(q, 'join-error', 'Wrong password', 10_000);
  check('wrong password shows "Wrong password"', true);
  await tid(q, 'join-password').fill('open sesame');
  await tid(q, 'join-button').click();
  await waitScreen(q, 'call', 10_000);
  await joinCreated(p, { name: 'Pat' });
  const [rp, rq] = await Promise.all([waitForMedia(p), waitForMedia(q)]);
  const qs = await callState(q);
  check('audio-only (?video=0) Q sends no video and receives P\'s video', rq.ok && qs.media.cam === false && qs.media.videoLabel === null,
    `framesDecoded=${rq.stats?.framesDecoded} cam=${qs.media.cam}`);
  check('P shows Quinn without camera (avatar)', await p.locator('figure.tile.no-video').count() === 1 && rp.state.screen === 'call');
  await p.context().close();
  await q.context().close();

  // not found
  const n = await openPage(browser, 'N');
  await n.goto(`${BASE}/?room=AAAAAAAAAAAAAAAAAAAAAA`);
  await waitText(n, 'message-title', 'not valid or has ended', 10_000);
  check('an unknown room says "not valid or has ended"', true);
});
