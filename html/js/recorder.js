// recorder: records the call on this device with MediaRecorder: the remote video (the first
// peer's) and the audio of everyone (remote voices and this person's microphone, mixed with Web
// Audio). The file is handed to the browser as a download when the recording stops; nothing goes
// to the server.

const TYPES = ['video/webm;codecs=vp8,opus', 'video/webm', 'video/mp4'];

export class CallRecorder {
  #rec = null;
  #ctx = null;
  #chunks = [];
  #type = '';
  #started = 0;

  get recording() {
    return Boolean(this.#rec);
  }

  static supported() {
    return typeof MediaRecorder !== 'undefined';
  }

  // @remotes: [MediaStream] of the peers; @local: this person's MediaStream (its audio is mixed
  // in). Throws if nothing can be recorded.
  start(remotes, local) {
    if (this.#rec) return;
    const Ctx = window.AudioContext || window.webkitAudioContext;
    const tracks = [];
    const video = remotes.map((s) => s.getVideoTracks()[0]).find((t) => t && t.readyState === 'live');
    if (video) tracks.push(video);
    if (Ctx) {
      this.#ctx = new Ctx();
      const dest = this.#ctx.createMediaStreamDestination();
      let any = false;
      for (const s of [...remotes, local]) {
        const a = s?.getAudioTracks().filter((t) => t.readyState === 'live') ?? [];
        if (!a.length) continue;
        this.#ctx.createMediaStreamSource(new MediaStream(a)).connect(dest);
        any = true;
      }
      this.#ctx.resume?.().catch(() => {});
      if (any) tracks.push(...dest.stream.getAudioTracks());
    }
    if (!tracks.length) throw new Error('There is nothing to record yet.');
    this.#type = TYPES.find((t) => MediaRecorder.isTypeSupported?.(t)) ?? '';
    this.#rec = new MediaRecorder(new MediaStream(tracks), this.#type ? { mimeType: this.#type } : {});
    this.#chunks = [];
    this.#rec.addEventListener('dataavailable', (ev) => {
      if (ev.data?.size) this.#chunks.push(ev.data);
    });
    this.#rec.start(1000);
    this.#started = Date.now();
  }

  // Stops and resolves {blob, name} (also when stopped because the call ended).
  stop() {
    const rec = this.#rec;
    if (!rec) return Promise.resolve(null);
    this.#rec = null;
    return new Promise((resolve) => {
      rec.addEventListener('stop', () => {
        const type = rec.mimeType || this.#type || 'video/webm';
        const blob = new Blob(this.#chunks, { type });
        this.#chunks = [];
        this.#ctx?.close().catch(() => {});
        this.#ctx = null;
        const ext = type.startsWith('video/mp4') ? 'mp4' : 'webm';
        const d = new Date(this.#started);
        const pad = (n) => String(n).padStart(2, '0');
        const name = `tincan-call-${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}-` +
          `${pad(d.getHours())}${pad(d.getMinutes())}.${ext}`;
        resolve({ blob, name });
      }, { once: true });
      try {
        rec.stop();
      } catch {
        resolve(null);
      }
    });
  }
}

// Hands @blob to the browser as a download named @name.
export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
