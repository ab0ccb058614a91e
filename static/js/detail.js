// One engine in depth: its connections, a composer to send, and its live log with pause,
// clear, filters and export (the scene above draws every engine's sockets together).

import { api } from './api.js';
import { LogView } from './log.js';
import { title } from './engines.js';
import { CodePanel } from './code.js';
import { ImpairPanel } from './impair.js';
import { scoped } from './scope.js';
import { el, fmtBytes, fmtTime, replaceKids } from './util.js';

const GROUPS = {
  all: null,
  data: ['received', 'sent', 'summary'],
  received: ['received'],
  sent: ['sent'],
  connections: ['accepted', 'connected', 'closed', 'refused', 'shutdown'],
  problems: ['error', 'refused', 'lagged', 'stopped'],
};

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
    const group = GROUPS[f.kind];
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
    this.composer = this.buildComposer();
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
      el('div', { class: 'd-left' }, this.conns, this.composer, this.transfers,
        view.kind.startsWith('udp') ? new ImpairPanel(id, view.options?.impair ?? null).box : null),
      el('div', { class: 'd-right' }, this.buildTabs(), this.toolbar, this.views, this.codeBox));
    replaceKids(this.main, this.section);
    this.update(view);
    // A chat member sends lines, as nc does, so the others' screens break where it meant:
    // Enter alone sends "hi all\n". Elsewhere the lecture's clients send no newline.
    this.composer.elements.newline.checked = this.talksToChat(view);
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

  /** Whether a client's peer is a chat room (one of ours, or one it is named for). */
  talksToChat(v) {
    if (v.kind !== 'tcp-client') return false;
    const room = this.engines().some((e) => e.kind === 'tcp-server' && e.behavior === 'chat' && e.local && e.local === v.peer);
    return room || /chat/i.test(v.name ?? '');
  }

  buildComposer() {
    const f = el('form', { class: 'composer act', 'aria-label': 'send bytes', autocomplete: 'off' },
      el('div', { class: 'c-data' },
        el('label', { for: 'c-data', text: 'Send' }),
        el('textarea', { id: 'c-data', name: 'data', rows: 2, spellcheck: 'false', placeholder: 'hello   (Enter sends, Shift+Enter adds a line)' })),
      el('div', { class: 'c-opts' },
        el('label', {}, 'encoding ', el('select', { name: 'encoding' },
          el('option', { value: 'text', text: 'text' }), el('option', { value: 'hex', text: 'hex' }), el('option', { value: 'base64', text: 'base64' }))),
        el('label', { class: 'c-conn' }, 'to ', el('select', { name: 'conn', 'aria-label': 'connection' })),
        el('label', { class: 'c-to' }, 'to ', el('input', { name: 'to', placeholder: '127.0.0.1:50000', list: 'udp-peers', spellcheck: 'false', 'aria-label': 'destination host:port' })),
        el('datalist', { id: 'udp-peers' }),
        el('label', { class: 'c-nl' }, el('input', { type: 'checkbox', name: 'newline' }), ' add \\n'),
        el('label', { class: 'c-rep', title: 'send it this many times (each is its own send() and event)' }, 'repeat ',
          el('input', { name: 'repeat', type: 'number', min: 1, max: 10000, value: 1, 'aria-label': 'repeat count' })),
        el('label', { class: 'c-every', title: 'milliseconds between repeats' }, 'every ',
          el('input', { name: 'interval', type: 'number', min: 0, max: 3600000, value: 1000, 'aria-label': 'interval in milliseconds' }), ' ms'),
        el('button', { type: 'button', class: 'c-stop', text: 'Stop repeating', hidden: true }),
        el('button', { type: 'submit', class: 'primary', text: 'Send' }),
        el('button', { type: 'button', class: 'c-half', 'data-shutdown': 'write', text: 'Send + shutdown(SHUT_WR)', title: 'half-close: send, then say "no more from me"; still receive' })),
      el('p', { class: 'c-result', role: 'status' }));
    const data = f.elements.data;
    data.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        f.requestSubmit();
      }
    });
    f.addEventListener('submit', (e) => {
      e.preventDefault();
      this.send(false);
    });
    f.querySelector('.c-half').addEventListener('click', () => this.send(true));
    const rep = f.elements.repeat;
    const every = f.querySelector('.c-every');
    const syncRepeat = () => { every.hidden = !(Number(rep.value) > 1); };
    rep.addEventListener('input', syncRepeat);
    syncRepeat();
    f.querySelector('.c-stop').addEventListener('click', () => this.stopRepeats());
    return f;
  }

  async send(halfClose) {
    const f = this.composer;
    const v = this.view;
    const out = f.querySelector('.c-result');
    const body = { data: f.elements.data.value, encoding: f.elements.encoding.value };
    if (body.encoding === 'text' && f.elements.newline.checked) body.data += '\n';
    if (v.kind === 'tcp-server') body.conn = f.elements.conn.value;
    if (v.kind.startsWith('udp') && f.elements.to.value.trim()) body.to = f.elements.to.value.trim();
    if (halfClose) body.shutdown = 'write';
    const repeat = Number(f.elements.repeat.value);
    if (repeat > 1) {
      body.repeat = repeat;
      body.interval_ms = Number(f.elements.interval.value);
    }
    out.classList.remove('bad');
    try {
      const r = await api('POST', `/api/engines/${encodeURIComponent(v.id)}/send`, body);
      const to = r.sent_to.length ? r.sent_to.join(', ') : 'nobody (no open connection)';
      out.textContent = repeat > 1 ? `sending ${repeat} × ${r.bytes} B to ${to}, every ${body.interval_ms} ms` : `sent ${r.bytes} B to ${to}`;
      f.querySelector('.c-stop').hidden = !(repeat > 1);
      if (repeat <= 1) f.elements.data.value = '';
    } catch (err) {
      out.classList.add('bad');
      out.textContent = err.message;
    }
    f.elements.data.focus();
  }

  async stopRepeats() {
    const out = this.composer.querySelector('.c-result');
    try {
      await api('POST', `/api/engines/${encodeURIComponent(this.view.id)}/send/stop`);
      out.textContent = 'repeats stopped';
      this.composer.querySelector('.c-stop').hidden = true;
    } catch (err) {
      out.classList.add('bad');
      out.textContent = err.message;
    }
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
      ...Object.keys(GROUPS).map((k) => el('option', { value: k, text: k === 'all' ? 'all kinds' : k })));
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
        };
        row.tr.append(
          el('td', { text: ev.conn ?? '' }),
          el('td', { class: 'mono', text: ev.peer ?? '' }),
          el('td', { text: ev.call === 'send()' ? 'sending' : 'receiving' }),
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
    const tcp = v.kind.startsWith('tcp');
    const f = this.composer;
    f.querySelector('.c-conn').hidden = v.kind !== 'tcp-server';
    f.querySelector('.c-to').hidden = tcp;
    f.querySelector('.c-half').hidden = v.kind !== 'tcp-client';
    f.elements.to.placeholder = v.kind === 'udp-client' ? `default ${v.peer ?? v.target ?? ''}` : '127.0.0.1:50000 (a sender, from the log)';
    for (const b of f.querySelectorAll('button')) b.disabled = v.state !== 'running';
    if (v.kind === 'tcp-server') {
      const sel = f.elements.conn;
      const cur = sel.value;
      const opts = [el('option', { value: '*', text: `all open (${v.connections.length})` }),
        ...v.connections.map((c) => el('option', { value: c.id, text: `${c.id} ${c.peer}` }))];
      replaceKids(sel, opts);
      sel.value = [...sel.options].some((o) => o.value === cur) ? cur : (v.connections.length === 1 ? v.connections[0].id : '*');
    }
    // A proxy relays; it has nothing of its own to send.
    this.composer.hidden = v.kind.endsWith('proxy');
    if (v.kind.endsWith('proxy')) this.renderPairs(v);
    else if (tcp) this.renderConns(v);
    else this.renderPeers(v);
  }

  /** A proxy's pairs: each client, socketlab's socket to the server for it, and the bytes
   *  each way on each leg. */
  renderPairs(v) {
    const rows = v.connections.map((c) => el('tr', { 'data-conn': c.id },
      el('td', { text: c.id }), el('td', { class: 'mono', text: c.peer }),
      el('td', { text: `${fmtBytes(c.bytes_in)} → ${fmtBytes(c.upstream?.bytes_out ?? 0)}` }),
      el('td', { class: 'mono', text: c.upstream ? c.upstream.local : 'connecting…' }),
      el('td', { text: `${fmtBytes(c.upstream?.bytes_in ?? 0)} → ${fmtBytes(c.bytes_out)}` })));
    replaceKids(this.conns,
      el('h3', { text: `Pairs relayed (${v.connections.length} open, ${v.stats.connections_total} total) to ${v.target}` }),
      rows.length
        ? el('table', { class: 'conn-table' },
          el('thead', {}, el('tr', {}, ...['id', 'client', 'client → server', 'socketlab’s socket', 'server → client'].map((h) => el('th', { text: h })))),
          el('tbody', {}, rows))
        : el('p', { class: 'empty', text: `No client yet. Point a program at ${v.local ?? 'the bind address'}; socketlab relays it to ${v.target}.` }));
  }

  renderConns(v) {
    const server = v.kind === 'tcp-server';
    const rows = v.connections.map((c) => el('tr', { 'data-conn': c.id },
      el('td', { text: c.id }), el('td', { class: 'mono', text: c.peer }), el('td', { text: fmtTime(c.opened).slice(0, 8) }),
      el('td', { text: fmtBytes(c.bytes_in) }), el('td', { text: fmtBytes(c.bytes_out) }),
      el('td', {}, server ? el('button', {
        type: 'button', class: 'small act', text: 'Close', 'aria-label': `close ${c.id}`,
        onclick: async (e) => {
          e.target.disabled = true;
          try { await api('DELETE', `/api/engines/${encodeURIComponent(v.id)}/connections/${encodeURIComponent(c.id)}`); } catch (err) { e.target.title = err.message; }
          this.onChanged();
        },
      }) : null)));
    replaceKids(this.conns,
      el('h3', { text: server ? `Connections (${v.connections.length} open, ${v.stats.connections_total} total)` : 'Connection' }),
      rows.length
        ? el('table', { class: 'conn-table' },
          el('thead', {}, el('tr', {}, ...['id', 'peer', 'opened', 'in', 'out', ''].map((h) => el('th', { text: h })))),
          el('tbody', {}, rows))
        : el('p', { class: 'empty', text: server ? 'No client connected. Start a matching client, or: nc ' + (v.local ?? '').replace(/:(\d+)$/, ' $1') : 'Not connected.' }));
  }

  renderPeers(v) {
    const peers = new Map();
    for (const ev of this.store.get(v.id) ?? []) {
      if (ev.peer && (ev.kind === 'received' || ev.kind === 'sent')) peers.set(ev.peer, (peers.get(ev.peer) ?? 0) + 1);
    }
    replaceKids(this.composer.querySelector('#udp-peers'), [...peers.keys()].map((p) => el('option', { value: p })));
    replaceKids(this.conns,
      el('h3', { text: 'Peers seen (UDP has no connections)' }),
      peers.size
        ? el('ul', { class: 'peers' }, [...peers].map(([p, n]) => el('li', {},
          el('button', { type: 'button', class: 'small linklike', text: p, title: 'send to this address', onclick: () => { this.composer.elements.to.value = p; this.composer.elements.data.focus(); } }),
          ` ${n} datagrams`)))
        : el('p', { class: 'empty', text: `No datagrams yet. Try: echo hi | nc -u -w1 ${(v.local ?? '').replace(/:(\d+)$/, ' $1')}` }));
  }
}
