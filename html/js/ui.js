// ui: the DOM of the screens and of the call stage. Elements are found by their data-testid. No
// network and no WebRTC here: main.js decides, ui.js shows. Text from other people (names, chat)
// is only ever set with textContent.

export const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);

// Shows the <section data-screen=@name> and hides the others. Moves keyboard focus to the screen's
// heading so screen readers announce the change (not on first load, where focus stays put).
export function show(name, { focus = true } = {}) {
  for (const section of document.querySelectorAll('main > section[data-screen]')) {
    section.hidden = section.dataset.screen !== name;
  }
  document.body.dataset.screen = name;
  if (focus) document.querySelector(`section[data-screen="${name}"] h1`)?.focus({ preventScroll: true });
}

// Sets an element's text. A .banner hides itself when empty.
export function setText(testid, text) {
  const el = $(testid);
  el.textContent = text ?? '';
  if (el.classList.contains('banner')) el.hidden = !text;
}

export function setPressed(testid, pressed) {
  $(testid).setAttribute('aria-pressed', String(pressed));
}

export function setBusy(button, busy) {
  button.disabled = busy;
  button.setAttribute('aria-busy', String(busy));
}

// The end-state screen: left the call, link not valid, fatal error.
export function showMessage(title, detail = '', { rejoin = false, rejoinLabel = 'Rejoin' } = {}) {
  setText('message-title', title);
  setText('message-detail', detail);
  $('rejoin').hidden = !rejoin;
  $('rejoin').textContent = rejoinLabel;
  show('message');
}

// Fills every <select data-device=KIND> in @root with @devices, selecting @selected[kind].
export function fillDevices(root, devices, selected = {}) {
  for (const select of root.querySelectorAll('select[data-device]')) {
    const kind = select.dataset.device;
    const list = devices.filter((d) => d.kind === kind);
    const labels = { videoinput: 'Camera', audioinput: 'Microphone', audiooutput: 'Speaker' };
    select.replaceChildren(...list.map((d, i) => {
      const o = document.createElement('option');
      o.value = d.deviceId;
      o.textContent = d.label || `${labels[kind]} ${i + 1}`;
      return o;
    }));
    if (!list.length) {
      const o = document.createElement('option');
      o.value = '';
      o.textContent = kind === 'audiooutput' ? 'System default' : `No ${labels[kind].toLowerCase()} found`;
      select.append(o);
    }
    select.disabled = list.length < 1;
    if (selected[kind] && list.some((d) => d.deviceId === selected[kind])) select.value = selected[kind];
  }
}

// --- call screen ---------------------------------------------------------------------------

export function setLocalStream(stream, { mirror = true } = {}) {
  const video = $('local-video');
  if (video.srcObject !== stream) video.srcObject = stream;
  const hasVideo = Boolean(stream?.getVideoTracks().length);
  video.hidden = !hasVideo;
  video.classList.toggle('mirror', mirror);
}

// Mirrors the mic/camera/screen toggles in the buttons and, in words, in the status bar (the
// button colour alone is not enough to tell what state they are in).
export function setLocalState({ micOn, camOn, hasMic, sharing }) {
  const mic = $('toggle-mic');
  mic.disabled = !hasMic;
  setPressed('toggle-mic', !micOn);
  mic.setAttribute('aria-label', micOn ? 'Mute microphone' : 'Unmute microphone');
  mic.querySelector('.label').textContent = micOn ? 'Mute' : 'Unmute';
  const cam = $('toggle-camera');
  setPressed('toggle-camera', !camOn);
  cam.setAttribute('aria-label', camOn ? 'Turn camera off' : 'Turn camera on');
  cam.querySelector('.label').textContent = camOn ? 'Cam off' : 'Cam on';
  const screen = $('toggle-screen');
  setPressed('toggle-screen', sharing);
  screen.setAttribute('aria-label', sharing ? 'Stop sharing your screen' : 'Share your screen');
  screen.querySelector('.label').textContent = sharing ? 'Stop' : 'Share';
  $('local-video').classList.toggle('off', !camOn && !sharing);
  const notes = [];
  if (!hasMic) notes.push('You are not sending sound');
  else if (!micOn) notes.push('Your microphone is muted');
  if (sharing) notes.push('you are sharing your screen');
  else if (!camOn) notes.push('your camera is off');
  const text = notes.join(', ');
  setText('local-state', text && text[0].toUpperCase() + text.slice(1));
}

// The tile of peer @id (a <figure> with the video and a name caption), created on first use.
function tile(id) {
  let fig = document.querySelector(`figure[data-peer="${CSS.escape(id)}"]`);
  if (fig) return fig;
  fig = document.createElement('figure');
  fig.className = 'tile';
  fig.dataset.peer = id;
  const video = document.createElement('video');
  video.dataset.testid = 'remote-video';
  video.autoplay = true;
  video.playsInline = true;
  const avatar = document.createElement('div');
  avatar.className = 'avatar';
  avatar.setAttribute('aria-hidden', 'true');
  const cap = document.createElement('figcaption');
  cap.dataset.testid = 'peer-name';
  const badges = document.createElement('span');
  badges.className = 'badges';
  cap.append(document.createElement('span'), badges);
  fig.append(video, avatar, cap);
  $('remotes').append(fig);
  return fig;
}

// Shows @stream in peer @id's tile. @info: {name, mic, cam, sharing} as far as known.
export function updateRemote(id, stream, info = {}) {
  const fig = tile(id);
  const video = fig.querySelector('video');
  if (stream && video.srcObject !== stream) {
    video.srcObject = stream;
    if (sinkId && video.setSinkId) video.setSinkId(sinkId).catch(() => {});
    play(video);
  }
  const name = info.name || 'Guest';
  video.setAttribute('aria-label', `Video of ${name}`);
  fig.querySelector('figcaption > span').textContent = name;
  fig.querySelector('.avatar').textContent = initials(name);
  const vt = stream?.getVideoTracks()[0];
  const noVideo = !vt || vt.muted || info.cam === false;
  fig.classList.toggle('no-video', noVideo && !info.sharing);
  fig.classList.toggle('sharing', Boolean(info.sharing));
  const badges = [];
  if (info.mic === false) badges.push('muted');
  if (info.sharing) badges.push('sharing screen');
  fig.querySelector('.badges').textContent = badges.length ? ` · ${badges.join(', ')}` : '';
  $('remotes').dataset.count = String(document.querySelectorAll('figure.tile').length);
}

function initials(name) {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const s = parts.slice(0, 2).map((p) => [...p][0]).join('');
  return s.toUpperCase() || '?';
}

export function removeRemote(id) {
  document.querySelector(`figure[data-peer="${CSS.escape(id)}"]`)?.remove();
  $('remotes').dataset.count = String(document.querySelectorAll('figure.tile').length);
}

export function clearRemotes() {
  $('remotes').replaceChildren();
  $('remotes').dataset.count = '0';
}

let sinkId = '';

// Plays every remote video (and so its sound) on speaker @id where the browser allows choosing.
export async function setSpeaker(id) {
  sinkId = id;
  for (const v of document.querySelectorAll('video[data-testid="remote-video"]')) {
    if (v.setSinkId) await v.setSinkId(id).catch((err) => console.warn('tincan: setSinkId', err));
  }
}

// Autoplay with sound can be refused (no user gesture yet, e.g. after a reload). Then play muted
// and offer a button that turns the sound on.
function play(video) {
  video.play().catch(() => {
    video.muted = true;
    $('enable-sound').hidden = false;
    video.play().catch(() => {});
  });
}

export function enableSound() {
  for (const video of document.querySelectorAll('video[data-testid="remote-video"]')) {
    video.muted = false;
    video.play().catch(() => {});
  }
  $('enable-sound').hidden = true;
}

// A floating emoji over the stage for a moment.
export function showReaction(emoji, who) {
  const el = document.createElement('span');
  el.className = 'reaction';
  el.textContent = emoji;
  el.title = who;
  el.style.setProperty('--x', `${10 + Math.random() * 70}%`);
  $('reactions').append(el);
  setTimeout(() => el.remove(), 2500);
}

// Renders the call status from @view = {signaling: 'connecting'|'open'|'reconnecting'|'closed',
// peers: [{id, state, route, name}], peerLeft: name or '', capacity, online}. Returns the state
// name shown (also set as data-state on the status element): waiting, connecting, connected,
// reconnecting, failed.
export function renderCallState(view) {
  const [state, text, stageText] = describe(view);
  const el = $('connection-state');
  el.dataset.state = state;
  el.textContent = text;
  const stage = $('call-message');
  stage.hidden = !stageText;
  stage.textContent = stageText ?? '';
  return state;
}

function describe({ signaling, peers, peerLeft, online }) {
  if (!online) {
    return ['reconnecting', 'You are offline. Reconnecting…',
      'Your device lost its network connection. The call comes back when it does.'];
  }
  if (signaling === 'connecting') return ['connecting', 'Connecting to the call server…', 'Connecting…'];
  if (signaling === 'reconnecting') {
    return ['reconnecting', 'Reconnecting…', 'Lost the connection to the call server. Reconnecting…'];
  }
  if (signaling !== 'open') return ['failed', 'Disconnected from the call server', null];
  if (peers.length === 0) {
    return ['waiting', peerLeft ? `${peerLeft} left the call` : 'Waiting for others to join…',
      peerLeft ? `${peerLeft} left. You are alone in the call; waiting for someone to join…`
        : 'You are the only one here. Send the link to the people you call.'];
  }
  // Several peers: report the first one that is not connected, else the first one.
  const peer = peers.find((p) => p.state !== 'connected') ?? peers[0];
  const who = peer.name || 'the other person';
  switch (peer.state) {
    case 'connected':
      return ['connected', peer.route ? `Connected (${peer.route})` : 'Connected', null];
    case 'disconnected':
    case 'failed':
      return ['reconnecting', `Reconnecting to ${who}…`,
        peers.length === 1 ? `The connection to ${who} dropped. Reconnecting…` : null];
    case 'closed':
      return ['failed', 'Disconnected', null];
    default: // new, connecting, checking
      return ['connecting', `Connecting to ${who}…`, peers.length === 1 ? `Connecting to ${who}…` : null];
  }
}
