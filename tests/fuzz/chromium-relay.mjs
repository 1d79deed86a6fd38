// node chromium-relay.mjs TURN_PORT - a relay-only WebRTC call inside one headless Chromium page,
// through turn:127.0.0.1:TURN_PORT (user demo/demo), so that Chromium's own Allocate, Refresh,
// CreatePermission, ChannelBind, Send and ChannelData messages cross the wire. Used by
// tests/fuzz/capture.sh to record them for the fuzz seed corpus; not part of make check.
// Needs puppeteer-core (tests/package.json) and CHROMIUM (default /usr/bin/chromium).
import puppeteer from 'puppeteer-core';

const port = Number(process.argv[2]);
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: 'new',
  args: ['--no-sandbox', '--disable-gpu'],
});
try {
  const page = await browser.newPage();
  const got = await page.evaluate(async (port) => {
    const config = {
      iceServers: [{ urls: `turn:127.0.0.1:${port}?transport=udp`, username: 'demo',
        credential: 'demo' }],
      iceTransportPolicy: 'relay',
    };
    const a = new RTCPeerConnection(config), b = new RTCPeerConnection(config);
    a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
    b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
    const ch = a.createDataChannel('seed');
    const received = new Promise((resolve) => {
      let n = 0;
      b.ondatachannel = (e) => { e.channel.onmessage = () => { if (++n === 20) resolve(n); }; };
    });
    await a.setLocalDescription();
    await b.setRemoteDescription(a.localDescription);
    await b.setLocalDescription();
    await a.setRemoteDescription(b.localDescription);
    await new Promise((resolve) => { ch.onopen = resolve; });
    for (let i = 0; i < 20; i++) ch.send(`message ${i} `.repeat(10));
    const n = await Promise.race([received, new Promise((r) => setTimeout(() => r(-1), 10000))]);
    a.close();
    b.close();
    return n;
  }, port);
  console.log(`chromium-relay: ${got} of 20 data channel messages relayed`);
  process.exitCode = got === 20 ? 0 : 1;
} finally {
  await browser.close();
}
