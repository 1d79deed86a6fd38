// Shared helpers of the API tests. run.sh starts tincand and exports where it is.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import WebSocket from 'ws';

export const BASE = process.env.TINCAN_URL ?? 'http://127.0.0.1:21001';
export const LIMITS_BASE = process.env.TINCAN_LIMITS_URL ?? 'http://127.0.0.1:21051';
export const WS_BASE = BASE.replace(/^http/, 'ws');
export const TURN_SECRET = process.env.TINCAN_TURN_SECRET ?? '';
export const TOKEN_SECRET = process.env.TINCAN_TOKEN_SECRET ?? '';
export const TURN_HOST = process.env.TINCAN_TURN_HOST ?? '127.0.0.1';
export const TURN_PORT = Number(process.env.TINCAN_TURN_PORT ?? 21000);
export const CAPACITY = Number(process.env.TINCAN_CAPACITY ?? 2);
export const IDLE_TIMEOUT = Number(process.env.TINCAN_IDLE_TIMEOUT ?? 10);
export const MAX_ROOMS = Number(process.env.TINCAN_MAX_ROOMS ?? 3);
export const SUBPROTOCOL = 'tincan.v1';
export const ID_RE = /^[A-Za-z0-9_-]{22}$/;

// fetch() returning {status, headers, text, json}; @body: object (JSON-encoded) or string.
export async function http(method, path, { body, headers = {}, base = BASE } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(base + path, init);
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

// Asserts an RFC 9457 problem with @status.
export function assertProblem(res, status) {
  assert.equal(res.status, status, `status ${res.status}: ${res.text}`);
  assert.match(res.headers.get('content-type'), /^application\/problem\+json/);
  assert.equal(res.json.type, 'about:blank');
  assert.equal(res.json.status, status);
  assert.equal(typeof res.json.title, 'string');
  assert.ok(res.json.title.length > 0);
  assert.equal(typeof res.json.detail, 'string');
}

export async function createRoom(password, base = BASE) {
  const res = await http('POST', '/api/rooms', { body: password ? { password } : {}, base });
  assert.equal(res.status, 201, res.text);
  return res.json.room;
}

export async function joinRoom(room, password) {
  const res = await http('POST', `/api/rooms/${room}/join`, { body: password ? { password } : {} });
  assert.equal(res.status, 200, res.text);
  return res.json;
}

// A WebSocket with a message queue: await next() for the next parsed message.
export class Client {
  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.waiters = [];
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    ws.on('message', (data, isBinary) => {
      const msg = isBinary ? { binary: data } : JSON.parse(data.toString());
      const w = this.waiters.shift();
      if (w) w(msg);
      else this.queue.push(msg);
    });
  }

  next(timeoutMs = 3000) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(done), 1);
        reject(new Error('no message within ' + timeoutMs + ' ms'));
      }, timeoutMs);
      const done = (m) => {
        clearTimeout(timer);
        resolve(m);
      };
      this.waiters.push(done);
    });
  }

  // Resolves true if no message arrives within @ms.
  async quiet(ms = 200) {
    try {
      const m = await this.next(ms);
      this.queue.unshift(m);
      return false;
    } catch {
      return true;
    }
  }

  send(obj) {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  close() {
    this.ws.close(1000);
    return this.closed;
  }
}

// Opens the signaling socket. Resolves a Client once open, or rejects with err.status set to
// the HTTP status of a refused upgrade.
// @options go to ws's WebSocket (e.g. { autoPong: false }).
export function connect(token, { protocols = SUBPROTOCOL, query, options } = {}) {
  const url = `${WS_BASE}/api/signal?` + (query ?? `token=${encodeURIComponent(token)}`);
  return new Promise((resolve, reject) => {
    const ws = protocols === null ? new WebSocket(url, options) : new WebSocket(url, protocols, options);
    const client = new Client(ws);
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        const err = new Error(`upgrade refused: ${res.statusCode} ${body}`);
        err.status = res.statusCode;
        err.headers = res.headers;
        err.body = body;
        try {
          err.json = JSON.parse(body);
        } catch {
          err.json = undefined;
        }
        ws.terminate();
        reject(err);
      });
    });
    ws.once('error', reject);
  });
}

// Joins @room over REST and connects; resolves {client, welcome, participant, token}.
export async function enter(room, password, options) {
  const j = await joinRoom(room, password);
  const client = await connect(j.token, { options });
  const welcome = await client.next();
  assert.equal(welcome.type, 'welcome');
  return { client, welcome, participant: j.participant, token: j.token };
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');

// Signs @claims as an HS256 JWT with @secret (any RFC 7519 implementation would agree).
export function signJwt(claims, secret = TOKEN_SECRET, header = { alg: 'HS256', typ: 'JWT' }) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const sig = crypto.createHmac('sha256', secret).update(input).digest();
  return `${input}.${b64url(sig)}`;
}

export function decodeJwt(token) {
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString()),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString()),
  };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
