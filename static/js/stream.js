// The live event stream over GET /ws?mode=live, reconnecting with back-off and resuming
// after the last seq seen, so a dropped connection loses nothing the history still holds.
// Under a flood the server sends summaries (exact counts) instead of every event; every
// event stays in the history, and the page fetches them when asked. It offers the
// `socketlab.batch.v1` subprotocol: each frame is then an array of what would have been
// frames (one parse and one message event for a burst); a server without it sends one object
// a frame, which is read the same way.

import { scoped, setEpoch } from './scope.js';

export const BATCH_PROTOCOL = 'socketlab.batch.v1';

export class EventStream {
  constructor({ onEvents, onStatus, onRestarted }) {
    this.onEvents = onEvents;
    this.onStatus = onStatus;
    this.onRestarted = onRestarted;
    this.lastSeq = 0;
    this.epoch = null; // the numbering's run, from the hello; null before the first
    this.delay = 500;
    this.batch = [];
    this.flushQueued = false;
    this.generation = 0;
  }

  /** Closes the stream and starts over from seq 0 (another workspace: its own numbering). */
  restart() {
    this.generation += 1;
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.onmessage = null;
      this.ws.close();
    }
    clearTimeout(this.retry);
    this.lastSeq = 0;
    this.epoch = null;
    this.batch = [];
    this.start();
  }

  start() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const generation = this.generation;
    // The epoch says which run our `since` counts in: after a server restart the numbers start
    // at 1 again, and the hello says so (restarted) instead of leaving us waiting.
    const epoch = this.epoch ? `&epoch=${encodeURIComponent(this.epoch)}` : '';
    const ws = new WebSocket(
      `${proto}//${location.host}${scoped(`/ws?mode=live&since=${this.lastSeq}${epoch}`)}`,
      [BATCH_PROTOCOL],
    );
    this.ws = ws;
    ws.onopen = () => {
      this.delay = 500;
      this.onStatus('live');
    };
    ws.onmessage = (m) => {
      let frame;
      try { frame = JSON.parse(m.data); } catch { return; }
      const objects = Array.isArray(frame) ? frame : [frame];
      for (const ev of objects) this.take(ev, generation);
      if (this.batch.length && !this.flushQueued) {
        // Hand events over in batches, once per task, not one call per frame received.
        this.flushQueued = true;
        queueMicrotask(() => {
          this.flushQueued = false;
          const b = this.batch;
          this.batch = [];
          if (generation === this.generation) this.onEvents(b);
        });
      }
    };
    ws.onclose = (e) => {
      if (generation !== this.generation) return;
      // 4xx before the upgrade shows as a bare close: say how to get back in if the
      // credential went away (a removed workspace, a regenerated watch link).
      this.onStatus('reconnecting', e);
      this.retry = setTimeout(() => this.start(), this.delay);
      this.delay = Math.min(this.delay * 2, 5000);
    };
  }

  /** One object of a frame: the hello, or an event or summary to hand over. */
  take(ev, generation) {
    if (!ev || typeof ev !== 'object') return;
    if (ev.kind === 'hello') {
      this.epoch = ev.epoch;
      setEpoch(ev.epoch);
      if (ev.restarted) {
        // Another run's numbers: what was held is not this run's. Drop it, start over.
        this.lastSeq = 0;
        this.batch = [];
        if (generation === this.generation) this.onRestarted?.();
      }
      return;
    }
    const seq = ev.kind === 'summary' ? ev.last_seq : ev.seq;
    if (typeof seq === 'number' && seq > this.lastSeq) this.lastSeq = seq;
    this.batch.push(ev);
  }
}
