// api: the tincand REST API (/api/...). Every function returns the parsed JSON body, or throws an
// ApiError carrying the HTTP status and the problem+json title/detail. Nothing here touches the DOM.

export class ApiError extends Error {
  constructor(status, title, detail) {
    super(detail || title || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status; // 0 when the server could not be reached
    this.title = title;
    this.detail = detail;
  }
}

async function request(method, path, { body, token } = {}) {
  const headers = { Accept: 'application/json, application/problem+json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;

  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (err) {
    throw new ApiError(0, 'Network error', 'Could not reach the call server.');
  }

  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON; keep json = null and fall through.
  }
  if (!res.ok) {
    throw new ApiError(res.status, json?.title ?? res.statusText, json?.detail ?? '');
  }
  if (json === null) throw new ApiError(res.status, 'Bad response', 'The server sent no JSON.');
  return json;
}

const roomPath = (room) => `/api/rooms/${encodeURIComponent(room)}`;

// GET /api/info -> {version, max_capacity, reconnect_grace, name_max, selftest}.
export function getInfo() {
  return request('GET', '/api/info');
}

// POST /api/rooms -> 201 {room, url, capacity}. An empty password means "no password"; capacity
// 0/undefined means the server's.
export function createRoom(password, capacity) {
  const body = {};
  if (password) body.password = password;
  if (capacity) body.capacity = capacity;
  return request('POST', '/api/rooms', { body });
}

// GET /api/rooms/<id> -> {room, password: bool, participants, capacity}; 404 if unknown.
export function getRoom(room) {
  return request('GET', roomPath(room));
}

// POST /api/rooms/<id>/join -> {token, expires_in, participant}; 401 wrong password, 409 full.
export function joinRoom(room, password, name) {
  const body = {};
  if (password) body.password = password;
  if (name) body.name = name;
  return request('POST', `${roomPath(room)}/join`, { body });
}

// POST /api/selftest -> {iceServers, ttl, ports: {turn, relay}}; 429 when asked too often.
export function selftest() {
  return request('POST', '/api/selftest', { body: {} });
}

// GET /api/ice-servers with the join token -> {iceServers: [RTCIceServer], ttl}.
export function getIceServers(token) {
  return request('GET', '/api/ice-servers', { token });
}
