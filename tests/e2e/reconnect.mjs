// Reconnection after a network cut.
//
// B reaches tincand only through a small "network" in this process: a TCP proxy for HTTP and the
// signaling WebSocket (port 22010) and a UDP proxy for TURN (port 22011; an init script points
// B's RTCPeerConnections there). Cutting it drops every UDP datagram and freezes every TCP
// connection both ways (a pulled cable: no FIN, no RST), and holds new connections until it is
// restored: both the WebSocket and the media path die silently, as on a real network. Chrome's
// offline emulation would not do: it does not touch WebRTC.
//
// Checks: during the cut B says "Reconnecting…" and so does A; after the restore B's signaling
// resumes the same participant (welcome resumed: true, same id), an ICE restart brings media
// back (frames decoded grow on both sides), and A never got peer-left (within
// rooms.reconnect_grace, 20 s; the cut lasts 15 s).
import dgram from 'node:dgram';
import net from 'node:net';
import {
  BASE, callState, callStats, check, info, joinCreated, openAndJoin, openPage, scenario, sleep,
  startCall, waitForMedia, waitScreen,
} from './lib.mjs';

const HTTP_PORT = Number(new URL(BASE).port);
const TURN_PORT = HTTP_PORT - 1;
const PROXY_HTTP = 22010;
const PROXY_TURN = 22011;
const CUT_MS = 15_000;

let cut = false;
const held = [];   // functions to run on restore

function tcpProxy() {
  return net.createServer((client) => {
    const start = () => {
      const up = net.connect(HTTP_PORT, '127.0.0.1');
      const pipe = (from, to) => from.on('data', (d) => {
        if (cut) held.push(() => to.write(d));
        else to.write(d);
      });
      pipe(client, up);
      pipe(up, client);
      const end = () => { client.destroy(); up.destroy(); };
      client.on('error', end); up.on('error', end);
      client.on('close', () => (cut ? held.push(() => up.destroy()) : up.destroy()));
      up.on('close', () => (cut ? held.push(() => client.destroy()) : client.destroy()));
    };
    if (cut) {
      client.pause();
      held.push(() => { client.resume(); start(); });
    } else {
      start();
    }
  }).listen(PROXY_HTTP, '127.0.0.1');
}

function udpProxy() {
  const sock = dgram.createSocket('udp4');
  const ups = new Map(); // client "addr:port" -> upstream socket
  sock.on('message', (msg, rinfo) => {
    if (cut) return;
    const key = `${rinfo.address}:${rinfo.port}`;
    let up = ups.get(key);
    if (!up) {
      up = dgram.createSocket('udp4');
      up.on('message', (reply) => { if (!cut) sock.send(reply, rinfo.port, rinfo.address); });
      up.bind(0, '127.0.0.1');
      ups.set(key, up);
    }
    up.send(msg, TURN_PORT, '127.0.0.1');
  });
  sock.bind(PROXY_TURN, '127.0.0.1');
  return { close: () => { sock.close(); for (const u of ups.values()) u.close(); } };
}

function restore() {
  cut = false;
  for (const fn of held.splice(0)) fn();
}

await scenario('reconnect', async (browser) => {
  const http = tcpProxy();
  const udp = udpProxy();
  try {
    const a = await openPage(browser, 'A');
    const b = await openPage(browser, 'B');
    await b.context().addInitScript(({ from, to }) => {
      const Native = window.RTCPeerConnection;
      function Wrapped(cfg, ...rest) {
        const c = cfg ? JSON.parse(JSON.stringify(cfg).replaceAll(`:${from}`, `:${to}`)) : cfg;
        return new Native(c, ...rest);
      }
      Wrapped.prototype = Native.prototype;
      window.RTCPeerConnection = Wrapped;
    }, { from: TURN_PORT, to: PROXY_TURN });

    const link = await startCall(a, { capacity: 2 });
    await joinCreated(a, { name: 'Ann' });
    await waitScreen(a, 'call');
    const viaProxy = link.replace(`:${HTTP_PORT}/`, `:${PROXY_HTTP}/`);
    await openAndJoin(b, viaProxy, { name: 'Bob' });
    await waitScreen(b, 'call');
    const [ra, rb] = await Promise.all([waitForMedia(a), waitForMedia(b)]);
    check('connected through the proxies (relay)', ra.ok && rb.ok && rb.stats.localCandidateType === 'relay');
    if (!ra.ok || !rb.ok) return;
    const before = await callState(b);

    info(`cutting B's network for ${CUT_MS / 1000} s`);
    cut = true;
    const t0 = Date.now();
    let sawB = '';
    let sawA = '';
    while (Date.now() - t0 < CUT_MS) {
      const [sa, sb] = await Promise.all([callState(a), callState(b)]);
      if (!sawB && /Reconnecting/.test(sb.text)) sawB = `${sb.text} after ${((Date.now() - t0) / 1000).toFixed(1)} s`;
      if (!sawA && /Reconnecting/.test(sa.text)) sawA = `${sa.text} after ${((Date.now() - t0) / 1000).toFixed(1)} s`;
      await sleep(500);
    }
    check('during the cut B says "Reconnecting…"', Boolean(sawB), sawB);
    check('during the cut A says "Reconnecting…" (not "left")', Boolean(sawA), sawA);
    const f0 = (await callStats(a))?.framesDecoded ?? 0;
    info('restoring the network');
    restore();
    const t1 = Date.now();
    const [ra2, rb2] = await Promise.all([waitForMedia(a, 40_000), waitForMedia(b, 40_000)]);
    // Video comes back once a keyframe gets through and the bandwidth estimate recovers.
    let f1 = f0;
    let g1 = 0;
    const g0 = (await callStats(b))?.framesDecoded ?? 0;
    for (let i = 0; i < 30 && (f1 <= f0 + 5 || g1 <= g0 + 5); i++) {
      await sleep(500);
      f1 = (await callStats(a))?.framesDecoded ?? 0;
      g1 = (await callStats(b))?.framesDecoded ?? 0;
    }
    const [sa2, sb2] = [await callState(a), await callState(b)];
    info(`back after ${((Date.now() - t1) / 1000).toFixed(1)} s; B events ${JSON.stringify(sb2.events)} restarts ${JSON.stringify(sb2.peers.map((p) => p.restarts))}; A events ${JSON.stringify(sa2.events)}`);
    check('after the restore video flows again both ways', ra2.ok && rb2.ok && f1 > f0 + 5 && g1 > g0 + 5,
      `A frames ${f0} -> ${f1}, B frames ${g0} -> ${g1}, ${((Date.now() - t1) / 1000).toFixed(1)} s after the restore`);
    check('B resumed the same participant (welcome resumed)', sb2.events.resumed >= 1 && sb2.id === before.id);
    check('an ICE restart happened', sb2.peers.some((p) => p.restarts > 0) || sa2.peers.some((p) => p.restarts > 0));
    check('A never got peer-left', sa2.events.peerLeft === 0, `peerLeft=${sa2.events.peerLeft}`);
    check('both say connected again', sa2.call === 'connected' && sb2.call === 'connected', `${sa2.text} / ${sb2.text}`);
  } finally {
    restore();
    http.close();
    udp.close();
  }
});
