// stats: reads what matters to a person (and to the end-to-end test) out of an RTCStatsReport.

// The candidate pair in use: the transport's selectedCandidatePairId, or failing that (older
// browsers, Firefox) the nominated pair that succeeded. Returns undefined before ICE connects.
export function selectedPair(report) {
  let pair;
  report.forEach((s) => {
    if (!pair && s.type === 'transport' && s.selectedCandidatePairId) {
      pair = report.get(s.selectedCandidatePairId);
    }
  });
  if (pair) return pair;
  report.forEach((s) => {
    if (!pair && s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
  });
  return pair;
}

// {localCandidateType, remoteCandidateType, relayProtocol, bytesReceived, bytesSent,
//  framesDecoded}. Candidate fields are null before a pair is selected; counters start at 0.
// relayProtocol is the protocol between the browser and the TURN server (udp/tcp/tls), set only
// when the local candidate is a relay candidate.
export function summarize(report) {
  const out = {
    localCandidateType: null,
    remoteCandidateType: null,
    relayProtocol: null,
    bytesReceived: 0,
    bytesSent: 0,
    framesDecoded: 0,
  };
  const pair = selectedPair(report);
  if (pair) {
    const local = report.get(pair.localCandidateId);
    const remote = report.get(pair.remoteCandidateId);
    out.localCandidateType = local?.candidateType ?? null;
    out.remoteCandidateType = remote?.candidateType ?? null;
    out.relayProtocol = local?.relayProtocol ?? null;
    out.bytesReceived = pair.bytesReceived ?? 0;
    out.bytesSent = pair.bytesSent ?? 0;
  }
  report.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') out.framesDecoded += s.framesDecoded ?? 0;
  });
  return out;
}

// 'relayed' if either end of the pair is a TURN relay candidate, 'direct' otherwise, null if no
// pair is selected yet.
export function route(summary) {
  if (!summary.localCandidateType) return null;
  return summary.localCandidateType === 'relay' || summary.remoteCandidateType === 'relay'
    ? 'relayed'
    : 'direct';
}
