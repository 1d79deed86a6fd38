// main: the page's flow.
//
//   landing (start a call / join by code) -> created (link, QR) -> pre-join (preview, devices,
//   name, password) -> call -> message (left, ended, opened elsewhere).
//
// URL switches: ?room=<id> opens the pre-join screen of a room; ?video=0 joins audio-only;
// ?relay=1 (diagnostic) makes every RTCPeerConnection relay-only (iceTransportPolicy 'relay'),
// kept when the creator joins their own room but never put into the shared link.
//
// The join token of a room is kept in sessionStorage (per tab), so a reload of the tab, or a tab
// duplicated from it, is the same participant: within rooms.reconnect_grace it resumes the seat,
// and a duplicated tab takes the call over from the first one, which says so.
//
// window.tincan = {state(), stats(id?), ...} is a read-only hook for tests and for people
// debugging a call from the console. It exposes nothing the page does not already show, apart
// from the types and states of the ICE candidate pairs (no addresses).

import * as api from './api.js';
import { Call } from './call.js';
import { Chat } from './chat.js';
import { LocalMedia, canChooseSpeaker, levelMeter, listDevices, mediaErrorText } from './media.js';
import { CallRecorder, download } from './recorder.js';
import { Signaling } from './signaling.js';
import * as ui from './ui.js';
import * as chatView from './ui/chat.js';
import { drawQr } from './ui/qr.js';
import { renderStats } from './ui/stats.js';

const { $ } = ui;
const params = new URLSearchParams(location.search);
const relayOnly = params.get('relay') === '1';
const STATS_MS = 1000;

// The one call this page can be in. Reset by teardown().
const session = {
  info: null,            // GET /api/info
  room: null,
  password: '',
  hasPassword: false,
  capacity: 0,
  name: '',
  token: null,
  tokenExpiry: 0,        // ms since epoch
  media: null,           // LocalMedia
  stopMeter: null,
  signaling: null,
  call: null,
  chat: null,
  myId: null,
  names: new Map(),      // peer id -> display name
  remote: new Map(),     // peer id -> {mic, cam, sharing} from their chat channel
  peerLeft: '',
  everPeers: false,
  state: 'idle',
  events: { peerLeft: 0, peerJoined: 0, resumed: 0, welcomes: 0, replaced: 0 },
  recorder: new CallRecorder(),
  peerRecording: new Set(),
  statsTimer: null,
  online: navigator.onLine !== false,
};

const nameOf = (id) => session.names.get(id) || 'Guest';

// --- landing page ------------------------------------------------------------------------------

async function loadInfo() {
  try {
    session.info = await api.getInfo();
  } catch {
    session.info = { max_capacity: 2, name_max: 64 };
  }
  const max = session.info.max_capacity ?? 2;
  const sel = $('create-capacity');
  sel.replaceChildren();
  for (let n = 2; n <= max; n++) {
    const o = document.createElement('option');
    o.value = String(n);
    o.textContent = n === 2 ? '2 (one to one)' : String(n);
    sel.append(o);
  }
  sel.value = '2';
  $('capacity-row').hidden = max <= 2;
}

async function createRoom(ev) {
  ev.preventDefault();
  const button = $('start-call');
  ui.setBusy(button, true);
  ui.setText('create-error', '');
  try {
    const password = $('create-password').value;
    const capacity = $('capacity-row').hidden ? 0 : Number($('create-capacity').value);
    const res = await api.createRoom(password, capacity);
    session.room = res.room;
    session.password = password;
    session.hasPassword = Boolean(password);
    const link = new URL(res.url || `/?room=${encodeURIComponent(res.room)}`, location.href).href;
    $('room-link').value = link;
    drawQr($('room-qr'), link, 192);
    ui.setText('room-summary', `Room for ${res.capacity ?? capacity ?? 2} people` +
      `${password ? ', with a password: tell it to them separately' : ''}.`);
    ui.show('created');
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

// "Join a call": a full link or a bare room code.
function joinByCode(ev) {
  ev.preventDefault();
  const text = $('join-code').value.trim();
  let room = text;
  try {
    const u = new URL(text);
    room = u.searchParams.get('room') ?? '';
  } catch {
    // not a URL: a code
  }
  if (!/^[A-Za-z0-9_-]{22}$/.test(room)) {
    ui.setText('code-error', 'That is not a call link or code. Codes are 22 letters, digits, - and _.');
    $('join-code').focus();
    return;
  }
  history.pushState(null, '', roomHref(room));
  openRoom(room);
}

function roomHref(room) {
  const q = new URLSearchParams({ room });
  if (relayOnly) q.set('relay', '1');
  if (params.get('video') === '0') q.set('video', '0');
  return `${location.pathname}?${q}`;
}

function continueCreated() {
  history.pushState(null, '', roomHref(session.room));
  openRoom(session.room);
}

// --- pre-join ----------------------------------------------------------------------------------

async function openRoom(room) {
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
  session.capacity = info.capacity;
  session.hasPassword = Boolean(info.password) && !session.password;
  $('password-row').hidden = !info.password || Boolean(session.password);
  ui.setText('join-error', '');
  ui.setText('room-info', describeRoom(info));
  $('join-name').value = session.name || localStorage.getItem('tincan.name') || '';
  ui.show('prejoin', { focus: false });
  $('join-name').focus();
  await startPreview();
}

function describeRoom({ participants = 0, capacity }) {
  if (participants === 0) return 'Nobody is in the call yet.';
  const who = participants === 1 ? '1 person is' : `${participants} people are`;
  return capacity ? `${who} in the call (room for ${capacity}).` : `${who} in the call.`;
}

// Camera preview and mic meter on the pre-join screen.
async function startPreview() {
  const wantVideo = params.get('video') !== '0' && localStorage.getItem('tincan.video') !== '0';
  if (!session.media) {
    session.media = new LocalMedia();
    ui.setText('media-error', '');
    try {
      const got = await session.media.start({ audio: true, video: wantVideo });
      if (wantVideo && !got.video) ui.setText('media-error', 'No camera found: you will join with sound only.');
      else if (!got.audio) ui.setText('media-error', 'No microphone found: the others will not hear you.');
    } catch (err) {
      console.warn('tincan: getUserMedia failed', err);
      ui.setText('media-error', `${mediaErrorText(err)} You can still join to watch and listen.`);
    }
  }
  await refreshDevices();
  renderPreview();
}

function renderPreview() {
  const m = session.media;
  const video = $('preview-video');
  if (video.srcObject !== m.stream) video.srcObject = m.stream;
  const camOn = m.cameraOn;
  video.hidden = !camOn;
  const note = $('preview-note');
  note.hidden = camOn;
  note.textContent = m.videoTrack || m.sharing ? 'Camera off' : 'Joining without camera';
  ui.setPressed('pre-toggle-mic', !m.micOn);
  $('pre-toggle-mic').disabled = !m.audioTrack;
  $('pre-toggle-mic').setAttribute('aria-label', m.micOn ? 'Microphone on: press to mute' : 'Microphone muted: press to unmute');
  $('pre-toggle-mic').textContent = m.micOn ? 'Mic on' : 'Mic off';
  ui.setPressed('pre-toggle-camera', !camOn);
  $('pre-toggle-camera').setAttribute('aria-label', camOn ? 'Camera on: press to join without camera' : 'Camera off: press to turn it on');
  $('pre-toggle-camera').textContent = camOn ? 'Cam on' : 'Cam off';
  session.stopMeter?.();
  const meter = $('mic-meter');
  session.stopMeter = levelMeter(m.micOn ? m.audioTrack : null, (level) => {
    meter.style.setProperty('--level', `${level}%`);
    meter.setAttribute('aria-valuenow', String(level));
  });
  if (!m.micOn) meter.style.setProperty('--level', '0%');
}

async function refreshDevices() {
  const devices = await listDevices().catch(() => []);
  const m = session.media;
  const selected = { videoinput: m?.cameraId, audioinput: m?.micId, audiooutput: session.speaker ?? '' };
  for (const root of [$('join-form'), $('settings-panel')]) ui.fillDevices(root, devices, selected);
  const speaker = canChooseSpeaker() && devices.some((d) => d.kind === 'audiooutput');
  $('pre-speaker-row').hidden = !speaker;
  $('call-speaker-row').hidden = !speaker;
}

async function chooseDevice(ev) {
  const select = ev.target;
  const kind = select.dataset.device;
  if (!kind) return;
  try {
    if (kind === 'audiooutput') {
      session.speaker = select.value;
      await ui.setSpeaker(select.value);
    } else {
      await session.media.useDevice(kind, select.value);
    }
    // Keep both device menus in step.
    for (const s of document.querySelectorAll(`select[data-device="${kind}"]`)) s.value = select.value;
    if (document.body.dataset.screen === 'prejoin') renderPreview();
    else renderLocal();
  } catch (err) {
    const text = `Could not switch to that device: ${mediaErrorText(err)}`;
    if (document.body.dataset.screen === 'prejoin') ui.setText('media-error', text);
    else ui.setText('call-error', text);
  }
}

async function preToggle(kind) {
  const m = session.media;
  try {
    if (kind === 'audio') m.setMic(!m.micOn);
    else {
      const on = await m.setCamera(!m.cameraOn);
      localStorage.setItem('tincan.video', on ? '1' : '0');
    }
  } catch (err) {
    ui.setText('media-error', mediaErrorText(err));
  }
  renderPreview();
}

async function submitJoin(ev) {
  ev.preventDefault();
  if (!$('password-row').hidden) session.password = $('join-password').value;
  session.name = $('join-name').value.trim().slice(0, 64);
  while (new TextEncoder().encode(session.name).length > 64) session.name = session.name.slice(0, -1);
  localStorage.setItem('tincan.name', session.name);
  const button = $('join-button');
  ui.setBusy(button, true);
  ui.setText('join-error', '');
  try {
    if (!(await fetchToken())) return;
  } finally {
    ui.setBusy(button, false);
  }
  await connect();
}

const storeKey = () => `tincan.token.${session.room}`;

// A join token in session: the tab's stored one if still good (same participant: resume), else
// a new one. Returns false (having shown why) if that failed.
async function fetchToken({ fresh = false } = {}) {
  const stored = !fresh && JSON.parse(sessionStorage.getItem(storeKey()) || 'null');
  if (stored && stored.expiry > Date.now() + 30_000 && stored.name === session.name) {
    session.token = stored.token;
    session.tokenExpiry = stored.expiry;
    return true;
  }
  try {
    const res = await api.joinRoom(session.room, session.password, session.name);
    saveToken(res.token, res.expires_in);
    return true;
  } catch (err) {
    session.token = null;
    if (err.status === 404) {
      ui.showMessage('This call link is not valid or has ended',
        'Ask for a new link, or start a new call.');
      return false;
    }
    if (err.status === 401) {
      $('password-row').hidden = false;
      ui.setText('join-error', session.password ? 'Wrong password' : 'This call needs a password');
      $('join-password').select();
    } else if (err.status === 409) {
      ui.setText('join-error', `This call is full${session.capacity ? ` (${session.capacity} people)` : ''}. Try again when someone leaves.`);
    } else {
      ui.setText('join-error', `Could not join: ${err.message}`);
    }
    if (document.body.dataset.screen !== 'prejoin') ui.show('prejoin', { focus: false });
    return false;
  }
}

function saveToken(token, expiresIn) {
  session.token = token;
  session.tokenExpiry = Date.now() + (expiresIn ?? 60) * 1000;
  sessionStorage.setItem(storeKey(), JSON.stringify({ token, expiry: session.tokenExpiry, name: session.name }));
}

// --- the call ----------------------------------------------------------------------------------

async function connect() {
  ui.show('loading', { focus: false });
  session.stopMeter?.();
  session.stopMeter = null;
  session.media ??= new LocalMedia();
  session.media.ontrack = (kind, track) => {
    session.call?.replaceTrack(kind, track);
    renderLocal();
    sendState();
  };
  session.chat = new Chat(chatHandlers());
  ui.setText('call-error', '');
  ui.clearRemotes();
  $('chat-log').replaceChildren();
  session.names.clear();
  session.remote.clear();
  session.peerLeft = '';
  session.everPeers = false;
  renderLocal();
  ui.show('call');
  session.signaling = new Signaling(session.token, {
    welcome: onWelcome,
    'peer-joined': (msg) => {
      session.events.peerJoined++;
      if (msg.name) session.names.set(msg.id, msg.name);
      session.peerLeft = '';
      session.call?.add(msg.id);
      chatView.addNotice(`${nameOf(msg.id)} joined`);
      updateTiles();
      render();
    },
    'peer-left': (msg) => {
      session.events.peerLeft++;
      const name = nameOf(msg.id);
      session.call?.remove(msg.id);
      session.chat?.detach(msg.id);
      session.peerLeft = name;
      session.remote.delete(msg.id);
      if (session.peerRecording.delete(msg.id)) renderRecording();
      chatView.addNotice(`${name} left`);
      render();
    },
    signal: (msg) => session.call?.signal(msg.from, msg.data),
    error: (msg) => ui.setText('call-error', msg.message || msg.code || 'The call server reported an error.'),
    replaced: onReplaced,
    state: () => render(),
    giveup: onGiveUp,
  });
  render();
  session.statsTimer = setInterval(updateStats, STATS_MS);
}

function onWelcome(msg) {
  session.events.welcomes++;
  session.myId = msg.id;
  if (msg.token) saveToken(msg.token, msg.expires_in);
  for (const [id, name] of Object.entries(msg.names ?? {})) session.names.set(id, name);
  const peers = Array.isArray(msg.peers) ? msg.peers : [];
  if (peers.length) session.everPeers = true;
  if (session.call && msg.resumed) {
    // Same page, socket back: keep the connections, restart ICE on those that dropped.
    session.events.resumed++;
    session.call.iceServers = msg.iceServers ?? [];
    session.call.reconcile(peers);
    session.call.restartAll('signaling reconnected');
  } else {
    // First welcome, or the seat was lost (grace over): start afresh as the newcomer.
    session.call?.close();
    session.call = new Call({
      iceServers: msg.iceServers ?? [],
      relayOnly,
      media: session.media,
      send: (to, data) => session.signaling?.send(to, data),
      onchange: () => { updateTiles(); render(); },
      ontrack: (id) => updateTiles(id),
      onremove: (id) => ui.removeRemote(id),
      onchannels: (id, ch) => session.chat?.attach(id, ch),
      onerror: (text) => ui.setText('call-error', text),
    });
    session.call.setQuality($('call-quality').value);
    session.call.connect(peers);
  }
  ui.setText('call-error', '');
  updateTiles();
  render();
}

function onReplaced() {
  session.events.replaced++;
  teardown({ keepToken: true, leave: false });
  ui.showMessage('This call is open in another tab or window',
    'You joined the call somewhere else, so it was closed here. Use that tab, or take the call back here.',
    { rejoin: true, rejoinLabel: 'Use here' });
}

// The signaling socket keeps failing to open. Ask the REST API why (a page cannot read the
// status of a refused WebSocket): room gone, full, or our token expired.
async function onGiveUp({ everConnected }) {
  let info;
  try {
    info = await api.getRoom(session.room);
  } catch (err) {
    if (err.status === 404) {
      teardown({ leave: false });
      ui.showMessage('The call has ended', 'The room no longer exists on the server. Start a new call to talk again.',
        {});
      return;
    }
    return; // server unreachable: keep retrying
  }
  if (!everConnected && info.capacity && info.participants >= info.capacity) {
    teardown({ leave: false });
    ui.setText('room-info', describeRoom(info));
    ui.setText('join-error', `This call is full (${info.capacity} people). Try again when someone leaves.`);
    ui.show('prejoin');
    startPreview();
    return;
  }
  // Room there and not full: the token has likely expired. Get a new one (a new participant).
  if (Date.now() > session.tokenExpiry - 5000 || !everConnected) {
    if (await fetchToken({ fresh: true })) {
      session.signaling?.close();
      session.signaling = null;
      session.call?.close();
      session.call = null;
      connect();
    }
  }
}

function chatHandlers() {
  return {
    open: (id) => {
      sendState(id);
      if (session.recorder.recording) session.chat.sendRecording(true);
    },
    message: (from, { text }) => {
      chatView.addMessage(nameOf(from), text);
      markUnread();
    },
    reaction: (from, emoji) => {
      ui.showReaction(emoji, nameOf(from));
      chatView.addNotice(`${nameOf(from)} reacted ${emoji}`);
    },
    state: (from, st) => {
      session.remote.set(from, st);
      updateTiles(from);
    },
    recording: (from, on) => {
      if (on) session.peerRecording.add(from); else session.peerRecording.delete(from);
      chatView.addNotice(`${nameOf(from)} ${on ? 'started' : 'stopped'} recording the call`);
      renderRecording();
    },
    file: (from, t) => {
      chatView.showTransfer(t, nameOf(from));
      markUnread();
    },
    progress: (t) => chatView.showTransfer(t, nameOf(t.peer)),
  };
}

function markUnread() {
  if ($('chat-panel').hidden) $('chat-unread').hidden = false;
}

function sendState(to) {
  const m = session.media;
  if (!m || !session.chat) return;
  session.chat.sendState({ mic: m.micOn, cam: m.cameraOn, sharing: m.sharing }, to);
}

function updateTiles(only) {
  if (!session.call) return;
  for (const { id, stream } of session.call.streams()) {
    if (only && id !== only) continue;
    ui.updateRemote(id, stream, { name: nameOf(id), ...(session.remote.get(id) ?? {}) });
  }
}

function renderLocal() {
  const m = session.media;
  ui.setLocalStream(m?.stream ?? null, { mirror: !m?.sharing });
  ui.setLocalState({
    micOn: Boolean(m?.micOn), camOn: Boolean(m?.cameraOn), hasMic: Boolean(m?.audioTrack),
    sharing: Boolean(m?.sharing),
  });
  $('toggle-screen').hidden = !navigator.mediaDevices?.getDisplayMedia;
}

function render() {
  if (!session.signaling) return;
  const peers = (session.call?.peers ?? []).map((p) => ({ ...p, name: session.names.get(p.id) }));
  session.state = ui.renderCallState({
    signaling: session.signaling.state,
    peers,
    peerLeft: session.peerLeft,
    online: session.online,
  });
}

async function toggleMic() {
  session.media?.setMic(!session.media.micOn);
  renderLocal();
  sendState();
}

async function toggleCamera() {
  try {
    await session.media?.setCamera(!session.media.cameraOn);
  } catch (err) {
    ui.setText('call-error', mediaErrorText(err));
  }
  renderLocal();
  sendState();
}

async function toggleScreen() {
  const m = session.media;
  if (!m) return;
  if (m.sharing) {
    m.stopScreen();
  } else {
    try {
      await m.startScreen(() => { renderLocal(); sendState(); });
    } catch (err) {
      if (err.name !== 'NotAllowedError') ui.setText('call-error', `Could not share the screen: ${err.message}`);
    }
  }
  renderLocal();
  sendState();
}

function togglePanel(name) {
  const panels = { chat: 'chat-panel', stats: 'stats-panel', settings: 'settings-panel' };
  for (const [key, testid] of Object.entries(panels)) {
    const open = key === name ? $(testid).hidden : false;
    $(testid).hidden = !open;
    ui.setPressed(`toggle-${key}`, open);
  }
  document.body.dataset.panel = $(panels[name]).hidden ? '' : name;
  if (name === 'chat' && !$('chat-panel').hidden) {
    $('chat-unread').hidden = true;
    $('chat-input').focus();
  }
  if (name === 'stats' && !$('stats-panel').hidden) updateStats();
}

function closePanel(ev) {
  const name = ev.target.closest('[data-panel-close]')?.dataset.panelClose;
  if (!name) return;
  togglePanel(name);
  $(`toggle-${name}`).focus();
}

function sendChat(ev) {
  ev.preventDefault();
  const input = $('chat-input');
  const text = input.value.trim();
  if (!text) return;
  if (!session.chat?.openPeers.length) {
    chatView.addNotice('Nobody to send to yet: the message was not sent.');
    return;
  }
  session.chat.sendText(text);
  chatView.addMessage('You', text, true);
  input.value = '';
}

function sendReaction(ev) {
  const emoji = ev.target.closest('[data-reaction]')?.dataset.reaction;
  if (!emoji || !session.chat) return;
  session.chat.react(emoji);
  ui.showReaction(emoji, 'You');
}

function sendFiles() {
  const input = $('chat-file');
  for (const file of input.files) {
    const ts = session.chat?.sendFile(file) ?? [];
    if (!ts.length) chatView.addNotice(`Nobody to send ${file.name} to yet.`);
  }
  input.value = '';
}

async function updateStats() {
  if (!session.call) return;
  const rows = [];
  for (const p of session.call.peers) rows.push({ name: nameOf(p.id), s: await session.call.stats(p.id).catch(() => null) });
  if (!$('stats-panel').hidden) renderStats(rows);
}

async function toggleRecord() {
  const rec = session.recorder;
  if (rec.recording) {
    const out = await rec.stop();
    session.chat?.sendRecording(false);
    if (out) download(out.blob, out.name);
    session.lastRecording = out ? { size: out.blob.size, type: out.blob.type, name: out.name } : null;
  } else {
    try {
      rec.start(session.call?.streams().map((s) => s.stream) ?? [], session.media?.stream);
      session.chat?.sendRecording(true);
    } catch (err) {
      ui.setText('call-error', `Could not record: ${err.message}`);
    }
  }
  renderRecording();
}

function renderRecording() {
  const on = session.recorder.recording;
  $('recording-badge').hidden = !on;
  ui.setPressed('toggle-record', on);
  $('toggle-record').textContent = on ? 'Stop recording and save' : 'Record the call';
  const others = [...session.peerRecording].map(nameOf);
  const note = $('peer-recording');
  note.hidden = !others.length;
  note.textContent = others.length ? `● ${others.join(', ')} ${others.length > 1 ? 'are' : 'is'} recording this call` : '';
}

// Closes the peer connections and the WebSocket (1000: leaving, unless @leave is false) and
// releases the camera.
function teardown({ keepToken = false, leave = true } = {}) {
  clearInterval(session.statsTimer);
  if (session.recorder.recording) {
    session.recorder.stop().then((out) => out && download(out.blob, out.name));
  }
  session.peerRecording.clear();
  renderRecording();
  session.call?.close();
  session.call = null;
  if (leave) session.signaling?.close();
  session.signaling = null;
  session.chat = null;
  session.stopMeter?.();
  session.stopMeter = null;
  session.media?.stop();
  session.media = null;
  if (!keepToken && session.room) sessionStorage.removeItem(storeKey());
  session.myId = null;
  session.state = 'idle';
  ui.clearRemotes();
  ui.setLocalStream(null);
}

function leave() {
  teardown();
  ui.showMessage('You left the call', 'Rejoin if you left by mistake.', { rejoin: true });
}

function rejoin() {
  openRoom(session.room);
}

// --- network changes ---------------------------------------------------------------------------

function onOnline() {
  session.online = true;
  render();
  session.signaling?.reconnectNow();
  session.call?.restartAll('network changed', { force: false });
}

function onOffline() {
  session.online = false;
  render();
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
    names: Object.fromEntries(session.names),
    error: $('call-error').textContent || null,
    events: { ...session.events },
    media: session.media ? {
      mic: session.media.micOn, cam: session.media.cameraOn, sharing: session.media.sharing,
      videoLabel: session.media.videoTrack?.label ?? null,
      audioLabel: session.media.audioTrack?.label ?? null,
      cameraId: session.media.cameraId, micId: session.media.micId,
    } : null,
    quality: session.call?.quality ?? null,
    recording: session.recorder.recording,
    lastRecording: session.lastRecording ?? null,
    peerRecording: [...session.peerRecording],
  }),
  // Stats summary of the connection to peer @id (default: the first peer), or null. See stats.js.
  stats: (id) => (session.call ? session.call.stats(id) : Promise.resolve(null)),
  // Every ICE candidate pair of that connection (which pairs were tried, which won), or null.
  pairs: (id) => (session.call ? session.call.pairs(id) : Promise.resolve(null)),
  // The tracks each RTCRtpSender sends now, for tests: [{peer, kind, label}].
  senders: () => (session.call ? session.call.senders() : []),
  // The video sender's encoding parameters (quality selector), or null.
  debugParameters: async () => session.call?.videoParameters() ?? null,
});

function main() {
  $('relay-badge').hidden = !relayOnly;
  $('create-form').addEventListener('submit', createRoom);
  $('code-form').addEventListener('submit', joinByCode);
  $('copy-link').addEventListener('click', copyLink);
  $('join-created').addEventListener('click', continueCreated);
  $('join-form').addEventListener('submit', submitJoin);
  $('pre-toggle-mic').addEventListener('click', () => preToggle('audio'));
  $('pre-toggle-camera').addEventListener('click', () => preToggle('video'));
  for (const s of document.querySelectorAll('select[data-device]')) s.addEventListener('change', chooseDevice);
  $('toggle-mic').addEventListener('click', toggleMic);
  $('toggle-camera').addEventListener('click', toggleCamera);
  $('toggle-screen').addEventListener('click', toggleScreen);
  $('toggle-chat').addEventListener('click', () => togglePanel('chat'));
  $('toggle-stats').addEventListener('click', () => togglePanel('stats'));
  $('toggle-settings').addEventListener('click', () => togglePanel('settings'));
  for (const b of document.querySelectorAll('[data-panel-close]')) b.addEventListener('click', closePanel);
  $('chat-form').addEventListener('submit', sendChat);
  $('chat-file').addEventListener('change', sendFiles);
  document.querySelector('.emoji-row').addEventListener('click', sendReaction);
  $('call-quality').addEventListener('change', (ev) => session.call?.setQuality(ev.target.value));
  $('toggle-record').addEventListener('click', toggleRecord);
  $('toggle-record').hidden = !CallRecorder.supported();
  $('leave').addEventListener('click', leave);
  $('rejoin').addEventListener('click', rejoin);
  $('enable-sound').addEventListener('click', ui.enableSound);
  navigator.mediaDevices?.addEventListener?.('devicechange', () => { if (session.media) refreshDevices(); });
  window.addEventListener('online', onOnline);
  window.addEventListener('offline', onOffline);
  navigator.connection?.addEventListener?.('change', () => session.call?.restartAll('network changed'));
  // Back/forward between the landing page and a room: start over from the new address.
  window.addEventListener('popstate', () => location.reload());
  // Closing the tab is leaving: tell the server at once (1000) rather than after the grace.
  window.addEventListener('pagehide', () => teardown({ keepToken: true }));
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && document.body.dataset.panel) togglePanel(document.body.dataset.panel);
  });

  loadInfo();
  const room = params.get('room');
  if (room) {
    openRoom(room);
  } else {
    ui.show('start', { focus: false });
  }
}

main();
