// signaling: the /api/signal WebSocket (subprotocol tincan.v1), kept alive across network drops.
//
// Server -> client: welcome {id, peers, names, iceServers, resumed, token}, peer-joined {id,
// name}, peer-left {id}, signal {from, data}, token {token}, replaced, error, pong. Client ->
// server: signal {to, data}, ping, refresh (docs/api.md).
//
// A socket can die silently (Wi-Fi gone, laptop asleep): the page pings every PING_MS and
// declares the socket dead when nothing has arrived for DEAD_MS. Then, and when the socket
// closes by itself, it reconnects with backoff using the freshest token it has: the server keeps
// the participant's seat for rooms.reconnect_grace seconds, so the new socket resumes the same
// participant ("welcome" with resumed: true) and the others never see it leave. close() is the
// only way out for good: it closes with 1000, which the server takes as "I leave".
//
// Handlers: welcome(msg), 'peer-joined', 'peer-left', signal, error (server error frames),
// replaced() (another tab took over; no reconnecting), state(state) where state is 'connecting' |
// 'open' | 'reconnecting' | 'closed', and giveup({everConnected}) when a socket could not be
// opened REFUSED_LIMIT times in a row (the room may be gone or full, which a page cannot read
// from a refused WebSocket: the caller asks the REST API).

export const SUBPROTOCOL = 'tincan.v1';

const PING_MS = 5000;
const DEAD_MS = 12000;
const CONNECT_TIMEOUT_MS = 8000;
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];
const REFUSED_LIMIT = 3;      // fast failures before asking the caller (giveup)

export function signalUrl(token) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/api/signal?token=${encodeURIComponent(token)}`;
}

export class Signaling {
  #ws = null;
  #token;
  #handlers;
  #state = 'connecting';
  #closed = false;
  #attempt = 0;          // reconnect attempts since the last welcome
  #refused = 0;          // sockets that failed before opening, in a row
  #welcomed = false;     // at least one welcome on any socket
  #lastRx = 0;
  #pingTimer = null;
  #retryTimer = null;
  #connectTimer = null;
  #refreshTimer = null;

  constructor(token, handlers) {
    this.#token = token;
    this.#handlers = handlers;
    this.#open();
    this.onOnline = () => this.reconnectNow();
    window.addEventListener('online', this.onOnline);
  }

  get state() {
    return this.#state;
  }

  // The freshest join token (from the last welcome or token message).
  get token() {
    return this.#token;
  }

  // Sends opaque @data to peer @to. Dropped if the socket is not open: the call logic re-offers
  // after a reconnect, so nothing depends on a signal sent while offline.
  send(to, data) {
    this.#send({ type: 'signal', to, data });
  }

  // Reconnects at once (the browser says the network is back), unless the socket is healthy.
  reconnectNow() {
    if (this.#closed || this.#state === 'open') return;
    clearTimeout(this.#retryTimer);
    this.#attempt = 0;
    this.#drop();
    this.#open();
  }

  // Leaves for good (close code 1000: the server tells the others at once).
  close() {
    if (this.#closed) return;
    this.#closed = true;
    window.removeEventListener('online', this.onOnline);
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#refreshTimer);
    this.#stopTimers();
    if (this.#ws) {
      const ws = this.#ws;
      this.#ws = null;
      try { ws.close(1000, 'bye'); } catch { /* already closed */ }
    }
    this.#setState('closed');
  }

  #send(obj) {
    if (this.#ws?.readyState !== WebSocket.OPEN) return false;
    this.#ws.send(JSON.stringify(obj));
    return true;
  }

  #setState(state) {
    if (state === this.#state) return;
    this.#state = state;
    this.#handlers.state?.(state);
  }

  #open() {
    let ws;
    try {
      ws = new WebSocket(signalUrl(this.#token), SUBPROTOCOL);
    } catch (err) {
      console.warn('tincan: cannot open the signaling socket', err);
      this.#lost(false);
      return;
    }
    this.#ws = ws;
    let opened = false;
    this.#connectTimer = setTimeout(() => {
      if (this.#ws === ws && ws.readyState === WebSocket.CONNECTING) {
        console.warn('tincan: signaling socket did not open in time');
        this.#drop();
        this.#lost(false);
      }
    }, CONNECT_TIMEOUT_MS);
    ws.addEventListener('open', () => {
      if (this.#ws !== ws) return;
      opened = true;
      clearTimeout(this.#connectTimer);
      this.#lastRx = Date.now();
      this.#pingTimer = setInterval(() => this.#heartbeat(), PING_MS);
    });
    ws.addEventListener('message', (ev) => {
      if (this.#ws !== ws) return;
      this.#lastRx = Date.now();
      this.#onMessage(ev);
    });
    ws.addEventListener('close', (ev) => {
      if (this.#ws !== ws) return; // a socket we already gave up on
      this.#ws = null;
      this.#stopTimers();
      console.warn('tincan: signaling closed', ev.code, ev.reason);
      if (ev.code === 4001) return; // replaced: handled by the 'replaced' message
      this.#lost(opened);
    });
  }

  #heartbeat() {
    if (Date.now() - this.#lastRx > DEAD_MS) {
      console.warn(`tincan: nothing from the call server for ${DEAD_MS / 1000} s; reconnecting`);
      this.#drop();
      this.#lost(true);
      return;
    }
    this.#send({ type: 'ping' });
  }

  // Abandons the current socket without telling the server we leave (4000 is not 1000, so the
  // seat is kept if the close frame gets through at all).
  #drop() {
    const ws = this.#ws;
    this.#ws = null;
    this.#stopTimers();
    if (ws) {
      try { ws.close(4000, 'reconnecting'); } catch { /* ignore */ }
    }
  }

  #stopTimers() {
    clearInterval(this.#pingTimer);
    clearTimeout(this.#connectTimer);
    this.#pingTimer = null;
  }

  // The socket is gone (@opened: it had been open). Retry with backoff.
  #lost(opened) {
    if (this.#closed) return;
    if (!opened) this.#refused++;
    // Before the first welcome one refusal is enough to ask (the room may be full or gone).
    if (this.#refused >= (this.#welcomed ? REFUSED_LIMIT : 1) && this.#handlers.giveup) {
      this.#refused = 0;
      // The caller decides: the room may be gone (404), full (409) or the token expired (401).
      if (this.#handlers.giveup({ everConnected: this.#welcomed }) === false) return;
    }
    this.#setState(this.#welcomed ? 'reconnecting' : 'connecting');
    const delay = BACKOFF_MS[Math.min(this.#attempt, BACKOFF_MS.length - 1)];
    this.#attempt++;
    const jitter = Math.random() * 0.3 * delay;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => this.#open(), delay + jitter);
  }

  // Keeps a valid token for reconnecting: ask for a fresh one at 3/4 of its lifetime.
  #scheduleRefresh(expiresIn) {
    clearTimeout(this.#refreshTimer);
    if (!expiresIn) return;
    this.#refreshTimer = setTimeout(() => this.#send({ type: 'refresh' }), expiresIn * 750);
  }

  #onMessage(ev) {
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      console.warn('tincan: ignoring a signaling frame that is not JSON');
      return;
    }
    if (!msg || typeof msg.type !== 'string') return;
    if (msg.token) {
      this.#token = msg.token;
      this.#scheduleRefresh(msg.expires_in);
    }
    switch (msg.type) {
      case 'welcome':
        this.#welcomed = true;
        this.#attempt = 0;
        this.#refused = 0;
        this.#setState('open');
        break;
      case 'replaced':
        this.#closed = true;
        this.#stopTimers();
        window.removeEventListener('online', this.onOnline);
        this.#setState('closed');
        break;
      case 'pong':
      case 'token':
        return;
      default:
        break;
    }
    const handler = this.#handlers[msg.type];
    if (handler) handler(msg);
  }
}
