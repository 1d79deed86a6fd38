// call: the media side of a call. One RTCPeerConnection per remote peer, in a Map keyed by the
// peer's signaling id.
//
// Who offers: the page that arrives offers to everyone already there (welcome.peers); the others
// answer. That includes a page that resumes a participant in a new tab: each page has a random
// `instance` id sent with every signal, and an offer from a new instance of a peer replaces the
// old connection. Only the offerer ever sends offers (first offer and ICE restarts); the answerer
// asks it for a restart with {restart: true}. So there is no glare.
//
// Every connection has an audio and a video transceiver in sendrecv from the start, whether or
// not this person sends anything: turning the camera on later, switching devices and sharing the
// screen are all RTCRtpSender.replaceTrack(), never a renegotiation. Two negotiated data
// channels ride along: "chat" (id 0: text, reactions, notices) and "files" (id 1: file chunks).
//
// Reconnection: when a connection goes disconnected (for RESTART_AFTER_MS) or failed, the
// offerer restarts ICE, and keeps trying with backoff while the call lasts; restartAll() does it
// at once for every connection that is not connected (after the signaling socket came back or
// the network changed).
//
// Each peer applies its signals one at a time on a promise chain, so a candidate can never race
// the description it belongs to; remote candidates that arrive before the remote description are
// queued and added right after it.

import { pairs, route, summarize, withRates } from './stats.js';

const STATS_INTERVAL_MS = 2000;
const RESTART_AFTER_MS = 2500;
const RESTART_BACKOFF_MS = [4000, 8000, 15000];

const QUALITY = {
  low: { maxBitrate: 150_000, scaleResolutionDownBy: 4, maxFramerate: 15 },
  high: { maxBitrate: 2_500_000, scaleResolutionDownBy: 1 },
  auto: { scaleResolutionDownBy: 1 },
};

export class Call {
  #peers = new Map();
  #opts;
  #timer;
  #quality = 'auto';
  instance = randomId();

  // opts: {
  //   iceServers: [RTCIceServer], relayOnly: bool, media: LocalMedia,
  //   send(to, data)       -- hands an opaque signal to the signaling channel,
  //   onchange()           -- a peer was added/removed or its connection state or route changed,
  //   ontrack(id, stream)  -- a remote track arrived or changed (stream is the same for a peer),
  //   onremove(id)         -- a peer's connection was closed and should leave the screen,
  //   onchannels(id, {chat, files}) -- a new connection's data channels (open later),
  //   onerror(text)        -- something went wrong that the person should see.
  // }
  constructor(opts) {
    this.#opts = opts;
    this.#timer = setInterval(() => this.#refreshRoutes(), STATS_INTERVAL_MS);
  }

  set iceServers(list) {
    this.#opts.iceServers = list;
  }

  // A fresh page: offer to everyone who is in the room.
  connect(ids) {
    for (const id of ids) {
      if (this.#peers.has(id)) continue;
      this.#offer(this.#peer(id, true));
    }
  }

  // `peer-joined`: prepare a connection and wait for the newcomer's offer.
  add(id) {
    if (this.#peers.has(id)) this.remove(id); // joined afresh after its grace ran out
    this.#peer(id, false);
    this.#opts.onchange();
  }

  // `peer-left`, or our own teardown of one peer.
  remove(id) {
    const peer = this.#peers.get(id);
    if (!peer) return;
    this.#peers.delete(id);
    clearTimeout(peer.restartTimer);
    peer.pc.close();
    this.#opts.onremove(id);
    this.#opts.onchange();
  }

  has(id) {
    return this.#peers.has(id);
  }

  // `signal` from @from: {description} | {candidate} | {restart}, with the sender's instance.
  signal(from, data) {
    if (!data || typeof data !== 'object') return;
    let peer = this.#peers.get(from);
    if (peer && data.instance && peer.remoteInstance && data.instance !== peer.remoteInstance) {
      // Another page of that participant (a reload, another tab): only its offer counts; what
      // the old page sent is stale.
      if (data.description?.type !== 'offer') {
        if (data.restart && peer.offerer) {
          this.#replace(peer, true);
        }
        return;
      }
      peer = this.#replace(peer, false);
    }
    if (!peer) peer = this.#peer(from, false);
    peer.remoteInstance ??= data.instance ?? null;
    if (data.restart) {
      if (peer.offerer) this.#restart(peer, 'asked by the other side');
      return;
    }
    this.#enqueue(peer, () => this.#apply(peer, data));
  }

  // Swaps the track of @kind on every connection (camera switch, screen share, camera on).
  replaceTrack(kind, track) {
    for (const peer of this.#peers.values()) {
      const t = peer.transceivers[kind];
      if (!t) continue;
      t.sender.replaceTrack(track).catch((err) => console.warn('tincan: replaceTrack', err));
      if (kind === 'video') this.#applyQuality(t.sender);
    }
  }

  // 'low' | 'auto' | 'high': the most this page sends (RTCRtpSender.setParameters).
  setQuality(q) {
    this.#quality = QUALITY[q] ? q : 'auto';
    for (const peer of this.#peers.values()) {
      const t = peer.transceivers.video;
      if (t) this.#applyQuality(t.sender);
    }
  }

  get quality() {
    return this.#quality;
  }

  // ICE restart now for every connection that is not connected (the signaling socket is back,
  // or the network changed). @force: for connected ones too (a network change may have left a
  // connection on a path that no longer exists, which ICE notices only after seconds).
  restartAll(reason, { force = false } = {}) {
    for (const peer of this.#peers.values()) {
      if (force || connState(peer.pc) !== 'connected') this.#restart(peer, reason, true);
    }
  }

  // After the signaling socket resumed: peers that left meanwhile go.
  reconcile(ids) {
    for (const id of [...this.#peers.keys()]) {
      if (!ids.includes(id)) this.remove(id);
    }
  }

  // [{id, state, route, videoMuted}] where state is the RTCPeerConnection's connectionState and
  // route is 'relayed' | 'direct' | null (unknown yet).
  get peers() {
    return [...this.#peers.values()].map((p) => ({
      id: p.id,
      state: connState(p.pc),
      route: p.route,
      restarts: p.restarts,
    }));
  }

  // What each sender sends now, for tests and debugging: [{peer, kind, label}].
  senders() {
    const out = [];
    for (const peer of this.#peers.values()) {
      for (const [kind, t] of Object.entries(peer.transceivers)) {
        out.push({ peer: peer.id, kind, label: t.sender.track?.label ?? null });
      }
    }
    return out;
  }

  // The first video sender's encoding parameters (tests, debugging).
  videoParameters() {
    const peer = this.#peers.values().next().value;
    const enc = peer?.transceivers.video?.sender.getParameters().encodings?.[0];
    return enc ? { maxBitrate: enc.maxBitrate ?? null, scaleResolutionDownBy: enc.scaleResolutionDownBy ?? null } : null;
  }

  // The remote MediaStream of each peer.
  streams() {
    return [...this.#peers.values()].map((p) => ({ id: p.id, stream: p.stream }));
  }

  // Stats summary (see stats.js, with rates since the last call) for peer @id, or for the first
  // peer if @id is omitted; null if there is no such peer.
  async stats(id) {
    const peer = this.#peerOrFirst(id);
    if (!peer) return null;
    const now = summarize(await peer.pc.getStats());
    const out = withRates(now, peer.lastStats);
    if (!peer.lastStats || now.time - peer.lastStats.time > 200) peer.lastStats = out;
    return out;
  }

  // Every ICE candidate pair of the connection to peer @id (default: the first peer), see
  // stats.js pairs(); null if there is no such peer.
  async pairs(id) {
    const peer = this.#peerOrFirst(id);
    return peer ? pairs(await peer.pc.getStats()) : null;
  }

  // Peer @id, or the first peer if @id is omitted; undefined if there is none.
  #peerOrFirst(id) {
    return id === undefined ? this.#peers.values().next().value : this.#peers.get(id);
  }

  close() {
    clearInterval(this.#timer);
    for (const id of [...this.#peers.keys()]) this.remove(id);
  }

  // Replaces @old's connection with a new one (the other side is a new page): as answerer, or
  // as offerer (@offer) when the new page asked us to restart.
  #replace(old, offer) {
    this.#peers.delete(old.id);
    clearTimeout(old.restartTimer);
    old.pc.close();
    const peer = this.#peer(old.id, offer);
    if (offer) this.#offer(peer);
    return peer;
  }

  // Returns the peer with @id, creating its RTCPeerConnection if needed.
  #peer(id, offerer) {
    let peer = this.#peers.get(id);
    if (peer) return peer;

    const { iceServers, relayOnly, media } = this.#opts;
    const pc = new RTCPeerConnection({
      iceServers,
      iceTransportPolicy: relayOnly ? 'relay' : 'all',
      bundlePolicy: 'max-bundle',
    });
    peer = {
      id,
      pc,
      offerer,
      remoteInstance: null,
      pending: [],               // remote candidates waiting for the remote description
      chain: Promise.resolve(),  // signals applied in order
      stream: new MediaStream(), // what we show in this peer's tile
      transceivers: {},          // kind -> RTCRtpTransceiver
      route: null,
      state: null,               // last connection state seen
      restarts: 0,
      restartTimer: null,
      lastStats: null,
    };
    this.#peers.set(id, peer);

    const chat = pc.createDataChannel('chat', { negotiated: true, id: 0, ordered: true });
    const files = pc.createDataChannel('files', { negotiated: true, id: 1, ordered: true });
    files.binaryType = 'arraybuffer';
    this.#opts.onchannels?.(id, { chat, files });

    if (offerer) {
      for (const kind of ['audio', 'video']) {
        const track = kind === 'audio' ? media?.audioTrack : media?.videoTrack;
        const init = { direction: 'sendrecv' };
        if (media) init.streams = [media.stream];
        peer.transceivers[kind] = pc.addTransceiver(track ?? kind, init);
      }
    }

    pc.addEventListener('icecandidate', (ev) => {
      if (ev.candidate) this.#send(peer, { candidate: ev.candidate.toJSON() });
    });
    pc.addEventListener('track', (ev) => {
      const kind = ev.track.kind;
      for (const t of peer.stream.getTracks()) {
        if (t.kind === kind && t !== ev.track) peer.stream.removeTrack(t);
      }
      peer.stream.addTrack(ev.track);
      const changed = () => this.#opts.ontrack(id, peer.stream);
      ev.track.addEventListener('mute', changed);
      ev.track.addEventListener('unmute', changed);
      changed();
    });
    pc.addEventListener('connectionstatechange', () => this.#onStateChange(peer));
    pc.addEventListener('iceconnectionstatechange', () => this.#onStateChange(peer));
    return peer;
  }

  #send(peer, data) {
    this.#opts.send(peer.id, { ...data, instance: this.instance });
  }

  #enqueue(peer, step) {
    peer.chain = peer.chain.then(step).catch((err) => {
      if (peer.pc.signalingState === 'closed') return; // the peer left meanwhile
      console.error('tincan: signaling step failed', err);
      this.#opts.onerror(`Could not set up the connection: ${err.message || err}`);
    });
  }

  #offer(peer, iceRestart = false) {
    this.#enqueue(peer, async () => {
      const { pc } = peer;
      if (pc.signalingState === 'have-local-offer') {
        // An earlier offer got no answer (sent while offline): take it back first.
        await pc.setLocalDescription({ type: 'rollback' });
      }
      const offer = await pc.createOffer({ iceRestart });
      await pc.setLocalDescription(offer);
      this.#send(peer, { description: pc.localDescription.toJSON() });
    });
  }

  async #apply(peer, data) {
    const { pc } = peer;
    if (data.description) {
      const { type } = data.description;
      if (type === 'answer' && pc.signalingState !== 'have-local-offer') return; // stale answer
      if (type === 'offer' && pc.signalingState === 'have-local-offer') {
        await pc.setLocalDescription({ type: 'rollback' });
      }
      await pc.setRemoteDescription(data.description);
      for (const candidate of peer.pending.splice(0)) await addCandidate(pc, candidate);
      if (type === 'offer') {
        await this.#attachTracks(peer);
        const answer = await pc.createAnswer();
        await pc.setLocalDescription(answer);
        this.#send(peer, { description: pc.localDescription.toJSON() });
      }
      if (peer.transceivers.video) this.#applyQuality(peer.transceivers.video.sender);
    } else if (data.candidate) {
      if (pc.remoteDescription) await addCandidate(pc, data.candidate);
      else peer.pending.push(data.candidate);
    }
  }

  // Answerer: send on the offered transceivers, in both directions always.
  async #attachTracks(peer) {
    const { media } = this.#opts;
    for (const t of peer.pc.getTransceivers()) {
      const kind = t.receiver.track?.kind;
      if (!kind || peer.transceivers[kind]) continue;
      peer.transceivers[kind] = t;
      t.direction = 'sendrecv';
      const track = kind === 'audio' ? media?.audioTrack : media?.videoTrack;
      if (track) {
        await t.sender.replaceTrack(track);
        if (media && t.sender.setStreams) t.sender.setStreams(media.stream);
      }
    }
  }

  async #applyQuality(sender) {
    try {
      const params = sender.getParameters();
      if (!params.encodings || !params.encodings.length) return; // before negotiation
      const enc = params.encodings[0];
      delete enc.maxBitrate;
      delete enc.maxFramerate;
      Object.assign(enc, QUALITY[this.#quality]);
      await sender.setParameters(params);
    } catch (err) {
      console.warn('tincan: could not set the video quality', err);
    }
  }

  #onStateChange(peer) {
    const state = connState(peer.pc);
    if (state === peer.state) return; // both state events fired for one change
    peer.state = state;
    if (state !== 'connected') peer.route = null;
    if (state === 'connected') {
      clearTimeout(peer.restartTimer);
      peer.restartTimer = null;
      peer.backoff = 0;
      this.#refreshRoute(peer);
      if (peer.transceivers.video) this.#applyQuality(peer.transceivers.video.sender);
    } else if (state === 'disconnected') {
      // Often back by itself within a second or two (a Wi-Fi hiccup); restart if not.
      this.#scheduleRestart(peer, RESTART_AFTER_MS);
    } else if (state === 'failed') {
      this.#restart(peer, 'connection failed');
    }
    this.#opts.onchange();
  }

  #scheduleRestart(peer, ms) {
    clearTimeout(peer.restartTimer);
    peer.restartTimer = setTimeout(() => {
      peer.restartTimer = null;
      if (this.#peers.get(peer.id) !== peer) return;
      if (connState(peer.pc) !== 'connected') this.#restart(peer, 'still not connected');
    }, ms);
  }

  // ICE restart (offerer) or a request for one (answerer), then check again later.
  #restart(peer, reason, now = false) {
    if (this.#peers.get(peer.id) !== peer || peer.pc.signalingState === 'closed') return;
    console.info(`tincan: ICE restart with ${peer.id.slice(0, 6)}… (${reason})`);
    peer.restarts++;
    if (peer.offerer) this.#offer(peer, true);
    else this.#send(peer, { restart: true });
    const delay = RESTART_BACKOFF_MS[Math.min(peer.backoff ?? 0, RESTART_BACKOFF_MS.length - 1)];
    peer.backoff = (peer.backoff ?? 0) + 1;
    if (!now || connState(peer.pc) !== 'connected') this.#scheduleRestart(peer, delay);
    this.#opts.onchange();
  }

  #refreshRoutes() {
    for (const peer of this.#peers.values()) {
      if (connState(peer.pc) === 'connected') this.#refreshRoute(peer);
    }
  }

  async #refreshRoute(peer) {
    try {
      const r = route(summarize(await peer.pc.getStats()));
      if (r !== peer.route) {
        peer.route = r;
        this.#opts.onchange();
      }
    } catch {
      // getStats on a closed connection; the peer is gone.
    }
  }
}

// connectionState where supported, else the ICE state (same names for the ones we show).
function connState(pc) {
  return pc.connectionState ?? pc.iceConnectionState;
}

function randomId() {
  const a = new Uint8Array(9);
  crypto.getRandomValues(a);
  return btoa(String.fromCharCode(...a)).replace(/\+/g, '-').replace(/\//g, '_');
}

// A malformed remote candidate must not stop the peer's signal chain.
async function addCandidate(pc, candidate) {
  try {
    await pc.addIceCandidate(candidate);
  } catch (err) {
    console.warn('tincan: ignoring a remote ICE candidate', err);
  }
}
