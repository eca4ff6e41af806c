// A WebSocket that reconnects: backoff 0.5 s doubling to 5 s, closes itself
// when the browser goes offline and reconnects at once when it is back.
// With `resume`, it follows chat-fanout's frames: it remembers the last
// (offset, epoch) seen, passes them on reconnect and drops duplicates.

/**
 * @typedef {'connecting'|'connected'|'reconnecting'|'offline'|'closed'} SocketStatus
 * @typedef {object} SocketOptions
 * @property {string} path                 e.g. `/api/chat/rooms/live.launch/ws`
 * @property {boolean} [resume]            track offset/epoch (chat-fanout frames)
 * @property {(frame: any) => void} [onFrame]
 * @property {(status: SocketStatus) => void} [onStatus]
 * @property {() => void} [onOpen]
 * @property {() => void} [onRevoked]      close code 4001: the session is gone
 * @property {(text: string) => void} [onNotice]
 * @property {() => void} [onReset]        the epoch changed / history lost: start over
 * @property {() => void} [onFailing]      several connects in a row failed
 */

const MIN_DELAY = 500;
const MAX_DELAY = 5000;

export class LiveSocket {
  /** @param {SocketOptions} opts */
  constructor(opts) {
    this.opts = opts;
    /** @type {WebSocket | null} */
    this.ws = null;
    this.stopped = false;
    this.offline = navigator.onLine === false;
    this.delay = MIN_DELAY;
    this.failures = 0;
    /** @type {number | undefined} */
    this.timer = undefined;
    /** @type {number | null} */
    this.offset = null;
    /** @type {string | null} */
    this.epoch = null;
    /** @type {SocketStatus} */
    this.status = 'connecting';
    this.handleOnline = () => this.wentOnline();
    this.handleOffline = () => this.wentOffline();
    window.addEventListener('online', this.handleOnline);
    window.addEventListener('offline', this.handleOffline);
    if (this.offline) this.setStatus('offline');
    else this.connect();
  }

  /** @param {SocketStatus} s */
  setStatus(s) {
    this.status = s;
    this.opts.onStatus?.(s);
  }

  url() {
    let path = this.opts.path;
    if (this.opts.resume && this.offset != null && this.epoch != null) {
      path += `${path.includes('?') ? '&' : '?'}offset=${this.offset}&epoch=${encodeURIComponent(this.epoch)}`;
    }
    return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${path}`;
  }

  connect() {
    clearTimeout(this.timer);
    if (this.stopped || this.offline || this.ws) return;
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.addEventListener('open', () => {
      if (this.ws !== ws) return;
      this.delay = MIN_DELAY;
      this.failures = 0;
      this.setStatus('connected');
      this.opts.onOpen?.();
    });
    ws.addEventListener('message', (ev) => {
      if (this.ws !== ws || typeof ev.data !== 'string') return;
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.frame(frame);
    });
    ws.addEventListener('close', (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.closed(ev.code);
    });
  }

  /** @param {any} f */
  frame(f) {
    if (this.opts.resume && f && (f.type === 'message' || f.type === 'live')) {
      if (this.epoch != null && f.epoch != null && f.epoch !== this.epoch) {
        this.offset = null;
        this.opts.onReset?.();
      }
      if (f.type === 'message') {
        if (this.offset != null && typeof f.offset === 'number' && f.offset <= this.offset) return;
      }
      if (typeof f.offset === 'number') this.offset = Math.max(this.offset ?? -Infinity, f.offset);
      if (f.epoch != null) this.epoch = String(f.epoch);
    }
    this.opts.onFrame?.(f);
  }

  /** @param {number} code */
  closed(code) {
    if (this.stopped) return;
    if (code === 4001) {
      this.stop();
      this.opts.onRevoked?.();
      return;
    }
    if (this.offline) {
      this.setStatus('offline');
      return;
    }
    if (code === 4002) {
      // Slow consumer: resume where we were, at once.
      this.setStatus('reconnecting');
      this.timer = window.setTimeout(() => this.connect(), 100);
      return;
    }
    if (code === 4003) {
      // History lost: start over without an offset.
      this.offset = null;
      this.epoch = null;
      this.opts.onReset?.();
      this.opts.onNotice?.('Some history was lost; showing the latest messages.');
      this.setStatus('reconnecting');
      this.timer = window.setTimeout(() => this.connect(), 100);
      return;
    }
    this.retry();
  }

  retry() {
    if (this.stopped || this.offline) return;
    this.failures += 1;
    if (this.failures === 3) this.opts.onFailing?.();
    this.setStatus('reconnecting');
    clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.connect(), this.delay);
    this.delay = Math.min(this.delay * 2, MAX_DELAY);
  }

  wentOffline() {
    this.offline = true;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, 'offline');
    if (!this.stopped) this.setStatus('offline');
  }

  wentOnline() {
    this.offline = false;
    this.delay = MIN_DELAY;
    this.failures = 0;
    if (this.stopped) return;
    this.setStatus('reconnecting');
    this.connect();
  }

  /** @param {string} text @returns {boolean} sent */
  send(text) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(text);
    return true;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    window.removeEventListener('online', this.handleOnline);
    window.removeEventListener('offline', this.handleOffline);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000);
    this.setStatus('closed');
  }
}
