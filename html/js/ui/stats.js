// ui/stats: the connection panel. One <dl> per peer: how the media goes (relayed or direct, and
// over what), round trip, loss, bitrates, the video received and sent, codecs.

import { $ } from '../ui.js';

const n = (v, digits = 0) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '—');

// @rows: [{name, s}] where s is a Call.stats() summary (or null).
export function renderStats(rows) {
  const dl = $('stats-list');
  const frag = document.createDocumentFragment();
  if (!rows.length) {
    const p = document.createElement('dd');
    p.textContent = 'Nobody else is in the call.';
    frag.append(p);
  }
  for (const { name, s } of rows) {
    const entries = [];
    if (rows.length > 1) entries.push(['With', name]);
    if (!s || !s.localCandidateType) {
      entries.push(['Route', 'not connected yet']);
    } else {
      const relayed = s.localCandidateType === 'relay' || s.remoteCandidateType === 'relay';
      const transport = relayed && s.relayProtocol ? s.relayProtocol : s.protocol;
      entries.push(['Route', relayed ? 'Relayed through this server' : 'Direct (peer to peer)']);
      entries.push(['Transport', (transport ?? '—').toUpperCase()], );
      entries.push(['Round trip', s.rtt === null ? '—' : `${n(s.rtt)} ms`]);
      entries.push(['Packet loss', s.lossPct === null ? '—' : `${n(s.lossPct, 1)} %`]);
      entries.push(['Receiving', s.kbpsIn === null ? '—' : `${n(s.kbpsIn)} kbit/s`]);
      entries.push(['Sending', s.kbpsOut === null ? '—' : `${n(s.kbpsOut)} kbit/s`]);
      const v = s.video;
      entries.push(['Video in', v.width ? `${v.width}×${v.height} @ ${n(v.fps)} fps` : 'none']);
      const o = s.sent;
      entries.push(['Video out', o.width ? `${o.width}×${o.height} @ ${n(o.fps)} fps` : 'none']);
      entries.push(['Codecs', [v.codec || o.codec, s.audio.codec].filter(Boolean).join(', ') || '—']);
    }
    for (const [k, val] of entries) {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = val;
      dd.dataset.testid = `stat-${k.toLowerCase().replace(/\s+/g, '-')}`;
      frag.append(dt, dd);
    }
  }
  dl.replaceChildren(frag);
}
