// signaling: the /api/signal WebSocket (subprotocol tincan.v1).
//
// Server -> client frames: welcome {id, peers, iceServers}, peer-joined {id}, peer-left {id},
// signal {from, data}, error {code, message}. Client -> server: signal {to, data}.
// Each parsed frame goes to the handler named by its type; unknown types are ignored so the server
// can add frames without breaking old pages. onclose is called once, and never after close().

export const SUBPROTOCOL = 'tincan.v1';

export function signalUrl(token) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/api/signal?token=${encodeURIComponent(token)}`;
}

export class Signaling {
  #ws;
  #handlers;
  #closedByUs = false;

  // handlers: { welcome(msg), 'peer-joined'(msg), 'peer-left'(msg), signal(msg), error(msg),
  //             close({code, reason}) }
  constructor(token, handlers) {
    this.#handlers = handlers;
    this.#ws = new WebSocket(signalUrl(token), SUBPROTOCOL);
    this.#ws.addEventListener('message', (ev) => this.#onMessage(ev));
    this.#ws.addEventListener('close', (ev) => {
      if (!this.#closedByUs) this.#handlers.close?.({ code: ev.code, reason: ev.reason });
    });
  }

  // 'connecting' | 'open' | 'closing' | 'closed'
  get state() {
    return ['connecting', 'open', 'closing', 'closed'][this.#ws.readyState];
  }

  // Sends opaque @data to peer @to. Dropped silently if the socket is not open.
  send(to, data) {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    this.#ws.send(JSON.stringify({ type: 'signal', to, data }));
  }

  close() {
    this.#closedByUs = true;
    this.#ws.close(1000, 'bye');
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
    const handler = this.#handlers[msg.type];
    if (handler) handler(msg);
  }
}
