// A WebSocket that reconnects: backoff 0.5 s doubling to 5 s (with jitter),
// closes itself when the browser goes offline and reconnects at once when it
// is back. The backoff resets only once a connection proved healthy (a frame
// arrived, or it stayed open 10 s): the server upgrades first and may close
// right after (1011 when Redis is down), and resetting on `open` would make
// every client reconnect every 0.5 s for as long as that lasts.
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
const FAST_DELAY = 100;
const HEALTHY_AFTER = 10_000;

/** ±50 % jitter, so clients dropped together do not come back together. @param {number} ms */
const jitter = (ms) => ms * (0.5 + Math.random());

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
    /** @type {number | undefined} */
    this.healthyTimer = undefined;
    // A 4002/4003 fast reconnect was used since the last healthy connection.
    this.fastUsed = false;
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
      // Some sockets may stay quiet: open for 10 s counts as healthy too.
      clearTimeout(this.healthyTimer);
      this.healthyTimer = window.setTimeout(() => this.healthy(), HEALTHY_AFTER);
      this.setStatus('connected');
      this.opts.onOpen?.();
    });
    ws.addEventListener('message', (ev) => {
      if (this.ws !== ws) return;
      this.healthy();
      if (typeof ev.data !== 'string') return;
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
      clearTimeout(this.healthyTimer);
      this.closed(ev.code);
    });
  }

  /** The connection works (a frame arrived, or it stayed open): reset the backoff. */
  healthy() {
    clearTimeout(this.healthyTimer);
    this.delay = MIN_DELAY;
    this.failures = 0;
    this.fastUsed = false;
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
    if (code === 4003) {
      // History lost: start over without an offset.
      this.offset = null;
      this.epoch = null;
      this.opts.onReset?.();
      this.opts.onNotice?.('Some history was lost; showing the latest messages.');
    }
    // 4002 (slow consumer: resume where we were) and 4003 reconnect at once,
    // but only the first time in a row: a server closing us like this again
    // before the connection proved healthy gets the normal backoff.
    if ((code === 4002 || code === 4003) && !this.fastUsed) {
      this.fastUsed = true;
      this.setStatus('reconnecting');
      clearTimeout(this.timer);
      this.timer = window.setTimeout(() => this.connect(), jitter(FAST_DELAY));
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
    this.timer = window.setTimeout(() => this.connect(), jitter(this.delay));
    this.delay = Math.min(this.delay * 2, MAX_DELAY);
  }

  wentOffline() {
    this.offline = true;
    clearTimeout(this.timer);
    clearTimeout(this.healthyTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, 'offline');
    if (!this.stopped) this.setStatus('offline');
  }

  wentOnline() {
    this.offline = false;
    this.delay = MIN_DELAY;
    this.failures = 0;
    this.fastUsed = false;
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
    clearTimeout(this.healthyTimer);
    window.removeEventListener('online', this.handleOnline);
    window.removeEventListener('offline', this.handleOffline);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000);
    this.setStatus('closed');
  }
}
