// The live event stream over GET /ws, reconnecting with back-off and resuming after the
// last seq seen, so a dropped connection loses nothing the history still holds.

export class EventStream {
  constructor({ onEvents, onStatus }) {
    this.onEvents = onEvents;
    this.onStatus = onStatus;
    this.lastSeq = 0;
    this.delay = 500;
    this.batch = [];
    this.flushQueued = false;
  }

  start() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}/ws?since=${this.lastSeq}`);
    this.ws = ws;
    ws.onopen = () => {
      this.delay = 500;
      this.onStatus('live');
    };
    ws.onmessage = (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch { return; }
      if (typeof ev.seq === 'number' && ev.seq > this.lastSeq) this.lastSeq = ev.seq;
      this.batch.push(ev);
      // Hand events over in batches, once per task, not one call per frame received.
      if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(() => {
          this.flushQueued = false;
          const b = this.batch;
          this.batch = [];
          this.onEvents(b);
        });
      }
    };
    ws.onclose = () => {
      this.onStatus('reconnecting');
      setTimeout(() => this.start(), this.delay);
      this.delay = Math.min(this.delay * 2, 5000);
    };
  }
}
