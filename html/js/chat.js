// chat: text, reactions, notices and files over the peers' data channels, end to end (the
// server never sees any of it and stores nothing). No DOM here: ui/chat.js shows it.
//
// Channel "chat" carries JSON text: {t:'msg', id, text}, {t:'react', emoji}, {t:'state', mic,
// cam, sharing}, {t:'recording', on}. Channel "files" carries one file at a time per direction:
// a JSON text {t:'file', id, name, size, type}, then the bytes in CHUNK-sized binary messages,
// then {t:'end', id, sha256}. The receiver hashes what arrived and says whether it matches.
// Sending honours backpressure: it waits for 'bufferedamountlow' when more than HIGH_WATER bytes
// are queued, so a large file never fills the browser's memory or starves the connection.

const CHUNK = 16 * 1024;          // safe message size across browsers
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
export const MAX_FILE = 512 * 1024 * 1024;

export class Chat {
  #links = new Map();   // peer id -> {chat, files, incoming}
  #queue = Promise.resolve();  // outgoing files, one after the other
  #on;

  // on: { message(from, {id, text}), reaction(from, emoji), state(from, {mic, cam, sharing}),
  //       recording(from, on), open(id) (a peer's chat channel opened: send it our state),
  //       file(from, transfer) and progress(transfer) where transfer is
  //       {id, name, size, type, done, direction: 'in'|'out', peer, status, blob, sha256, ok} }
  constructor(on) {
    this.#on = on;
  }

  // A peer connection's channels (Call's onchannels). Replaces the peer's previous ones.
  attach(id, { chat, files }) {
    const link = { chat, files, incoming: null };
    this.#links.set(id, link);
    chat.addEventListener('open', () => this.#on.open?.(id));
    chat.addEventListener('message', (ev) => this.#onChat(id, ev.data));
    files.bufferedAmountLowThreshold = LOW_WATER;
    files.addEventListener('message', (ev) => this.#onFile(id, link, ev.data));
  }

  detach(id) {
    this.#links.delete(id);
  }

  // Peers whose chat channel is open now.
  get openPeers() {
    return [...this.#links].filter(([, l]) => l.chat.readyState === 'open').map(([id]) => id);
  }

  // Sends @obj to every open chat channel (or to @to only). Returns how many got it.
  #broadcast(obj, to) {
    const text = JSON.stringify(obj);
    let n = 0;
    for (const [id, link] of this.#links) {
      if (to && id !== to) continue;
      if (link.chat.readyState !== 'open') continue;
      link.chat.send(text);
      n++;
    }
    return n;
  }

  sendText(text) {
    return this.#broadcast({ t: 'msg', id: randomId(), text: String(text).slice(0, 4000) });
  }

  react(emoji) {
    return this.#broadcast({ t: 'react', emoji: String(emoji).slice(0, 16) });
  }

  sendState(state, to) {
    return this.#broadcast({ t: 'state', ...state }, to);
  }

  sendRecording(on) {
    return this.#broadcast({ t: 'recording', on: Boolean(on) });
  }

  // Sends @file to every peer whose channel is open, after the files before it. Returns the
  // transfers (one per peer); progress comes through on.progress.
  sendFile(file) {
    const transfers = [];
    for (const [id, link] of this.#links) {
      if (link.files.readyState !== 'open') continue;
      const t = { id: randomId(), name: file.name, size: file.size, type: file.type, done: 0,
        direction: 'out', peer: id, status: 'waiting' };
      transfers.push(t);
      this.#queue = this.#queue.then(() => this.#sendFileTo(link, file, t)).catch((err) => {
        t.status = 'failed';
        t.error = err.message;
        this.#on.progress?.(t);
      });
      this.#on.progress?.(t);
    }
    return transfers;
  }

  async #sendFileTo(link, file, t) {
    const ch = link.files;
    const digest = sha256(file);
    t.status = 'sending';
    ch.send(JSON.stringify({ t: 'file', id: t.id, name: file.name, size: file.size, type: file.type }));
    let last = 0;
    for (let off = 0; off < file.size; off += CHUNK) {
      if (ch.readyState !== 'open') throw new Error('the connection closed');
      if (ch.bufferedAmount > HIGH_WATER) await drained(ch);
      const buf = await file.slice(off, off + CHUNK).arrayBuffer();
      ch.send(buf);
      t.done = Math.max(0, off + buf.byteLength - ch.bufferedAmount);
      if (performance.now() - last > 100) {
        last = performance.now();
        this.#on.progress?.(t);
      }
    }
    t.sha256 = await digest;
    ch.send(JSON.stringify({ t: 'end', id: t.id, sha256: t.sha256 }));
    while (ch.bufferedAmount > 0 && ch.readyState === 'open') {
      t.done = file.size - ch.bufferedAmount;
      this.#on.progress?.(t);
      await sleep(100);
    }
    t.done = file.size;
    t.status = 'sent';
    this.#on.progress?.(t);
  }

  #onChat(from, data) {
    if (typeof data !== 'string') return;
    let m;
    try {
      m = JSON.parse(data);
    } catch {
      return;
    }
    switch (m?.t) {
      case 'msg':
        if (typeof m.text === 'string') this.#on.message?.(from, { id: m.id, text: m.text.slice(0, 4000) });
        break;
      case 'react':
        if (typeof m.emoji === 'string') this.#on.reaction?.(from, m.emoji.slice(0, 16));
        break;
      case 'state':
        this.#on.state?.(from, { mic: m.mic !== false, cam: m.cam !== false, sharing: Boolean(m.sharing) });
        break;
      case 'recording':
        this.#on.recording?.(from, Boolean(m.on));
        break;
      default:
        break; // newer pages may send more
    }
  }

  #onFile(from, link, data) {
    if (typeof data === 'string') {
      let m;
      try {
        m = JSON.parse(data);
      } catch {
        return;
      }
      if (m.t === 'file') {
        const size = Number(m.size);
        if (!(size >= 0 && size <= MAX_FILE)) return;
        link.incoming = { id: m.id, name: String(m.name).slice(0, 255) || 'file', size,
          type: String(m.type || ''), done: 0, direction: 'in', peer: from, status: 'receiving',
          parts: [] };
        this.#on.file?.(from, link.incoming);
      } else if (m.t === 'end' && link.incoming && link.incoming.id === m.id) {
        const t = link.incoming;
        link.incoming = null;
        this.#finish(t, m.sha256);
      }
      return;
    }
    const t = link.incoming;
    if (!t) return;
    t.parts.push(data);
    t.done += data.byteLength;
    if (t.done > t.size) {
      t.status = 'failed';
      t.error = 'more bytes than announced';
      link.incoming = null;
      this.#on.progress?.(t);
      return;
    }
    const now = performance.now();
    if (!t.shown || now - t.shown > 100 || t.done === t.size) {
      t.shown = now;
      this.#on.progress?.(t);
    }
  }

  async #finish(t, expected) {
    t.blob = new Blob(t.parts, { type: t.type || 'application/octet-stream' });
    t.parts = null;
    t.sha256 = await sha256(t.blob);
    t.ok = t.done === t.size && t.sha256 === expected;
    t.status = t.ok ? 'received' : 'failed';
    if (!t.ok) t.error = 'the file arrived damaged (checksum mismatch)';
    this.#on.progress?.(t);
  }
}

// Resolves when @ch's buffer has drained below its low-water mark (or it closed).
function drained(ch) {
  return new Promise((resolve) => {
    const done = () => {
      ch.removeEventListener('bufferedamountlow', done);
      ch.removeEventListener('close', done);
      resolve();
    };
    ch.addEventListener('bufferedamountlow', done);
    ch.addEventListener('close', done);
  });
}

// Hex SHA-256 of a Blob.
export async function sha256(blob) {
  const buf = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function randomId() {
  const a = new Uint8Array(6);
  crypto.getRandomValues(a);
  return [...a].map((b) => b.toString(16).padStart(2, '0')).join('');
}
