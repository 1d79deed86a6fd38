// A minimal TURN client for the API tests (RFC 8489 / RFC 8656 over UDP): enough to allocate and
// refresh with the long-term credential mechanism. Independent of tincan's C codec on purpose:
// the tests should not trust the code they test.
import crypto from 'node:crypto';
import dgram from 'node:dgram';

const COOKIE = 0x2112a442;
export const ALLOCATE = 0x003;
export const REFRESH = 0x004;
export const SEND = 0x006;
export const DATA = 0x007;
export const CREATE_PERMISSION = 0x008;
const ATTR = {
  USERNAME: 0x0006, MESSAGE_INTEGRITY: 0x0008, ERROR_CODE: 0x0009, LIFETIME: 0x000d,
  XOR_PEER_ADDRESS: 0x0012, DATA: 0x0013,
  REALM: 0x0014, NONCE: 0x0015, XOR_RELAYED_ADDRESS: 0x0016, REQUESTED_TRANSPORT: 0x0019,
};

function attr(type, value) {
  const pad = (4 - (value.length % 4)) % 4;
  const b = Buffer.alloc(4 + value.length + pad);
  b.writeUInt16BE(type, 0);
  b.writeUInt16BE(value.length, 2);
  value.copy(b, 4);
  return b;
}

function u32(v) {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}

// XOR-MAPPED-ADDRESS style value for IPv4 @ip:@port (RFC 8489 §14.2).
function xorAddr(ip, port) {
  const b = Buffer.alloc(8);
  b[1] = 0x01;
  b.writeUInt16BE(port ^ (COOKIE >>> 16), 2);
  const n = ip.split('.').reduce((a, x) => (a << 8) + Number(x), 0) >>> 0;
  b.writeUInt32BE((n ^ COOKIE) >>> 0, 4);
  return b;
}

function unxorAddr(v) {
  const port = v.readUInt16BE(2) ^ (COOKIE >>> 16);
  const n = (v.readUInt32BE(4) ^ COOKIE) >>> 0;
  return { ip: [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.'), port };
}

// Encodes a request of @method (class 0) with @attrs; with @key, appends MESSAGE-INTEGRITY
// (HMAC-SHA1 over the message, header length counting the MI attribute, RFC 8489 §14.5).
export function request(method, attrs, key) {
  const tid = crypto.randomBytes(12);
  const body = Buffer.concat(attrs);
  const head = Buffer.alloc(20);
  head.writeUInt16BE(method & 0x3eef, 0); // request class: C0 = C1 = 0
  head.writeUInt32BE(COOKIE, 4);
  tid.copy(head, 8);
  if (!key) {
    head.writeUInt16BE(body.length, 2);
    return { tid, bytes: Buffer.concat([head, body]) };
  }
  head.writeUInt16BE(body.length + 24, 2);
  const mac = crypto.createHmac('sha1', key).update(Buffer.concat([head, body])).digest();
  return { tid, bytes: Buffer.concat([head, body, attr(ATTR.MESSAGE_INTEGRITY, mac)]) };
}

// Decodes a response: {cls: 'success'|'error', method, tid, error, realm, nonce, lifetime}.
export function parse(b) {
  const type = b.readUInt16BE(0);
  const len = b.readUInt16BE(2);
  const out = { method: type & 0x3eef, cls: (type & 0x0110) === 0x0100 ? 'success' : (type & 0x0110) === 0x0110 ? 'error' : 'other', tid: b.subarray(8, 20) };
  for (let off = 20; off + 4 <= 20 + len;) {
    const t = b.readUInt16BE(off), l = b.readUInt16BE(off + 2), v = b.subarray(off + 4, off + 4 + l);
    if (t === ATTR.ERROR_CODE) out.error = (v[2] & 7) * 100 + v[3];
    else if (t === ATTR.REALM) out.realm = v.toString();
    else if (t === ATTR.NONCE) out.nonce = v.toString();
    else if (t === ATTR.LIFETIME) out.lifetime = v.readUInt32BE(0);
    else if (t === ATTR.XOR_RELAYED_ADDRESS) {
      out.relayed = true;
      if (v[1] === 0x01) out.relayedAddr = unxorAddr(v);
    } else if (t === ATTR.XOR_PEER_ADDRESS && v[1] === 0x01) out.peer = unxorAddr(v);
    else if (t === ATTR.DATA) out.data = Buffer.from(v);
    off += 4 + l + ((4 - (l % 4)) % 4);
  }
  return out;
}

// A UDP TURN client bound to its own port (its own 5-tuple) with one username/password.
export class TurnClient {
  constructor(host, port, username, password) {
    Object.assign(this, { host, port, username, password });
    this.sock = dgram.createSocket('udp4');
    this.pending = new Map();
    this.onData = null; // (peer {ip, port}, data Buffer) for each Data indication
    this.sock.on('message', (m) => {
      if (m.length < 20) return;
      const r = parse(m);
      if (r.method === DATA && (m.readUInt16BE(0) & 0x0110) === 0x0010) {
        if (this.onData) this.onData(r.peer, r.data);
        return;
      }
      const p = this.pending.get(r.tid.toString('hex'));
      if (p) p(r);
    });
  }

  // Sends one request and resolves its parsed response (rejects after @ms).
  transact(method, attrs, key, ms = 2000) {
    const { tid, bytes } = request(method, attrs, key);
    return new Promise((resolve, reject) => {
      const id = tid.toString('hex');
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error('no TURN response within ' + ms + ' ms'));
      }, ms);
      this.pending.set(id, (r) => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(r);
      });
      this.sock.send(bytes, this.port, this.host);
    });
  }

  // Sends @method with the long-term credential: first without, to learn REALM and NONCE (401),
  // then signed. Returns the signed request's response.
  async authed(method, attrs) {
    if (!this.nonce) {
      const r = await this.transact(method, attrs);
      if (r.error !== 401) return r;
      this.realm = r.realm;
      this.nonce = r.nonce;
    }
    const key = crypto.createHash('md5').update(`${this.username}:${this.realm}:${this.password}`).digest();
    const signed = [...attrs, attr(ATTR.USERNAME, Buffer.from(this.username)),
      attr(ATTR.REALM, Buffer.from(this.realm)), attr(ATTR.NONCE, Buffer.from(this.nonce))];
    return this.transact(method, signed, key);
  }

  allocate() {
    return this.authed(ALLOCATE, [attr(ATTR.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0]))]);
  }

  refresh(lifetime = 600) {
    return this.authed(REFRESH, [attr(ATTR.LIFETIME, u32(lifetime))]);
  }

  createPermission(ip, port = 0) {
    return this.authed(CREATE_PERMISSION, [attr(ATTR.XOR_PEER_ADDRESS, xorAddr(ip, port))]);
  }

  // Sends @data to the peer @ip:@port in a Send indication (no answer, RFC 8656 §10).
  sendTo(ip, port, data) {
    const { bytes } = request(SEND, [attr(ATTR.XOR_PEER_ADDRESS, xorAddr(ip, port)),
      attr(ATTR.DATA, Buffer.from(data))]);
    // An indication: class bits C0 = 1, C1 = 0.
    bytes.writeUInt16BE((SEND & 0x3eef) | 0x0010, 0);
    this.sock.send(bytes, this.port, this.host);
  }

  close() {
    this.sock.close();
  }
}
