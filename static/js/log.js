// The log: one row per socket call, newest at the bottom. It is a virtual list: every event
// of the view is kept in an array, but only the rows on screen (plus a margin) exist in the
// DOM, redrawn at most once per animation frame. A flood of events costs an array push each;
// the page's work per frame stays the same at 50 or 5,000 events a second.

import { b64ToBytes, el, fmtTime, hex, perFrame, visible } from './util.js';

const ARROWS = {
  received: '←', sent: '→', accepted: '⇠', connected: '⇢', closed: '✕', refused: '⊘',
  error: '!', lagged: '⚠', listening: '●', bound: '●', stopped: '■', shutdown: '⇥',
  summary: 'Σ', history: '↑', progress: '⋯', file: '▣', created: '○',
  dropped: '✕', duplicated: '⇉', reordered: '⇅', delayed: '⏱', step: '✓',
};

/** "1,234 recv() · 1,230 send()" from a summary's counts. */
export function summaryCalls(ev) {
  const calls = { received: 'recv()', sent: 'send()' };
  // The calls as the engine made them: recvfrom()/sendto() for UDP.
  return Object.entries(ev.counts ?? {})
    .map(([k, n]) => `${n.toLocaleString()} ${ev.latest?.[k]?.call ?? calls[k] ?? k}`)
    .join(' · ');
}

/** "1,234 recv() · 1,230 send() in 100 ms" from a summary's counts. */
export function summaryText(ev) {
  return `${summaryCalls(ev)} in ${ev.window_ms} ms`;
}
const OVERSCAN = 5;

/** The preview of an event's data: text with visible control characters, or hex. */
export function preview(ev, asHex, max = 160) {
  if (ev.data === undefined) return '';
  if (asHex) return hex(b64ToBytes(ev.data), Math.ceil(max / 3));
  return visible(ev.text ?? '', max);
}

export class LogView {
  constructor(box, { max = 20000, onAutoscroll, onExpand, onPick } = {}) {
    this.box = box;
    this.max = max;
    this.items = [];
    this.hex = false;
    this.autoscroll = true;
    this.paintSoon = perFrame(() => this.paint());
    this.paintedTop = 0;
    this.paintedClient = 0;
    this.spaceH = -1;
    this.version = 0;
    this.scrolled = false;
    this.rowH = 0;
    this.onAutoscroll = onAutoscroll || (() => {});
    this.onExpand = onExpand || (() => {});
    this.onPick = onPick || (() => {});
    this.current = null;
    this.rows = el('div', { class: 'log-rows', role: 'table', 'aria-label': 'socket calls, oldest first' });
    this.space = el('div', { class: 'log-space' }, this.rows);
    box.replaceChildren(this.space);
    this.rows.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-expand]');
      if (!b) {
        const row = e.target.closest('.row[data-seq]');
        if (row && !row.classList.contains('k-summary')) this.onPick(Number(row.dataset.seq));
        return;
      }
      const ev = this.items.find((it) => it.kind === 'summary' && String(it.last_seq) === b.dataset.expand && it.conn === (b.dataset.conn || undefined));
      if (ev) {
        b.disabled = true;
        this.onExpand(ev);
      }
    });
    // The scroll itself is only noted: paint reads the box once per frame and decides there,
    // so a flood of rows never forces a layout per scroll event.
    box.addEventListener('scroll', () => {
      this.scrolled = true;
      this.schedule();
    });
    new ResizeObserver(() => {
      this.rowH = 0;
      this.touched();
    }).observe(box);
  }

  height() {
    if (!this.rowH) this.rowH = parseFloat(getComputedStyle(this.box).getPropertyValue('--row-h')) || 20;
    return this.rowH;
  }

  row(ev) {
    const kind = ev.kind;
    const cls = `row k-${kind}`;
    if (kind === 'summary') {
      return el('div', { class: cls, role: 'row', 'data-seq': ev.last_seq, 'data-first': ev.first_seq, title: `seq ${ev.first_seq}–${ev.last_seq}, every one kept` },
        el('span', { class: 'c-time', text: fmtTime(ev.time) }),
        el('span', { class: 'c-arrow', text: ARROWS.summary, 'aria-label': 'summary' }),
        el('span', { class: 'c-call', text: 'summary' }),
        el('span', { class: 'c-conn', text: ev.conn ?? '' }),
        el('span', { class: 'c-peer', text: ev.latest?.received?.peer ?? ev.latest?.sent?.peer ?? '' }),
        el('span', { class: 'c-bytes', text: `${(ev.bytes_in + ev.bytes_out).toLocaleString()} B` }),
        el('span', { class: 'c-note' }, summaryText(ev), ' ',
          el('button', { type: 'button', class: 'small linklike expand', 'data-expand': ev.last_seq, 'data-conn': ev.conn ?? '', text: 'show every event' })));
    }
    if (kind === 'history') {
      return el('div', { class: cls, role: 'row' },
        el('span', { class: 'c-time', text: fmtTime(ev.time) }),
        el('span', { class: 'c-arrow', text: ARROWS.history, 'aria-hidden': 'true' }),
        el('span', { class: 'c-wide', text: 'older events are kept: Load older fetches them' }));
    }
    if (kind === 'lagged') {
      return el('div', { class: cls, role: 'row', 'data-seq': ev.seq },
        el('span', { class: 'c-time', text: fmtTime(ev.time) }),
        el('span', { class: 'c-arrow', text: ARROWS.lagged, 'aria-hidden': 'true' }),
        el('span', { class: 'c-wide', text: `this viewer lagged: ${ev.missed} events skipped (Load older fetches them)` }));
    }
    const note = ev.kind === 'progress'
      ? `${ev.file}: ${ev.done} of ${ev.total ?? '?'} bytes`
      : ev.kind === 'file' ? `${ev.message ?? ''} · SHA-256 ${ev.sha256}`
        : ev.kind === 'step' ? `lab ${ev.lab}: step ${(ev.step ?? 0) + 1} done (${ev.how === 'self' ? 'as the student said' : 'socketlab saw it'})` : ev.message ?? '';
    const hasData = ev.data !== undefined;
    return el('div', { class: cls, role: 'row', 'data-seq': ev.seq, title: note || undefined },
      el('span', { class: 'c-time', text: fmtTime(ev.time) }),
      el('span', { class: 'c-arrow', text: ARROWS[kind] ?? '·', 'aria-label': kind }),
      el('span', { class: 'c-call', text: ev.call ?? kind }),
      // A proxy's two legs share the pair's id: c (client side) or s (server side) after it.
      el('span', { class: 'c-conn', text: `${ev.conn ?? ''}${ev.leg ? ` ${ev.leg[0]}` : ''}`, title: ev.leg ? `${ev.leg} leg` : undefined }),
      el('span', { class: 'c-peer', text: ev.peer ?? '', title: ev.peer }),
      el('span', { class: 'c-bytes', text: ev.bytes !== undefined ? `${ev.bytes} B` : '' }),
      el('span', { class: hasData ? 'c-data' : 'c-note', text: hasData ? preview(ev, this.hex) + (ev.truncated ? ' [cut]' : '') : note }));
  }

  /** Marks the row of event `seq` as current (the scene's cursor) and scrolls to it. */
  highlight(seq) {
    this.current = seq;
    const i = this.items.findIndex((ev) => ev.seq === seq);
    if (i >= 0) {
      const h = this.height();
      const top = this.box.scrollTop;
      if (i * h < top || (i + 1) * h > top + this.box.clientHeight) {
        this.autoscroll = false;
        this.onAutoscroll(false);
        this.box.scrollTop = Math.max(0, i * h - this.box.clientHeight / 2);
      }
    }
    this.schedule();
  }

  schedule() {
    this.paintSoon();
  }

  /** The rows changed: the next paint redraws them. */
  touched() {
    this.version += 1;
    this.schedule();
  }

  /** Draws the rows in view. */
  paint() {
    const h = this.height();
    const n = this.items.length;
    // Every read before any write: one layout per frame at most.
    const client = this.box.clientHeight;
    let top = this.box.scrollTop;
    if (this.scrolled) {
      this.scrolled = false;
      const atBottom = top + client >= this.spaceH - h - 4;
      // Only a scroll up by the reader stops the following: the box changing size (a notice
      // above it wrapping, the window resized) moves scrollTop too, and must not.
      const readerUp = top < this.paintedTop - 2 && client === this.paintedClient;
      const follow = atBottom || (this.autoscroll && !readerUp);
      if (follow !== this.autoscroll) {
        this.autoscroll = follow;
        this.onAutoscroll(follow);
      }
    }
    if (this.spaceH !== n * h) {
      this.spaceH = n * h;
      this.space.style.height = `${n * h}px`;
    }
    if (this.autoscroll) {
      top = Math.max(0, n * h - client);
      if (this.box.scrollTop !== top) this.box.scrollTop = top;
    }
    this.paintedTop = top;
    this.paintedClient = client;
    const first = Math.max(0, Math.floor(top / h) - OVERSCAN);
    const count = Math.ceil(client / h) + 2 * OVERSCAN;
    // The same rows as last time (a scroll within the margin): nothing to redraw.
    const key = `${this.version}|${first}|${count}|${this.current}|${this.hex}`;
    if (key === this.drawn) return;
    this.drawn = key;
    const slice = this.items.slice(first, first + count);
    this.rows.style.transform = `translateY(${first * h}px)`;
    this.rows.replaceChildren(...slice.map((ev) => {
      const r = this.row(ev);
      if (this.current !== null && ev.seq === this.current) r.classList.add('current');
      return r;
    }));
  }

  /** Replaces every row. */
  reset(events) {
    this.items = events.slice(-this.max);
    this.touched();
  }

  /** Adds rows at the bottom; the oldest go past the cap. */
  append(events) {
    if (events.length === 0) return;
    for (const ev of events) this.items.push(ev);
    const over = this.items.length - this.max;
    if (over > 0) {
      this.items.splice(0, over);
      if (!this.autoscroll) this.box.scrollTop -= over * this.height();
    }
    this.touched();
  }

  /** Adds older rows at the top, keeping the view where it was. */
  prepend(events) {
    if (events.length === 0) return;
    this.items = [...events, ...this.items];
    this.spaceH = this.items.length * this.height();
    this.space.style.height = `${this.spaceH}px`;
    if (!this.autoscroll) this.box.scrollTop += events.length * this.height();
    this.touched();
  }

  /** Puts `events` where `item` was (a summary, expanded into the events it stood for). */
  replace(item, events) {
    const i = this.items.indexOf(item);
    if (i < 0) return;
    this.items.splice(i, 1, ...events);
    if (!this.autoscroll) this.box.scrollTop += (events.length - 1) * this.height();
    this.touched();
  }

  /** Redraws (after a display option changed). */
  repaint() {
    this.touched();
  }

  scrollToEnd() {
    this.autoscroll = true;
    this.onAutoscroll(true);
    this.schedule();
  }
}
