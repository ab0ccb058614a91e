// One engine in depth: its connections, a composer to send, and its live log with pause,
// clear, filters and export (the scene above draws every engine's sockets together).

import { api } from './api.js';
import { LogView } from './log.js';
import { FILTERS } from './kinds.js';
import { title } from './engines.js';
import { CodePanel } from './code.js';
import { ImpairPanel } from './impair.js';
import { Composer, talksToChat } from './composer.js';
import { renderConns, renderPairs, renderPeers } from './conns.js';
import { scoped } from './scope.js';
import { el, fmtBytes, replaceKids } from './util.js';


/** How long the sampling notice stays after the last summary. */
const SAMPLING_SHOWN_MS = 1500;

export class Detail {
  constructor(main, { store, onChanged, engines, onPick }) {
    this.main = main;
    // A log row clicked: the scene moves to the same event.
    this.onPick = onPick || (() => {});
    this.store = store;
    this.onChanged = onChanged;
    // The engines now, to tell what a client talks to (a chat room wants lines).
    this.engines = engines || (() => []);
    this.view = null;
    this.pending = [];
    this.frame = 0;
    this.paused = false;
    this.missedWhilePaused = 0;
    this.filter = { conn: '', kind: 'all', text: '' };
  }

  get id() {
    return this.view ? this.view.id : null;
  }

  matches(ev) {
    if (ev.kind === 'lagged' || ev.kind === 'history') return true;
    const f = this.filter;
    if (f.conn && ev.conn !== f.conn) return false;
    const group = FILTERS[f.kind];
    if (group && !group.includes(ev.kind)) return false;
    if (f.text) {
      const hay = `${ev.text ?? ''} ${ev.peer ?? ''} ${ev.message ?? ''} ${ev.call ?? ''} ${ev.conn ?? ''}`.toLowerCase();
      if (!hay.includes(f.text)) return false;
    }
    return true;
  }

  /** Shows an engine; builds the panel. */
  show(view) {
    this.view = view;
    this.pending = [];
    this.paused = false;
    this.filter = { conn: '', kind: 'all', text: '' };
    const id = view.id;
    this.head = el('header', { class: 'd-head' });
    this.conns = el('div', { class: 'conns' });
    this.transfers = el('div', { class: 'transfers', hidden: true, 'aria-label': 'file transfers' });
    this.transferRows = new Map();
    this.composer = new Composer(() => this.view);
    this.toolbar = this.buildToolbar();
    const logBox = el('div', { class: 'log', tabindex: 0, 'aria-label': 'event log' });
    this.jump = el('button', { type: 'button', class: 'jump', hidden: true, text: '↓ latest', onclick: () => this.log.scrollToEnd() });
    this.log = new LogView(logBox, {
      onAutoscroll: (on) => { this.jump.hidden = on; },
      onExpand: (summary) => this.expand(summary),
      onPick: (seq) => this.onPick(seq),
    });
    this.log.hex = this.hexBox ? this.hexBox.checked : false;
    this.views = el('div', { class: 'views' },
      el('div', { class: 'pane' }, el('h3', { text: 'Log' }), logBox, this.jump));
    this.codeBox = el('div', { class: 'code-box', hidden: true });
    this.section = el('section', { class: 'engine-detail', 'data-engine-id': id },
      this.head,
      el('div', { class: 'd-left' }, this.conns, this.composer.form, this.transfers,
        view.kind.startsWith('udp') ? new ImpairPanel(id, view.options?.impair ?? null).box : null),
      el('div', { class: 'd-right' }, this.buildTabs(), this.toolbar, this.views, this.codeBox));
    replaceKids(this.main, this.section);
    this.update(view);
    // A chat member sends lines, as nc does, so the others' screens break where it meant:
    // Enter alone sends "hi all\n". Elsewhere the lecture's clients send no newline.
    this.composer.form.elements.newline.checked = talksToChat(view, this.engines());
    this.rerender();
  }

  hide() {
    this.view = null;
  }

  /** Live (the log) or Code (the program behind this engine). */
  buildTabs() {
    const tab = (name, label) => {
      const b = el('button', { type: 'button', role: 'tab', 'data-tab': name, 'aria-selected': 'false', text: label });
      b.addEventListener('click', () => this.showTab(name));
      return b;
    };
    this.tabBar = el('div', { class: 'view-tabs', role: 'tablist', 'aria-label': 'views' },
      tab('live', 'Live: the log'), tab('code', 'Code: the program behind it'));
    queueMicrotask(() => this.showTab('live'));
    return this.tabBar;
  }

  showTab(name) {
    for (const b of this.tabBar.children) b.setAttribute('aria-selected', String(b.dataset.tab === name));
    const code = name === 'code';
    this.views.hidden = code;
    this.toolbar.hidden = code;
    this.codeBox.hidden = !code;
    // Loaded each time it is opened: a restarted engine may have a new port.
    if (code && this.view) new CodePanel(this.codeBox, this.view.id).load();
  }

  buildToolbar() {
    const bar = el('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'log controls' });
    this.pauseBtn = el('button', { type: 'button', 'aria-pressed': 'false', text: 'Pause' });
    this.pauseBtn.addEventListener('click', () => this.setPaused(!this.paused));
    const clear = el('button', { type: 'button', text: 'Clear' });
    clear.addEventListener('click', () => {
      this.store.set(this.id, []);
      this.rerender();
    });
    this.connFilter = el('select', { name: 'filter-conn', 'aria-label': 'filter by connection' }, el('option', { value: '', text: 'all connections' }));
    this.connFilter.addEventListener('change', () => { this.filter.conn = this.connFilter.value; this.rerender(); });
    const kind = el('select', { name: 'filter-kind', 'aria-label': 'filter by kind' },
      ...Object.keys(FILTERS).map((k) => el('option', { value: k, text: k === 'all' ? 'all kinds' : k })));
    kind.addEventListener('change', () => { this.filter.kind = kind.value; this.rerender(); });
    const text = el('input', { type: 'search', name: 'filter-text', placeholder: 'filter text', 'aria-label': 'filter by text' });
    text.addEventListener('input', () => { this.filter.text = text.value.toLowerCase(); this.rerender(); });
    const hexBox = el('input', { type: 'checkbox', name: 'hex' });
    this.hexBox = hexBox;
    hexBox.addEventListener('change', () => { this.log.hex = hexBox.checked; this.log.repaint(); });
    const older = el('button', { type: 'button', text: 'Load older' });
    older.addEventListener('click', () => this.loadOlder(older));
    const exp = el('button', { type: 'button', text: 'Export JSON' });
    exp.addEventListener('click', () => this.exportJson(exp));
    // Rebuilt from the socket calls, so it is said plainly: Wireshark opens it all the same.
    const pcap = el('a', {
      class: 'button pcap', text: 'pcap', download: `socketlab-${this.view.id}.pcap`,
      href: scoped(`/api/engines/${encodeURIComponent(this.view.id)}/capture.pcap`),
      title: 'the exchange as a pcap file for Wireshark or tshark: rebuilt from the socket calls (handshakes, sequence numbers, checksums), not captured on the wire; payload past the preview is cut',
    });
    this.count = el('span', { class: 'count', role: 'status' });
    this.sampling = el('span', { class: 'sampling', role: 'status', hidden: true });
    bar.append(this.pauseBtn, clear, this.connFilter, kind, text,
      el('label', { class: 'hex-toggle' }, hexBox, ' hex'), older, exp, pcap, this.sampling, this.count);
    return bar;
  }

  setPaused(p) {
    this.paused = p;
    this.pauseBtn.setAttribute('aria-pressed', String(p));
    this.pauseBtn.textContent = p ? 'Resume' : 'Pause';
    if (!p) {
      const backlog = this.pending;
      this.pending = [];
      this.push(backlog);
    }
    this.updateCount();
  }

  /** The events this view shows now. */
  visible() {
    return (this.store.get(this.id) ?? []).filter((ev) => this.matches(ev));
  }

  rerender() {
    if (!this.view) return;
    this.transferRows = new Map();
    this.transferBody = el('tbody');
    replaceKids(this.transfers, el('h3', { text: 'File transfers' }),
      el('table', { class: 'conn-table transfer-table' },
        el('thead', {}, el('tr', {}, ...['conn', 'peer', '', 'progress', 'file'].map((h) => el('th', { text: h })))),
        this.transferBody));
    this.noteTransfers(this.store.get(this.id) ?? []);
    this.pending = [];
    const evs = this.visible();
    this.log.reset(evs);
    this.updateCount();
    this.refreshConnFilter(evs);
  }

  updateCount() {
    const all = (this.store.get(this.id) ?? []).length;
    const paused = this.paused ? ` · paused, ${this.pending.length} new` : '';
    this.count.textContent = `${all} events${paused}`;
  }

  /** Says, while summaries arrive, that the view shows a sample and every event is kept. */
  noteSampling(evs) {
    let counted = 0;
    let windows = 0;
    for (const ev of evs) {
      if (ev.kind !== 'summary') continue;
      counted += Object.values(ev.counts ?? {}).reduce((a, b) => a + b, 0);
      windows = Math.max(windows, ev.window_ms || 100);
    }
    if (!counted) return;
    const now = performance.now();
    // Events per second over the summaries of the last second.
    this.sampled = (this.sampled ?? []).filter((s) => now - s.at < 1000);
    this.sampled.push({ at: now, n: counted });
    const perSec = this.sampled.reduce((a, s) => a + s.n, 0);
    this.sampling.hidden = false;
    this.sampling.textContent = `${perSec.toLocaleString()} events/s, showing a sample; every event is kept`;
    clearTimeout(this.samplingTimer);
    this.samplingTimer = setTimeout(() => { this.sampling.hidden = true; this.sampled = []; }, SAMPLING_SHOWN_MS);
  }

  /** Fetches every event a summary stood for from the history, and shows them in its place. */
  async expand(summary) {
    const conn = summary.conn ? `&conn=${encodeURIComponent(summary.conn)}` : '';
    const all = [];
    let since = summary.first_seq - 1;
    try {
      while (since < summary.last_seq && all.length < 50000) {
        const r = await api('GET', `/api/events?engine=${encodeURIComponent(summary.engine)}${conn}&since=${since}&until=${summary.last_seq}&limit=10000`);
        all.push(...r.events);
        if (r.next <= since || r.events.length === 0) break;
        since = r.next;
      }
    } catch (err) {
      this.count.textContent = err.message;
      return;
    }
    const arr = this.store.get(this.id) ?? [];
    const i = arr.indexOf(summary);
    if (i >= 0) arr.splice(i, 1, ...all);
    this.log.replace(summary, all.filter((ev) => this.matches(ev)));
    this.updateCount();
  }

  /** Shows each file transfer of this engine: a progress bar per connection, then the
   *  SHA-256 of the file sent or received, to compare with the other side's. */
  noteTransfers(evs) {
    for (const ev of evs) {
      if (ev.kind !== 'progress' && ev.kind !== 'file') continue;
      const key = `${ev.conn}`;
      let row = this.transferRows.get(key);
      if (!row) {
        row = {
          tr: el('tr', { 'data-conn': ev.conn ?? '' }),
          bar: el('progress', { max: 100, value: 0 }),
          text: el('span', { class: 'mono' }),
          way: el('td', { text: ev.call === 'send()' ? 'sending' : 'receiving' }),
        };
        row.tr.append(
          el('td', { text: ev.conn ?? '' }),
          el('td', { class: 'mono', text: ev.peer ?? '' }),
          row.way,
          el('td', {}, row.bar),
          el('td', {}, row.text));
        this.transferRows.set(key, row);
        this.transferBody.append(row.tr);
      }
      if (ev.kind === 'progress') {
        const pct = ev.total ? Math.floor((100 * ev.done) / ev.total) : null;
        if (pct !== null) row.bar.value = pct;
        else row.bar.removeAttribute('value');
        row.text.textContent = `${fmtBytes(ev.done)}${ev.total ? ` of ${fmtBytes(ev.total)}` : ''}`;
      } else {
        row.bar.value = 100;
        row.tr.classList.add('done');
        row.way.textContent = ev.call === 'send()' ? 'sent' : 'received';
        row.text.textContent = `${ev.file} · ${fmtBytes(ev.bytes)} · SHA-256 ${ev.sha256}`;
        row.text.title = 'the same SHA-256 on the other side means the file arrived whole';
      }
    }
    this.transfers.hidden = this.transferRows.size === 0;
  }

  /** New events of this engine. The log takes them at once (it draws per frame); the
   *  counters and filters follow at most every 150 ms. */
  push(evs) {
    this.noteSampling(evs);
    this.noteTransfers(evs);
    const shown = evs.filter((ev) => this.matches(ev));
    if (shown.length === 0) return;
    if (this.paused) {
      this.pending.push(...shown);
      if (this.pending.length > 20000) this.pending.splice(0, this.pending.length - 20000);
      this.updateCount();
      return;
    }
    this.log.append(shown);
    this.queue = (this.queue ?? []).concat(shown);
    if (!this.queueTimer) {
      this.queueTimer = setTimeout(() => {
        this.queueTimer = 0;
        const batch = this.queue;
        this.queue = [];
        if (!this.view) return;
        this.updateCount();
        this.refreshConnFilter(batch);
      }, 150);
    }
  }

  /** Marks the event the scene is at (stepping through it) and scrolls it into view. */
  highlight(seq) {
    if (this.log) this.log.highlight(seq);
  }

  refreshConnFilter(evs) {
    const have = new Set([...this.connFilter.options].map((o) => o.value));
    for (const ev of evs) {
      if (ev.conn && !have.has(ev.conn)) {
        have.add(ev.conn);
        this.connFilter.append(el('option', { value: ev.conn, text: `${ev.conn} ${ev.peer ?? ''}` }));
      }
    }
  }

  async loadOlder(button) {
    const evs = this.store.get(this.id) ?? [];
    const oldest = evs.find((e) => typeof e.seq === 'number' && e.kind !== 'lagged');
    const before = oldest ? oldest.seq : Number.MAX_SAFE_INTEGER;
    button.disabled = true;
    try {
      const r = await api('GET', `/api/events?engine=${encodeURIComponent(this.id)}&before=${before}&limit=500`);
      if (r.events.length === 0) {
        button.textContent = 'No older events kept';
        return;
      }
      this.store.set(this.id, [...r.events, ...evs]);
      this.log.prepend(r.events.filter((ev) => this.matches(ev)));
      this.refreshConnFilter(r.events);
      this.updateCount();
    } catch (err) {
      this.count.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  }

  exportJson() {
    // The server sends it as an attachment; the browser saves it.
    const a = el('a', { href: scoped(`/api/engines/${encodeURIComponent(this.id)}/export`), download: `socketlab-${this.id}-events.json` });
    document.body.append(a);
    a.click();
    a.remove();
  }

  /** Refreshes the head, connections and composer choices from a new engine view. */
  update(v) {
    this.view = v;
    const meta = [v.kind, v.behavior, v.local ? `local ${v.local}` : null, v.peer ? `peer ${v.peer}` : (v.target ? `target ${v.target}` : null)].filter(Boolean).join(' · ');
    replaceKids(this.head,
      el('h2', {}, el('span', { class: 'e-dot', 'aria-hidden': 'true' }), title(v), el('small', { text: ` ${v.id}` })),
      el('p', { class: 'd-meta', text: meta }),
      el('p', { class: `d-state s-${v.state}`, text: v.error ? (v.error.startsWith(v.state) ? v.error : `${v.state}: ${v.error}`) : v.state }));
    this.section.dataset.state = v.state;
    this.composer.update(v);
    if (v.kind.endsWith('proxy')) renderPairs(this.conns, v);
    else if (v.kind.startsWith('tcp')) renderConns(this.conns, v, this.onChanged);
    else renderPeers(this.conns, v, this.store.get(v.id) ?? [], this.composer);
  }
}
