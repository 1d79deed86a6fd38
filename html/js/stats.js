// stats: reads what matters to a person (and to the end-to-end tests) out of an RTCStatsReport.
// Chromium and Firefox differ: Firefox has no "transport" stats and marks the pair in use with
// `selected`, reports the round trip on remote-inbound-rtp rather than on the candidate pair,
// and names the relay protocol only on newer versions; each field below falls back in turn.

// The candidate pair in use: the transport's selectedCandidatePairId (Chromium, Safari), a pair
// with selected: true (Firefox), or the nominated pair that succeeded. Undefined before ICE
// connects.
export function selectedPair(report) {
  let pair;
  report.forEach((s) => {
    if (!pair && s.type === 'transport' && s.selectedCandidatePairId) {
      pair = report.get(s.selectedCandidatePairId);
    }
  });
  if (pair) return pair;
  report.forEach((s) => {
    if (!pair && s.type === 'candidate-pair' && s.selected) pair = s;
  });
  if (pair) return pair;
  report.forEach((s) => {
    if (!pair && s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
  });
  return pair;
}

// {localCandidateType, remoteCandidateType, relayProtocol, protocol, rtt (ms or null),
//  bytesReceived, bytesSent, framesDecoded, video: {width, height, fps, codec, lost, received},
//  audio: {codec, lost, received}, sent: {width, height, fps, codec}, time (ms)}.
// relayProtocol is the protocol between the browser and the TURN server (udp/tcp/tls), set only
// when the local candidate is a relay candidate; protocol is the candidate pair's transport.
export function summarize(report) {
  const out = {
    localCandidateType: null,
    remoteCandidateType: null,
    relayProtocol: null,
    protocol: null,
    rtt: null,
    bytesReceived: 0,
    bytesSent: 0,
    framesDecoded: 0,
    video: { width: null, height: null, fps: null, codec: null, lost: 0, received: 0 },
    audio: { codec: null, lost: 0, received: 0 },
    sent: { width: null, height: null, fps: null, codec: null },
    time: performance.now(),
  };
  const pair = selectedPair(report);
  if (pair) {
    const local = report.get(pair.localCandidateId);
    const remote = report.get(pair.remoteCandidateId);
    out.localCandidateType = local?.candidateType ?? null;
    out.remoteCandidateType = remote?.candidateType ?? null;
    out.protocol = local?.protocol ?? null;
    if (out.localCandidateType === 'relay') {
      // Chromium and Firefox 120+: relayProtocol. Older Firefox: only the local candidate's
      // url tells (turn:…?transport=tcp / turns:).
      out.relayProtocol = local?.relayProtocol ?? relayFromUrl(local?.url) ?? 'udp';
    }
    out.bytesReceived = pair.bytesReceived ?? 0;
    out.bytesSent = pair.bytesSent ?? 0;
    if (typeof pair.currentRoundTripTime === 'number') out.rtt = pair.currentRoundTripTime * 1000;
  }
  const codec = (id) => {
    const c = id && report.get(id);
    return c?.mimeType ? c.mimeType.replace(/^(audio|video)\//, '') : null;
  };
  let inBytes = 0;
  let outBytes = 0;
  report.forEach((s) => {
    if (s.type === 'inbound-rtp') {
      inBytes += s.bytesReceived ?? 0;
      const k = s.kind ?? s.mediaType;
      if (k === 'video') {
        out.framesDecoded += s.framesDecoded ?? 0;
        out.video.width = s.frameWidth ?? out.video.width;
        out.video.height = s.frameHeight ?? out.video.height;
        out.video.fps = s.framesPerSecond ?? out.video.fps;
        out.video.codec = codec(s.codecId) ?? out.video.codec;
        out.video.lost += Math.max(0, s.packetsLost ?? 0);
        out.video.received += s.packetsReceived ?? 0;
      } else if (k === 'audio') {
        out.audio.codec = codec(s.codecId) ?? out.audio.codec;
        out.audio.lost += Math.max(0, s.packetsLost ?? 0);
        out.audio.received += s.packetsReceived ?? 0;
      }
    } else if (s.type === 'outbound-rtp') {
      outBytes += s.bytesSent ?? 0;
      if ((s.kind ?? s.mediaType) === 'video' && (s.frameWidth || s.framesEncoded)) {
        out.sent.width = s.frameWidth ?? out.sent.width;
        out.sent.height = s.frameHeight ?? out.sent.height;
        out.sent.fps = s.framesPerSecond ?? out.sent.fps;
        out.sent.codec = codec(s.codecId) ?? out.sent.codec;
      }
    } else if (s.type === 'remote-inbound-rtp' && out.rtt === null &&
               typeof s.roundTripTime === 'number') {
      out.rtt = s.roundTripTime * 1000; // Firefox: no RTT on the candidate pair
    }
  });
  // Firefox's candidate pair has no byte counters on some versions: use the RTP totals.
  if (!out.bytesReceived) out.bytesReceived = inBytes;
  if (!out.bytesSent) out.bytesSent = outBytes;
  return out;
}

// Every candidate pair of @report, for diagnosing which pairs ICE tried and why it selected the
// one it did: [{selected, state, nominated, priority, requestsSent, responsesReceived, rtt (ms or
// null), local and remote: {type, protocol, relayProtocol (a local relay candidate's, else
// null)}}], the selected pair first, then by priority. No addresses.
export function pairs(report) {
  const sel = selectedPair(report);
  const cand = (id) => {
    const c = id && report.get(id);
    const type = c?.candidateType ?? null;
    return {
      type,
      protocol: c?.protocol ?? null,
      relayProtocol: type === 'relay' ? (c?.relayProtocol ?? relayFromUrl(c?.url) ?? null) : null,
    };
  };
  const out = [];
  report.forEach((s) => {
    if (s.type !== 'candidate-pair') return;
    out.push({
      selected: s.id === sel?.id,
      state: s.state ?? null,
      nominated: !!s.nominated,
      priority: s.priority ?? null,
      requestsSent: s.requestsSent ?? 0,
      responsesReceived: s.responsesReceived ?? 0,
      rtt: typeof s.currentRoundTripTime === 'number' ? s.currentRoundTripTime * 1000 : null,
      local: cand(s.localCandidateId),
      remote: cand(s.remoteCandidateId),
    });
  });
  return out.sort((a, b) => (b.selected - a.selected) || ((b.priority ?? 0) - (a.priority ?? 0)));
}

function relayFromUrl(url) {
  if (!url) return null;
  if (url.startsWith('turns:')) return 'tls';
  const m = /transport=(udp|tcp)/.exec(url);
  return m ? m[1] : null;
}

// 'relayed' if either end of the pair is a TURN relay candidate, 'direct' otherwise, null if no
// pair is selected yet.
export function route(summary) {
  if (!summary.localCandidateType) return null;
  return summary.localCandidateType === 'relay' || summary.remoteCandidateType === 'relay'
    ? 'relayed'
    : 'direct';
}

// Adds rates to @now from the previous sample @prev: kbpsIn, kbpsOut, lossPct (video+audio
// packets lost over the interval, %).
export function withRates(now, prev) {
  const out = { ...now, kbpsIn: null, kbpsOut: null, lossPct: null };
  if (!prev) return out;
  const secs = (now.time - prev.time) / 1000;
  if (secs <= 0.2) return { ...out, kbpsIn: prev.kbpsIn ?? null, kbpsOut: prev.kbpsOut ?? null, lossPct: prev.lossPct ?? null };
  out.kbpsIn = Math.max(0, ((now.bytesReceived - prev.bytesReceived) * 8) / 1000 / secs);
  out.kbpsOut = Math.max(0, ((now.bytesSent - prev.bytesSent) * 8) / 1000 / secs);
  const lost = now.video.lost + now.audio.lost - prev.video.lost - prev.audio.lost;
  const recv = now.video.received + now.audio.received - prev.video.received - prev.audio.received;
  out.lossPct = lost + recv > 0 ? (100 * Math.max(0, lost)) / (Math.max(0, lost) + Math.max(0, recv)) : 0;
  return out;
}
