// The log: one row per socket call, newest at the bottom. Rows are added in batches once per
// animation frame and capped, so a flood of events keeps the page responsive.

import { b64ToBytes, el, fmtTime, hex, visible } from './util.js';

const ARROWS = {
  received: '←', sent: '→', accepted: '⇠', connected: '⇢', closed: '✕', refused: '⊘',
  error: '!', lagged: '⚠', listening: '●', bound: '●', stopped: '■', shutdown: '⇥',
};

/** The preview of an event's data: text with visible control characters, or hex. */
export function preview(ev, asHex, max = 160) {
  if (ev.data === undefined) return '';
  if (asHex) return hex(b64ToBytes(ev.data), Math.ceil(max / 3));
  return visible(ev.text ?? '', max);
}

export class LogView {
  constructor(box, { maxRows = 800, onAutoscroll } = {}) {
    this.box = box;
    this.maxRows = maxRows;
    this.hex = false;
    this.autoscroll = true;
    this.onAutoscroll = onAutoscroll || (() => {});
    this.rows = el('div', { class: 'log-rows', role: 'table', 'aria-label': 'socket calls, oldest first' });
    box.replaceChildren(this.rows);
    box.addEventListener('scroll', () => {
      const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 24;
      if (atBottom !== this.autoscroll) {
        this.autoscroll = atBottom;
        this.onAutoscroll(atBottom);
      }
    });
  }

  row(ev) {
    const kind = ev.kind;
    const cls = `row k-${kind}`;
    if (kind === 'lagged') {
      return el('div', { class: cls, role: 'row', 'data-seq': ev.seq },
        el('span', { class: 'c-time', text: fmtTime(ev.time) }),
        el('span', { class: 'c-arrow', text: ARROWS.lagged, 'aria-hidden': 'true' }),
        el('span', { class: 'c-wide', text: `this viewer lagged: ${ev.missed} events skipped (Load older fetches them)` }));
    }
    const data = preview(ev, this.hex);
    const note = ev.message ?? '';
    return el('div', { class: cls, role: 'row', 'data-seq': ev.seq, title: note || undefined },
      el('span', { class: 'c-time', text: fmtTime(ev.time) }),
      el('span', { class: 'c-arrow', text: ARROWS[kind] ?? '·', 'aria-label': kind }),
      el('span', { class: 'c-call', text: ev.call ?? kind }),
      el('span', { class: 'c-conn', text: ev.conn ?? '' }),
      el('span', { class: 'c-peer', text: ev.peer ?? '', title: ev.peer }),
      el('span', { class: 'c-bytes', text: ev.bytes !== undefined ? `${ev.bytes} B` : '' }),
      el('span', { class: ev.data !== undefined ? 'c-data' : 'c-note', text: ev.data !== undefined ? data + (ev.truncated ? ' [cut]' : '') : note }));
  }

  /** Replaces every row. */
  reset(events) {
    this.rows.replaceChildren();
    this.append(events);
  }

  /** Adds rows at the bottom, dropping the oldest past the cap. */
  append(events) {
    if (events.length === 0) return;
    const slice = events.length > this.maxRows ? events.slice(-this.maxRows) : events;
    const frag = document.createDocumentFragment();
    for (const ev of slice) frag.append(this.row(ev));
    this.rows.append(frag);
    let extra = this.rows.childElementCount - this.maxRows;
    while (extra-- > 0) this.rows.firstElementChild.remove();
    if (this.autoscroll) this.box.scrollTop = this.box.scrollHeight;
  }

  /** Adds older rows at the top (keeping the view where it was). */
  prepend(events) {
    if (events.length === 0) return;
    const before = this.box.scrollHeight;
    const frag = document.createDocumentFragment();
    for (const ev of events) frag.append(this.row(ev));
    this.rows.prepend(frag);
    this.box.scrollTop += this.box.scrollHeight - before;
  }

  scrollToEnd() {
    this.autoscroll = true;
    this.box.scrollTop = this.box.scrollHeight;
    this.onAutoscroll(true);
  }
}
