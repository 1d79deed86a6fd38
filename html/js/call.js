// call: the media side of a call. One RTCPeerConnection per remote peer, in a Map keyed by the
// peer's signaling id (room capacity is 2 by default, but nothing here assumes it).
//
// Roles are fixed by the signaling contract, so there is no offer glare: the newcomer offers to
// every peer listed in `welcome`; a peer that was already in the room only answers. Mic and camera
// toggles flip track.enabled and never renegotiate. The only later offer is an ICE restart by the
// offerer after its connection failed.
//
// Each peer applies its signals one at a time on a promise chain, so a candidate can never race
// the description it belongs to; remote candidates that arrive before the remote description are
// queued and added right after it.

import { summarize, route } from './stats.js';

const STATS_INTERVAL_MS = 2000;
const MAX_ICE_RESTARTS = 2;

export class Call {
  #peers = new Map();
  #opts;
  #timer;

  // opts: {
  //   iceServers: [RTCIceServer], relayOnly: bool, localStream: MediaStream or null,
  //   send(to, data)       -- hands an opaque signal to the signaling channel,
  //   onchange()           -- a peer was added/removed or its connection state or route changed,
  //   ontrack(id, stream)  -- a remote track arrived (stream is the same object for a peer),
  //   onremove(id)         -- a peer's connection was closed and should leave the screen,
  //   onerror(text)        -- something went wrong that the person should see.
  // }
  constructor(opts) {
    this.#opts = opts;
    this.#timer = setInterval(() => this.#refreshRoutes(), STATS_INTERVAL_MS);
  }

  // `welcome`: offer to everyone who was already in the room.
  connect(ids) {
    for (const id of ids) this.#offer(this.#peer(id, true));
  }

  // `peer-joined`: prepare a connection and wait for the newcomer's offer.
  add(id) {
    this.#peer(id, false);
    this.#opts.onchange();
  }

  // `peer-left`, or our own teardown of one peer.
  remove(id) {
    const peer = this.#peers.get(id);
    if (!peer) return;
    this.#peers.delete(id);
    peer.pc.close();
    this.#opts.onremove(id);
    this.#opts.onchange();
  }

  // `signal` from @from: {description} or {candidate}.
  signal(from, data) {
    if (!data || typeof data !== 'object') return;
    const peer = this.#peer(from, false);
    this.#enqueue(peer, () => this.#apply(peer, data));
  }

  // [{id, state, route}] where state is the RTCPeerConnection's connectionState and route is
  // 'relayed' | 'direct' | null (unknown yet).
  get peers() {
    return [...this.#peers.values()].map((p) => ({ id: p.id, state: connState(p.pc), route: p.route }));
  }

  // Stats summary (see stats.js) for peer @id, or for the first peer if @id is omitted; null if
  // there is no such peer.
  async stats(id) {
    const peer = id === undefined ? this.#peers.values().next().value : this.#peers.get(id);
    if (!peer) return null;
    return summarize(await peer.pc.getStats());
  }

  close() {
    clearInterval(this.#timer);
    for (const id of [...this.#peers.keys()]) this.remove(id);
  }

  // Returns the peer with @id, creating its RTCPeerConnection if needed.
  #peer(id, offerer) {
    let peer = this.#peers.get(id);
    if (peer) return peer;

    const { iceServers, relayOnly, localStream } = this.#opts;
    const pc = new RTCPeerConnection({
      iceServers,
      iceTransportPolicy: relayOnly ? 'relay' : 'all',
    });
    peer = {
      id,
      pc,
      offerer,
      pending: [],               // remote candidates waiting for the remote description
      chain: Promise.resolve(),  // signals applied in order
      stream: new MediaStream(), // what we show in this peer's <video>
      route: null,
      state: null,               // last connection state seen
      restarts: 0,
    };
    this.#peers.set(id, peer);

    // Send what we have; ask to receive what we lack, so a camera-less person still sees video.
    const tracks = localStream ? localStream.getTracks() : [];
    for (const track of tracks) pc.addTrack(track, localStream);
    if (offerer) {
      for (const kind of ['audio', 'video']) {
        if (!tracks.some((t) => t.kind === kind)) pc.addTransceiver(kind, { direction: 'recvonly' });
      }
    }

    pc.addEventListener('icecandidate', (ev) => {
      if (ev.candidate) this.#opts.send(id, { candidate: ev.candidate.toJSON() });
    });
    pc.addEventListener('track', (ev) => {
      peer.stream.addTrack(ev.track);
      this.#opts.ontrack(id, peer.stream);
    });
    pc.addEventListener('connectionstatechange', () => this.#onStateChange(peer));
    pc.addEventListener('iceconnectionstatechange', () => this.#onStateChange(peer));
    return peer;
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
      const offer = await peer.pc.createOffer({ iceRestart });
      await peer.pc.setLocalDescription(offer);
      this.#opts.send(peer.id, { description: peer.pc.localDescription.toJSON() });
    });
  }

  async #apply(peer, data) {
    const { pc } = peer;
    if (data.description) {
      await pc.setRemoteDescription(data.description);
      for (const candidate of peer.pending.splice(0)) await addCandidate(pc, candidate);
      if (data.description.type === 'offer') {
        const answer = await pc.createAnswer();
        await pc.setLocalDescription(answer);
        this.#opts.send(peer.id, { description: pc.localDescription.toJSON() });
      }
    } else if (data.candidate) {
      if (pc.remoteDescription) await addCandidate(pc, data.candidate);
      else peer.pending.push(data.candidate);
    }
  }

  #onStateChange(peer) {
    const state = connState(peer.pc);
    if (state === peer.state) return; // both state events fired for one change
    peer.state = state;
    if (state !== 'connected') peer.route = null;
    if (state === 'connected') this.#refreshRoute(peer);
    // The offerer retries a failed connection with an ICE restart (the answerer just answers).
    if (state === 'failed' && peer.offerer && peer.restarts < MAX_ICE_RESTARTS) {
      peer.restarts++;
      this.#offer(peer, true);
    }
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

// A malformed remote candidate must not stop the peer's signal chain.
async function addCandidate(pc, candidate) {
  try {
    await pc.addIceCandidate(candidate);
  } catch (err) {
    console.warn('tincan: ignoring a remote ICE candidate', err);
  }
}
