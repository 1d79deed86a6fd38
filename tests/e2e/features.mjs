// The in-call features, one section each (a failure names the section):
//   chat      a text message and a reaction reach the other side over the data channel
//   file      a 5 MB file arrives intact: the SHA-256 of the received blob equals the source's,
//             and the page says "checksum verified"
//   record    A records: the badge shows, B is told "Ann is recording", stopping saves a webm
//   stats     the stats panel says relayed, transport UDP, and shows RTT, bitrates, resolution
//   screen    screen share replaces the camera track on the sender (getDisplayMedia with
//             --auto-select-desktop-capture-source), B keeps decoding; stop puts the camera back
//   devices   switching the microphone mid-call changes the track the sender sends
//   quality   "Low" sets maxBitrate 150 kbit/s and scale 4 on the video sender
import crypto from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ARTIFACTS, callState, check, info, scenario, sleep, tid, twoInCall, waitText } from './lib.mjs';

const section = async (label, fn) => {
  try {
    await fn();
  } catch (err) {
    check(`${label}: section finished`, false, err.message.split('\n')[0]);
  }
};

await scenario('features', async (browser) => {
  const { a, b, ok } = await twoInCall(browser);
  if (!ok) return;

  await section('chat', async () => {
    await tid(a, 'toggle-chat').click();
    await tid(a, 'chat-input').fill('hello <b>Bob</b> 👋');
    await tid(a, 'chat-send').click();
    await waitText(b, 'chat-unread', '', 5000).catch(() => {});
    await tid(b, 'toggle-chat').click();
    await waitText(b, 'chat-message', 'hello <b>Bob</b> 👋', 5000);
    check('chat: B receives the text as text (no HTML)', (await b.locator('.chat-log b').count()) === 0);
    await a.locator('[data-reaction="👍"]').click();
    await waitText(b, 'chat-notice', 'Ann reacted 👍', 5000);
    check('chat: B sees Ann\'s reaction', true);
  });

  await section('file', async () => {
    const data = crypto.randomBytes(5 * 1024 * 1024);
    const src = path.join(ARTIFACTS, 'five-mb.bin');
    writeFileSync(src, data);
    const want = crypto.createHash('sha256').update(data).digest('hex');
    const t0 = Date.now();
    await tid(a, 'chat-file').setInputFiles(src);
    const entry = b.locator('[data-testid="chat-file-entry"][data-status="received"]');
    await entry.waitFor({ timeout: 60_000 });
    const secs = (Date.now() - t0) / 1000;
    const status = await entry.locator('[data-testid="file-status"]').textContent();
    const [download] = await Promise.all([b.waitForEvent('download'), entry.locator('[data-testid="file-download"]').click()]);
    const got = crypto.createHash('sha256').update(readFileSync(await download.path())).digest('hex');
    info(`5 MB in ${secs.toFixed(1)} s (${(40 / secs).toFixed(1)} Mbit/s through the relay)`);
    check('file: 5 MB arrives intact (SHA-256 matches)', got === want, `${got.slice(0, 16)} vs ${want.slice(0, 16)}`);
    check('file: the page says the checksum was verified', /verified/.test(status), status);
    await a.locator('[data-testid="chat-file-entry"][data-status="sent"]').waitFor({ timeout: 10_000 });
    check('file: the sender shows "Sent"', true);
  });

  await section('record', async () => {
    await tid(a, 'toggle-settings').click();
    await tid(a, 'toggle-record').click();
    await tid(a, 'recording-badge').waitFor({ state: 'visible', timeout: 5000 });
    await waitText(b, 'peer-recording', 'Ann is recording', 5000);
    check('record: badge on A, B is told Ann is recording', true);
    await sleep(2500);
    const [download] = await Promise.all([a.waitForEvent('download'), tid(a, 'toggle-record').click()]);
    const st = await callState(a);
    info(`recording: ${download.suggestedFilename()} ${st.lastRecording?.size} bytes ${st.lastRecording?.type}`);
    check('record: stopping saves a webm with data', /\.webm$/.test(download.suggestedFilename()) && st.lastRecording?.size > 10_000);
    await tid(b, 'peer-recording').waitFor({ state: 'hidden', timeout: 5000 });
    check('record: B is told it stopped', true);
    await tid(a, 'toggle-settings').click();
  });

  await section('stats', async () => {
    await tid(b, 'toggle-stats').click();
    await waitText(b, 'stat-route', 'Relayed', 5000);
    await sleep(2200);
    const read = async (k) => (await tid(b, `stat-${k}`).textContent()).trim();
    const vals = Object.fromEntries(await Promise.all(['route', 'transport', 'round-trip', 'packet-loss', 'receiving', 'sending', 'video-in', 'codecs']
      .map(async (k) => [k, await read(k)])));
    info(JSON.stringify(vals));
    check('stats: relayed over UDP', vals.route.startsWith('Relayed') && vals.transport === 'UDP');
    check('stats: round trip, loss, bitrates, resolution and codec shown',
      /ms$/.test(vals['round-trip']) && /%$/.test(vals['packet-loss']) && /kbit\/s$/.test(vals.receiving) &&
      /\d+×\d+ @/.test(vals['video-in']) && /VP8|VP9|H264|AV1/i.test(vals.codecs));
    await tid(b, 'toggle-stats').click();
  });

  await section('screen', async () => {
    const before = await a.evaluate(() => window.tincan.senders());
    await tid(a, 'toggle-screen').click();
    await a.waitForFunction(() => window.tincan.state().media.sharing, null, { timeout: 10_000 });
    const during = await a.evaluate(() => window.tincan.senders());
    const vb = before.find((s) => s.kind === 'video')?.label;
    const vd = during.find((s) => s.kind === 'video')?.label;
    info(`video sender: ${vb} -> ${vd}`);
    check('screen: the video sender now sends the screen (replaceTrack)', vd && vd !== vb && /screen|window|tab/i.test(vd));
    await waitText(b, 'peer-name', 'sharing screen', 5000);
    const f1 = (await b.evaluate(() => window.tincan.stats())).framesDecoded;
    await sleep(2000);
    const f2 = (await b.evaluate(() => window.tincan.stats())).framesDecoded;
    check('screen: B sees "sharing screen" and keeps decoding', f2 > f1, `${f1} -> ${f2}`);
    await tid(a, 'toggle-screen').click();
    // replaceTrack is asynchronous: wait (bounded) for the camera track to be back on the sender.
    const back = await a.waitForFunction((label) => window.tincan.senders()
      .find((s) => s.kind === 'video')?.label === label, vb, { timeout: 5000 }).then(() => true, () => false);
    const after = await a.evaluate(() => window.tincan.senders());
    check('screen: stop puts the camera back', back, `video sender: ${after.find((s) => s.kind === 'video')?.label}`);
  });

  await section('devices', async () => {
    await tid(a, 'toggle-settings').click();
    const options = await tid(a, 'call-mic').locator('option').evaluateAll((os) => os.map((o) => [o.value, o.textContent]));
    const before = await a.evaluate(() => window.tincan.senders().find((s) => s.kind === 'audio')?.label);
    const target = options.find(([, label]) => label !== before && !/default/i.test(label)) ?? options[1];
    await tid(a, 'call-mic').selectOption(target[0]);
    await a.waitForFunction((l) => window.tincan.senders().find((s) => s.kind === 'audio')?.label !== l, before, { timeout: 10_000 });
    const after = await a.evaluate(() => window.tincan.senders().find((s) => s.kind === 'audio')?.label);
    check('devices: switching the microphone mid-call changes the sent track', after && after !== before, `${before} -> ${after}`);
    const cams = await tid(a, 'call-camera').locator('option').count();
    info(`cameras offered: ${cams} (Chromium's fake capture has one)`);
  });

  await section('quality', async () => {
    await tid(a, 'call-quality').selectOption('low');
    await sleep(500);
    const p = await a.evaluate(async () => {
      const pcs = window.tincan.debugParameters ? await window.tincan.debugParameters() : null;
      return pcs;
    });
    check('quality: low sets maxBitrate 150000 and scale 4', p && p.maxBitrate === 150000 && p.scaleResolutionDownBy === 4, JSON.stringify(p));
    await tid(a, 'call-quality').selectOption('auto');
  });
});
