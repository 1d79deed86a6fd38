// ui: everything that touches the DOM. Elements are found by their data-testid. No network and no
// WebRTC here: main.js decides, ui.js shows.

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
export function showMessage(title, detail = '', { rejoin = false } = {}) {
  setText('message-title', title);
  setText('message-detail', detail);
  $('rejoin').hidden = !rejoin;
  show('message');
}

// --- call screen ---------------------------------------------------------------------------

export function setLocalStream(stream) {
  const video = $('local-video');
  video.srcObject = stream;
  video.hidden = !stream || stream.getVideoTracks().length === 0;
  const hasAudio = Boolean(stream?.getAudioTracks().length);
  const hasVideo = Boolean(stream?.getVideoTracks().length);
  $('toggle-mic').disabled = !hasAudio;
  $('toggle-camera').disabled = !hasVideo;
  setLocalState({ muted: false, cameraOff: false });
  if (!hasAudio || !hasVideo) {
    const what = !hasAudio && !hasVideo ? 'video or sound' : hasAudio ? 'video' : 'sound';
    setText('local-state', `You are not sending ${what}`);
  }
}

// Mirrors the mic/camera toggles in the buttons and, in words, in the status bar (the button
// colour alone is not enough to tell what state they are in).
export function setLocalState({ muted, cameraOff }) {
  setPressed('toggle-mic', muted);
  setPressed('toggle-camera', cameraOff);
  $('local-video').classList.toggle('off', cameraOff);
  const notes = [];
  if (muted) notes.push('Your microphone is muted');
  if (cameraOff) notes.push('your camera is off');
  const text = notes.join(', ');
  setText('local-state', text && text[0].toUpperCase() + text.slice(1));
}

// Shows @stream in peer @id's tile, creating the tile on first use.
export function addRemote(id, stream) {
  let video = document.querySelector(`video[data-peer="${CSS.escape(id)}"]`);
  if (!video) {
    video = document.createElement('video');
    video.dataset.peer = id;
    video.dataset.testid = 'remote-video';
    video.autoplay = true;
    video.playsInline = true;
    video.setAttribute('aria-label', 'The other person');
    $('remotes').append(video);
  }
  if (video.srcObject !== stream) video.srcObject = stream;
  play(video);
}

export function removeRemote(id) {
  document.querySelector(`video[data-peer="${CSS.escape(id)}"]`)?.remove();
}

export function clearRemotes() {
  $('remotes').replaceChildren();
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

// Renders the call status from @view = {signaling: 'connecting'|'open'|'closed',
// peers: [{id, state, route}], peerLeft: bool}. Returns the state name shown (also set as
// data-state on the status element): waiting, connecting, connected, disconnected, failed.
export function renderCallState(view) {
  const [state, text] = describe(view);
  const el = $('connection-state');
  el.dataset.state = state;
  el.textContent = text;

  const stage = $('call-message');
  const alone = view.signaling === 'open' && view.peers.length === 0;
  stage.hidden = !alone && state === 'connected';
  if (!alone) stage.textContent = text;
  else if (view.peerLeft) stage.textContent = 'The other person left. Waiting for someone to join…';
  else stage.textContent = 'Waiting for the other person…';
  return state;
}

function describe({ signaling, peers, peerLeft }) {
  if (signaling === 'connecting') return ['connecting', 'Connecting to the call server…'];
  if (signaling !== 'open') return ['disconnected', 'Lost the connection to the call server'];
  if (peers.length === 0) {
    return ['waiting', peerLeft ? 'The other person left' : 'Waiting for the other person…'];
  }
  // Several peers: report the first one that is not connected, else the first one.
  const peer = peers.find((p) => p.state !== 'connected') ?? peers[0];
  switch (peer.state) {
    case 'connected':
      return ['connected', peer.route ? `Connected (${peer.route})` : 'Connected'];
    case 'disconnected':
      return ['disconnected', 'Disconnected, trying to reconnect…'];
    case 'failed':
      return ['failed', 'Connection failed'];
    case 'closed':
      return ['disconnected', 'Disconnected'];
    default: // new, connecting, checking
      return ['connecting', 'Connecting…'];
  }
}
