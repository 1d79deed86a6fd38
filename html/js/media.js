// media: this person's camera, microphone and screen. Owns one MediaStream (`stream`) whose
// tracks are what the call sends; switching a device or sharing the screen replaces a track in
// it and tells the listener, which swaps the track on every RTCRtpSender (replaceTrack: no
// renegotiation). Nothing here touches the DOM except the level meter's AudioContext.

const VIDEO = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };

export class LocalMedia {
  stream = new MediaStream();
  #camera = null;         // the camera track while sharing the screen
  #screen = null;
  #cameraId = '';
  #micId = '';
  #ontrack;               // (kind, track or null) -> the call replaces the sender's track

  constructor({ ontrack } = {}) {
    this.#ontrack = ontrack ?? (() => {});
  }

  set ontrack(fn) { this.#ontrack = fn; }

  get audioTrack() { return this.stream.getAudioTracks()[0] ?? null; }
  get videoTrack() { return this.stream.getVideoTracks()[0] ?? null; }
  get sharing() { return Boolean(this.#screen); }
  get cameraId() { return this.#cameraId || this.#camera?.getSettings?.().deviceId || this.videoTrack?.getSettings?.().deviceId || ''; }
  get micId() { return this.#micId || this.audioTrack?.getSettings?.().deviceId || ''; }

  // Opens the microphone and (unless @video is false) the camera. Whatever exists is opened:
  // a missing camera leaves an audio-only stream. Throws the getUserMedia error only if nothing
  // at all could be opened.
  async start({ audio = true, video = true } = {}) {
    const md = navigator.mediaDevices;
    if (!md?.getUserMedia) throw Object.assign(new Error('no mediaDevices'), { name: 'InsecureContext' });
    let stream = null;
    let firstErr = null;
    const tries = [];
    if (audio && video) tries.push({ audio: this.#audioC(), video: this.#videoC() });
    if (audio) tries.push({ audio: this.#audioC() });
    if (video) tries.push({ video: this.#videoC() });
    for (const c of tries) {
      try {
        stream = await md.getUserMedia(c);
        break;
      } catch (err) {
        firstErr ??= err;
        if (err.name === 'NotAllowedError' || err.name === 'SecurityError') break;
      }
    }
    if (!stream) throw firstErr ?? Object.assign(new Error('nothing requested'), { name: 'NotFoundError' });
    for (const t of stream.getTracks()) this.#put(t);
    return { audio: Boolean(this.audioTrack), video: Boolean(this.videoTrack), error: firstErr };
  }

  // Opens device @id of @kind ('videoinput' | 'audioinput') and swaps it in, keeping the enabled
  // state (a muted mic stays muted). While sharing the screen, a new camera waits for the end of
  // the share.
  async useDevice(kind, id) {
    const isVideo = kind === 'videoinput';
    if (isVideo) this.#cameraId = id; else this.#micId = id;
    const old = isVideo ? (this.#camera ?? this.videoTrack) : this.audioTrack;
    if (!old && isVideo) return; // camera off / audio only: used when it is turned on
    const constraints = isVideo ? { video: this.#videoC() } : { audio: this.#audioC() };
    old?.stop(); // some cameras cannot be opened twice
    const stream = await navigator.mediaDevices.getUserMedia(constraints);
    const track = stream.getTracks()[0];
    if (old) track.enabled = old.enabled;
    if (isVideo && this.#screen) {
      this.#camera = track;
      return;
    }
    this.#put(track);
  }

  // Turns the camera on (opening it if the person joined without one) or off (disabled track:
  // the others get black frames, no renegotiation). Returns whether it is on now.
  async setCamera(on) {
    const track = this.#screen ? this.#camera : this.videoTrack;
    if (on && !track) {
      const stream = await navigator.mediaDevices.getUserMedia({ video: this.#videoC() });
      const t = stream.getVideoTracks()[0];
      if (this.#screen) this.#camera = t; else this.#put(t);
      return true;
    }
    if (track) track.enabled = on;
    return Boolean(track) && on;
  }

  setMic(on) {
    const t = this.audioTrack;
    if (t) t.enabled = on;
    return Boolean(t) && on;
  }

  get micOn() { return Boolean(this.audioTrack?.enabled); }
  get cameraOn() {
    const t = this.#screen ? this.#camera : this.videoTrack;
    return Boolean(t?.enabled);
  }

  // Shares the screen in place of the camera. @onend is called when the share ends by itself
  // (the browser's "Stop sharing" button).
  async startScreen(onend) {
    const md = navigator.mediaDevices;
    if (!md?.getDisplayMedia) throw Object.assign(new Error('Screen sharing is not supported by this browser.'), { name: 'NotSupportedError' });
    const stream = await md.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
    const track = stream.getVideoTracks()[0];
    if ('contentHint' in track) track.contentHint = 'detail';
    this.#camera = this.videoTrack;
    if (this.#camera) this.stream.removeTrack(this.#camera);
    this.#screen = track;
    this.stream.addTrack(track);
    this.#ontrack('video', track);
    track.addEventListener('ended', () => {
      if (this.#screen === track) {
        this.stopScreen();
        onend?.();
      }
    });
  }

  stopScreen() {
    const screen = this.#screen;
    if (!screen) return;
    this.#screen = null;
    this.stream.removeTrack(screen);
    screen.stop();
    const cam = this.#camera;
    this.#camera = null;
    if (cam) this.stream.addTrack(cam);
    this.#ontrack('video', cam);
  }

  stop() {
    for (const t of this.stream.getTracks()) t.stop();
    this.#camera?.stop();
    this.#screen = null;
    this.#camera = null;
    this.stream = new MediaStream();
  }

  // Puts @track in the stream in place of the one of its kind.
  #put(track) {
    for (const t of this.stream.getTracks()) {
      if (t.kind === track.kind && t !== track) {
        this.stream.removeTrack(t);
        t.stop();
      }
    }
    this.stream.addTrack(track);
    this.#ontrack(track.kind, track);
  }

  #videoC() {
    return this.#cameraId ? { ...VIDEO, deviceId: { exact: this.#cameraId } } : VIDEO;
  }

  #audioC() {
    const base = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
    return this.#micId ? { ...base, deviceId: { exact: this.#micId } } : base;
  }
}

// [{kind, deviceId, label}] of the cameras, microphones and speakers (labels are empty until the
// page has had camera or microphone permission).
export async function listDevices() {
  if (!navigator.mediaDevices?.enumerateDevices) return [];
  const all = await navigator.mediaDevices.enumerateDevices();
  return all.filter((d) => d.deviceId && ['videoinput', 'audioinput', 'audiooutput'].includes(d.kind));
}

// Whether the page can choose the speaker (HTMLMediaElement.setSinkId: Chromium, Firefox 116+).
export const canChooseSpeaker = () => typeof HTMLMediaElement !== 'undefined' &&
  'setSinkId' in HTMLMediaElement.prototype;

// The microphone level meter: calls @onlevel(0..100) about 15 times a second while the track
// lives. Returns a stop function.
export function levelMeter(track, onlevel) {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!track || !Ctx) return () => {};
  const ctx = new Ctx();
  const source = ctx.createMediaStreamSource(new MediaStream([track]));
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 512;
  source.connect(analyser);
  const data = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(data);
    let sum = 0;
    for (const v of data) sum += v * v;
    const rms = Math.sqrt(sum / data.length);
    // About -60 dBFS .. 0 dBFS onto 0..100.
    const db = 20 * Math.log10(rms || 1e-6);
    onlevel(Math.max(0, Math.min(100, Math.round((db + 60) * (100 / 60)))));
  }, 66);
  ctx.resume?.().catch(() => {});
  return () => {
    clearInterval(timer);
    source.disconnect();
    ctx.close().catch(() => {});
  };
}

// A plain-words reason for a getUserMedia / getDisplayMedia error.
export function mediaErrorText(err) {
  switch (err?.name) {
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera or microphone found.';
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Camera/microphone permission denied. Allow them for this site in the browser, then reload.';
    case 'NotReadableError':
      return 'Your camera or microphone is in use by another program.';
    case 'InsecureContext':
      return 'The camera needs a secure connection: open this page with https://.';
    default:
      return `Could not start the camera or microphone (${err?.name}: ${err?.message}).`;
  }
}
