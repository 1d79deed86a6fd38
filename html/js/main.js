// main: the page's flow. Landing page (create a room) or /?room=<id> (join it), then
// token -> camera -> ICE servers -> signaling WebSocket -> call, and back out on leave.
//
// Diagnostic switch: ?relay=1 makes every RTCPeerConnection relay-only (iceTransportPolicy
// 'relay'), to check that the TURN relay works. It is kept when the creator joins their own room
// but is never put into the link that is shared.
//
// window.tincan = {state(), stats(id?)} is a read-only hook for tests and for people debugging a
// call from the console. It exposes nothing the page does not already show.

import * as api from './api.js';
import { Call } from './call.js';
import { Signaling } from './signaling.js';
import * as ui from './ui.js';

const { $ } = ui;
const params = new URLSearchParams(location.search);
const relayOnly = params.get('relay') === '1';

// The one call this page can be in. Reset by teardown().
const session = {
  room: null,
  password: '',          // what the person typed (or set when creating); sent on every join
  hasPassword: false,
  token: null,
  tokenExpiry: 0,        // ms since epoch
  localStream: null,
  restIceServers: [],
  signaling: null,
  welcomed: false,
  myId: null,
  call: null,
  peerLeft: false,
  state: 'idle',         // the call state last rendered, for window.tincan
};

// --- landing page ------------------------------------------------------------------------------

async function createRoom(ev) {
  ev.preventDefault();
  const button = $('start-call');
  ui.setBusy(button, true);
  ui.setText('create-error', '');
  try {
    const password = $('create-password').value;
    const res = await api.createRoom(password);
    session.room = res.room;
    session.password = password;
    const link = new URL(res.url || `/?room=${encodeURIComponent(res.room)}`, location.href).href;
    $('room-link').value = link;
    $('create-form').hidden = true;
    $('room-created').hidden = false;
    $('join-created').focus();
  } catch (err) {
    ui.setText('create-error', `Could not start a call: ${err.message}`);
  } finally {
    ui.setBusy(button, false);
  }
}

async function copyLink() {
  const input = $('room-link');
  try {
    await navigator.clipboard.writeText(input.value);
    ui.setText('copy-status', 'Link copied.');
  } catch {
    input.select();
    ui.setText('copy-status', 'Press Ctrl+C (or ⌘C) to copy the selected link.');
  }
}

function roomHref(room) {
  const q = new URLSearchParams({ room });
  if (relayOnly) q.set('relay', '1');
  return `${location.pathname}?${q}`;
}

// The creator's Join button: same page, now at the room's address.
function joinCreated() {
  history.pushState(null, '', roomHref(session.room));
  openRoom(session.room, { autoJoin: true });
}

// --- joining -----------------------------------------------------------------------------------

// Looks the room up and shows the join screen; with @autoJoin (creator, Rejoin) goes straight on.
async function openRoom(room, { autoJoin = false } = {}) {
  session.room = room;
  ui.show('loading', { focus: false });
  let info;
  try {
    info = await api.getRoom(room);
  } catch (err) {
    if (err.status === 404) {
      ui.showMessage('This call link is not valid or has ended',
        'Ask for a new link, or start a new call.');
    } else {
      ui.showMessage('Could not open the call', err.message, { rejoin: true });
    }
    return;
  }
  session.hasPassword = Boolean(info.password);
  $('password-row').hidden = !session.hasPassword;
  ui.setText('join-error', '');
  ui.setText('room-info', describeRoom(info));
  ui.show('join', { focus: !autoJoin });
  if (autoJoin) await join();
  else if (session.hasPassword) $('join-password').focus();
}

function describeRoom({ participants = 0, capacity }) {
  if (participants === 0) return 'Nobody is in the call yet.';
  const who = participants === 1 ? '1 person is' : `${participants} people are`;
  return capacity ? `${who} in the call (room for ${capacity}).` : `${who} in the call.`;
}

async function submitJoin(ev) {
  ev.preventDefault();
  if (session.hasPassword) session.password = $('join-password').value;
  await join();
}

// POST join -> token, then the camera. Failures land on the join screen, except 404.
async function join() {
  const button = $('join-button');
  ui.setBusy(button, true);
  ui.setText('join-error', '');
  try {
    if (!(await fetchToken())) return;
  } finally {
    ui.setBusy(button, false);
  }
  await startMedia();
}

// Gets a join token into session. Returns false (having shown why) if that failed.
async function fetchToken() {
  try {
    const res = await api.joinRoom(session.room, session.password);
    session.token = res.token;
    session.tokenExpiry = Date.now() + (res.expires_in ?? 60) * 1000;
    return true;
  } catch (err) {
    session.token = null;
    if (err.status === 404) {
      ui.showMessage('This call link is not valid or has ended',
        'Ask for a new link, or start a new call.');
      return false;
    }
    if (err.status === 401) {
      session.hasPassword = true;
      $('password-row').hidden = false;
      ui.setText('join-error', 'Wrong password');
    } else if (err.status === 409) {
      ui.setText('join-error', 'This call is full');
    } else {
      ui.setText('join-error', `Could not join: ${err.message}`);
    }
    ui.show('join', { focus: false });
    if (err.status === 401) $('join-password').select();
    else $('join-button').focus();
    return false;
  }
}

// --- camera and microphone -----------------------------------------------------------------------

async function startMedia() {
  ui.show('loading', { focus: false });
  let stream;
  try {
    stream = await getMedia();
  } catch (err) {
    console.warn('tincan: getUserMedia failed', err);
    ui.setText('media-error', mediaErrorText(err));
    ui.show('media-error');
    return;
  }
  await connect(stream);
}

// Camera and microphone; if one of them is missing, whichever exists.
async function getMedia() {
  const md = navigator.mediaDevices;
  if (!md?.getUserMedia) throw Object.assign(new Error('no mediaDevices'), { name: 'InsecureContext' });
  try {
    return await md.getUserMedia({ audio: true, video: true });
  } catch (err) {
    if (err.name !== 'NotFoundError' && err.name !== 'OverconstrainedError') throw err;
    for (const constraints of [{ audio: true }, { video: true }]) {
      try {
        return await md.getUserMedia(constraints);
      } catch {
        // try the next one
      }
    }
    throw err;
  }
}

function mediaErrorText(err) {
  switch (err.name) {
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera or microphone found.';
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Camera/microphone permission denied. Allow them for this site in the browser, then try again.';
    case 'NotReadableError':
      return 'Your camera or microphone is in use by another program.';
    case 'InsecureContext':
      return 'The camera needs a secure connection: open this page with https://.';
    default:
      return `Could not start the camera or microphone (${err.name}: ${err.message}).`;
  }
}

// Mute and camera-off flip track.enabled: the other side gets silence / black frames, no
// renegotiation.
function toggleTracks(kind) {
  const stream = session.localStream;
  if (!stream) return;
  const tracks = kind === 'audio' ? stream.getAudioTracks() : stream.getVideoTracks();
  const enable = !tracks.some((t) => t.enabled);
  for (const t of tracks) t.enabled = enable;
  ui.setLocalState({
    muted: !stream.getAudioTracks().some((t) => t.enabled),
    cameraOff: !stream.getVideoTracks().some((t) => t.enabled),
  });
}

// --- the call ----------------------------------------------------------------------------------

// @stream may be null (join without camera).
async function connect(stream) {
  // Off the screen whose button got us here, so a second click cannot connect twice.
  ui.show('loading', { focus: false });
  // The person may have spent a while on the camera error screen.
  if (!session.token || Date.now() > session.tokenExpiry - 5000) {
    if (!(await fetchToken())) {
      stream?.getTracks().forEach((t) => t.stop());
      return;
    }
  }
  session.localStream = stream;

  try {
    session.restIceServers = (await api.getIceServers(session.token)).iceServers ?? [];
  } catch (err) {
    // Not fatal: `welcome` carries ICE servers too.
    console.warn('tincan: GET /api/ice-servers failed', err);
    session.restIceServers = [];
  }

  ui.setText('call-error', '');
  ui.clearRemotes();
  ui.setLocalStream(stream);
  ui.show('call');
  session.peerLeft = false;
  session.welcomed = false;
  session.signaling = new Signaling(session.token, {
    welcome: onWelcome,
    'peer-joined': (msg) => {
      session.peerLeft = false;
      session.call?.add(msg.id);
    },
    'peer-left': (msg) => {
      session.call?.remove(msg.id);
      session.peerLeft = true;
      render();
    },
    signal: (msg) => session.call?.signal(msg.from, msg.data),
    error: (msg) => ui.setText('call-error', msg.message || msg.code || 'The call server reported an error.'),
    close: onSignalingClose,
  });
  render();
}

function onWelcome(msg) {
  session.welcomed = true;
  session.myId = msg.id;
  const iceServers = msg.iceServers?.length ? msg.iceServers : session.restIceServers;
  session.call = new Call({
    iceServers,
    relayOnly,
    localStream: session.localStream,
    send: (to, data) => session.signaling?.send(to, data),
    onchange: render,
    ontrack: ui.addRemote,
    onremove: ui.removeRemote,
    onerror: (text) => ui.setText('call-error', text),
  });
  session.call.connect(Array.isArray(msg.peers) ? msg.peers : []);
  render();
}

function onSignalingClose({ code, reason }) {
  console.warn('tincan: signaling closed', code, reason);
  if (!session.welcomed) {
    explainRefusal();
    return;
  }
  if (!$('call-error').textContent) {
    ui.setText('call-error', `The call server closed the connection${reason ? `: ${reason}` : ''}.`);
  }
  render();
}

// The WebSocket closed before `welcome`. The server refused the upgrade with an HTTP status
// (401 token, 404 room, 409 full), which a page cannot read, or it was unreachable: ask the REST
// API what the room looks like now and say the likeliest reason.
async function explainRefusal() {
  teardown();
  let info;
  try {
    info = await api.getRoom(session.room);
  } catch (err) {
    if (err.status === 404) {
      ui.showMessage('This call link is not valid or has ended',
        'Ask for a new link, or start a new call.');
    } else {
      ui.showMessage('Could not connect to the call server', err.message, { rejoin: true });
    }
    return;
  }
  if (info.capacity && info.participants >= info.capacity) {
    ui.setText('room-info', describeRoom(info));
    ui.setText('join-error', 'This call is full');
    ui.show('join');
    return;
  }
  ui.showMessage('Could not connect to the call server', 'Check your connection and try again.',
    { rejoin: true });
}

function render() {
  if (!session.signaling) return;
  // An open socket still counts as connecting until `welcome` has arrived.
  const signaling = session.signaling.state;
  session.state = ui.renderCallState({
    signaling: signaling === 'open' && !session.welcomed ? 'connecting' : signaling,
    peers: session.call?.peers ?? [],
    peerLeft: session.peerLeft,
  });
}

// Closes the peer connections and the WebSocket and releases the camera.
function teardown() {
  session.call?.close();
  session.call = null;
  session.signaling?.close();
  session.signaling = null;
  session.localStream?.getTracks().forEach((t) => t.stop());
  session.localStream = null;
  session.token = null;
  session.welcomed = false;
  session.myId = null;
  session.state = 'idle';
  ui.clearRemotes();
  ui.setLocalStream(null);
}

function leave() {
  teardown();
  ui.showMessage('You left the call', '', { rejoin: true });
}

function rejoin() {
  openRoom(session.room, { autoJoin: true });
}

// --- start -------------------------------------------------------------------------------------

window.tincan = Object.freeze({
  // Plain data, safe to JSON.stringify.
  state: () => ({
    screen: document.body.dataset.screen,
    room: session.room,
    relayOnly,
    id: session.myId,
    signaling: session.signaling?.state ?? null,
    call: session.state,
    text: $('connection-state').textContent,
    peers: session.call?.peers ?? [],
    error: $('call-error').textContent || null,
  }),
  // Stats summary of the connection to peer @id (default: the first peer), or null. See stats.js.
  stats: (id) => (session.call ? session.call.stats(id) : Promise.resolve(null)),
});

function main() {
  $('relay-badge').hidden = !relayOnly;
  $('create-form').addEventListener('submit', createRoom);
  $('copy-link').addEventListener('click', copyLink);
  $('join-created').addEventListener('click', joinCreated);
  $('join-form').addEventListener('submit', submitJoin);
  $('join-without-media').addEventListener('click', () => connect(null));
  $('retry-media').addEventListener('click', startMedia);
  $('toggle-mic').addEventListener('click', () => toggleTracks('audio'));
  $('toggle-camera').addEventListener('click', () => toggleTracks('video'));
  $('leave').addEventListener('click', leave);
  $('rejoin').addEventListener('click', rejoin);
  $('enable-sound').addEventListener('click', ui.enableSound);
  // Back/forward between the landing page and a room: start over from the new address.
  window.addEventListener('popstate', () => location.reload());
  // Tell the server at once rather than when its ping times out.
  window.addEventListener('pagehide', teardown);

  const room = params.get('room');
  if (room) {
    openRoom(room);
  } else {
    ui.show('start', { focus: false });
  }
}

main();
