// The instructor's class view: the join link large enough to read off a projector, and
// every workspace with live counters and its lab progress, sortable, each one a click from
// being opened read-only, reset, removed, or having its watch link copied; a grid of
// students by steps to read off a projector; a lab handed out to everyone (and late
// joiners) or to chosen students; the progress as CSV.

import { api } from './api.js';
import { ago, copyText, el, fmtBytes, replaceKids } from './util.js';

const COLUMNS = [
  { key: 'name', label: 'Name', value: (w) => w.name.toLowerCase(), show: (w) => w.name },
  { key: 'lab', label: 'Lab', value: labProgress, show: labText },
  { key: 'engines', label: 'Engines', value: (w) => w.engines, show: (w) => `${w.engines_running} / ${w.engines}` },
  { key: 'connections', label: 'Connections', value: (w) => w.connections, show: (w) => String(w.connections) },
  { key: 'events_per_sec', label: 'Events/s', value: (w) => w.events_per_sec, show: (w) => (w.events_per_sec < 10 ? w.events_per_sec.toFixed(1) : Math.round(w.events_per_sec).toLocaleString()) },
  { key: 'bytes_in', label: 'In', value: (w) => w.bytes_in, show: (w) => fmtBytes(w.bytes_in) },
  { key: 'bytes_out', label: 'Out', value: (w) => w.bytes_out, show: (w) => fmtBytes(w.bytes_out) },
  { key: 'viewers', label: 'Viewers', value: (w) => w.viewers, show: (w) => String(w.viewers) },
  { key: 'last_active', label: 'Last active', value: (w) => Date.parse(w.last_active), show: (w) => ago(w.last_active) },
];

/** How far a workspace is in its lab (0 to 1), -1 with no lab: sorted ascending, who is
 *  stuck comes first, the longest without a step before the others. */
function labProgress(w) {
  if (!w.lab) return -1;
  return w.lab.done / Math.max(1, w.lab.total) - Math.min(w.lab.since_last_step_secs, 86400) / 1e7;
}

function secs(n) {
  if (n < 60) return `${n} s`;
  if (n < 3600) return `${Math.floor(n / 60)} min`;
  return `${Math.floor(n / 3600)} h`;
}

/** `Echo · 2/3 · 40 s` (the lab, steps done of all, time since the last step). */
function labText(w) {
  if (!w.lab) return '—';
  const l = w.lab;
  return l.done === l.total ? `${l.name} · ${l.done}/${l.total} ✓` : `${l.name} · ${l.done}/${l.total} · ${secs(l.since_last_step_secs)}`;
}

/** Workspaces sorted by a column; the instructor's own stays first. Exported for tests. */
export function sortWorkspaces(list, key, dir) {
  const col = COLUMNS.find((c) => c.key === key) ?? COLUMNS[0];
  const sign = dir === 'descending' ? -1 : 1;
  return [...list].sort((a, b) => {
    if ((a.kind === 'instructor') !== (b.kind === 'instructor')) return a.kind === 'instructor' ? -1 : 1;
    const x = col.value(a);
    const y = col.value(b);
    return (x < y ? -1 : x > y ? 1 : 0) * sign || a.id.localeCompare(b.id);
  });
}

/** A button that acts on the second click within 3 s, saying what it will do first. */
function twoStep(label, confirmLabel, act) {
  const b = el('button', { type: 'button', class: 'small', text: label });
  let armed = null;
  b.addEventListener('click', async () => {
    if (!armed) {
      b.textContent = confirmLabel;
      b.classList.add('armed');
      armed = setTimeout(() => { armed = null; b.textContent = label; b.classList.remove('armed'); }, 3000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    b.disabled = true;
    try { await act(); } finally { b.disabled = false; b.textContent = label; b.classList.remove('armed'); }
  });
  return b;
}

export class ClassView {
  constructor(section, { onOpen }) {
    this.section = section;
    this.onOpen = onOpen;
    this.sort = { key: 'name', dir: 'ascending' };
    this.list = [];
    this.timer = 0;
  }

  build(ctx) {
    const url = ctx.class.join_url;
    const shown = url.replace(/^https?:\/\//, '');
    const joinInput = el('input', { class: 'copy-src', readonly: true, value: url, 'aria-label': 'join link' });
    const copied = el('span', { class: 'copied', role: 'status' });
    this.board = el('div', { class: 'join-board' },
      el('p', { class: 'join-label', text: 'Students join at' }),
      el('p', { class: 'join-url', id: 'join-url', text: shown }),
      el('p', { class: 'join-code' }, 'class code ', el('b', { id: 'class-code', text: ctx.class.code })),
      el('div', { class: 'copy-row' }, joinInput,
        el('button', { type: 'button', class: 'primary', text: 'Copy join link', onclick: async () => {
          copied.textContent = (await copyText(url, joinInput)) ? 'copied' : 'select and copy the link';
        } }), copied));
    const name = el('input', { name: 'name', placeholder: 'a student\'s name', maxlength: 60, 'aria-label': 'name for a one-person link' });
    this.invite = el('div', { class: 'invite-result', role: 'status' });
    const form = el('form', { class: 'invite', autocomplete: 'off' },
      el('label', { text: 'A link for one person: ' }), name,
      el('button', { type: 'submit', text: 'Make link' }));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        const made = await api('POST', '/api/workspaces', { name: name.value });
        const input = el('input', { class: 'copy-src', readonly: true, value: made.join_url, 'aria-label': `join link for ${made.name}` });
        replaceKids(this.invite, `${made.name}: `, input,
          el('button', { type: 'button', class: 'small', text: 'Copy', onclick: () => copyText(made.join_url, input) }));
        name.value = '';
        this.poll();
      } catch (err) {
        replaceKids(this.invite, el('span', { class: 'bad', text: err.message }));
      }
    });
    this.head = el('tr');
    this.body = el('tbody');
    this.count = el('h2', { id: 'ws-count' });
    this.error = el('p', { class: 'form-error', role: 'alert' });
    this.grid = el('div', { class: 'progress-grid-wrap', id: 'progress-grid', hidden: true });
    this.table = el('div', { class: 'ws-scroll' },
      el('table', { class: 'ws-table', id: 'ws-table' }, el('thead', {}, this.head), this.body));
    const viewAs = (which) => {
      this.view = which;
      sessionStorage.setItem('socketlab-class-view', which);
      this.grid.hidden = which !== 'grid';
      this.table.hidden = which === 'grid';
      for (const b of toggle.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.view === which));
      this.renderGrid();
    };
    const toggle = el('span', { class: 'view-toggle', role: 'group', 'aria-label': 'show the class as' },
      el('button', { type: 'button', class: 'small', 'data-view': 'table', text: 'Table', onclick: () => viewAs('table') }),
      el('button', { type: 'button', class: 'small', 'data-view': 'grid', text: 'Progress grid', onclick: () => viewAs('grid') }),
      el('a', { class: 'small csv', href: '/api/class/progress.csv', download: 'progress.csv', text: 'progress.csv' }));
    replaceKids(this.section,
      this.board,
      this.notLoaded(ctx.class.not_loaded ?? []),
      el('div', { class: 'class-panel' },
        el('div', { class: 'class-panel-head' }, this.count, toggle, form),
        this.invite,
        this.handout(),
        this.error,
        this.table,
        this.grid));
    this.renderHead();
    viewAs(sessionStorage.getItem('socketlab-class-view') ?? 'table');
  }

  /** Workspaces whose files did not load at start: where each file is now, and the ports
   *  kept for it until removed here. */
  notLoaded(list) {
    if (!list.length) return null;
    const items = list.map((b) => {
      const li = el('li', { 'data-not-loaded': b.id },
        el('b', { text: b.id }),
        ` did not load (${b.why}); its file is kept unchanged at `,
        el('code', { text: b.moved_to }),
        b.port_range ? `; ports ${b.port_range[0]}-${b.port_range[1]} are kept for it. ` : '. ',
        twoStep('Remove', 'Sure? Remove', async () => {
          await this.act('DELETE', `/api/workspaces/${encodeURIComponent(b.id)}`);
          li.remove();
        }));
      return li;
    });
    return el('div', { class: 'not-loaded', role: 'alert' },
      el('p', { text: 'Not loaded at start (fix the file and rename it back to ID.json, then restart, to restore it; Remove frees its ports):' }),
      el('ul', {}, ...items));
  }

  renderHead() {
    replaceKids(this.head, ...COLUMNS.map((c) => {
      const sorted = this.sort.key === c.key;
      const b = el('button', { type: 'button', class: 'sort', 'data-sort': c.key, text: c.label + (sorted ? (this.sort.dir === 'ascending' ? ' ▲' : ' ▼') : '') });
      b.addEventListener('click', () => {
        this.sort = { key: c.key, dir: sorted && this.sort.dir === 'ascending' ? 'descending' : 'ascending' };
        this.renderHead();
        this.renderRows();
      });
      return el('th', { 'aria-sort': sorted ? this.sort.dir : 'none', class: ['name', 'lab', 'last_active'].includes(c.key) ? '' : 'num' }, b);
    }), el('th', { text: '' }));
  }

  /** Hand out a lab: one of the built-in ones or the instructor's, to everyone (and whoever
   *  joins later) or to the students ticked, loaded or only put in their labs. */
  handout() {
    this.labPick = el('select', { id: 'handout-lab', 'aria-label': 'lab to hand out' });
    this.chosen = el('div', { class: 'handout-chosen', id: 'handout-chosen' });
    const all = el('input', { type: 'radio', name: 'handout-to', value: 'all', checked: true });
    const some = el('input', { type: 'radio', name: 'handout-to', value: 'some' });
    const picker = el('details', { class: 'handout-pick' }, el('summary', { text: 'choose students' }), this.chosen);
    const load = el('input', { type: 'checkbox', id: 'handout-load', checked: true });
    const out = el('p', { class: 'handout-result', role: 'status' });
    const form = el('form', { class: 'handout', id: 'handout', autocomplete: 'off' },
      el('label', { for: 'handout-lab', text: 'Hand out' }), this.labPick,
      el('label', {}, all, ' to everyone, and whoever joins later'),
      el('label', {}, some, ' to '), picker,
      el('label', {}, load, ' load it now'),
      el('button', { type: 'submit', class: 'primary', text: 'Hand out' }));
    some.addEventListener('change', () => { picker.open = true; });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const to = some.checked ? [...this.chosen.querySelectorAll('input:checked')].map((c) => c.value) : 'all';
      try {
        const r = await api('POST', '/api/class/labs', { lab: this.labPick.value, to, load: load.checked });
        const moved = r.ports_rewritten ? `; fixed ports moved into each one's block for ${r.ports_rewritten}` : '';
        const failed = r.failed ? `; ${r.failed} could not: ${r.workspaces.filter((g) => g.error).map((g) => `${g.name} (${g.error})`).join(', ')}` : '';
        out.textContent = `${r.lab.name} given to ${r.given}${r.load ? ', loaded' : ''}${moved}${failed}${r.late_joiners ? '; whoever joins later gets it too' : ''}.`;
        out.classList.toggle('bad', !!r.failed);
        this.poll();
      } catch (err) {
        out.textContent = err.message;
        out.classList.add('bad');
      }
    });
    this.fillLabs();
    return el('div', { class: 'handout-box' }, form, out);
  }

  async fillLabs() {
    try {
      const labs = await api('GET', '/api/labs');
      replaceKids(this.labPick, labs.map((l) => el('option', { value: l.id, text: l.builtin ? l.name : `${l.name} (yours)` })));
    } catch (err) {
      this.error.textContent = err.message;
    }
  }

  /** The students to tick for a hand-out, kept ticked across polls. */
  renderChosen() {
    const students = this.list.filter((w) => w.kind === 'student').sort((a, b) => a.name.localeCompare(b.name));
    const ids = students.map((w) => w.id).join();
    if (this.chosen.dataset.ids === ids) return;
    const ticked = new Set([...this.chosen.querySelectorAll('input:checked')].map((c) => c.value));
    this.chosen.dataset.ids = ids;
    replaceKids(this.chosen, students.length ? students.map((w) => el('label', {},
      el('input', { type: 'checkbox', value: w.id, checked: ticked.has(w.id) }), ` ${w.name}`)) : [el('span', { text: 'no students yet' })]);
  }

  /** Students by steps: ✓ done, ▶ the step each is on, · not yet; large enough for a
   *  projector. */
  renderGrid() {
    if (this.view !== 'grid' || !this.grid) return;
    const rows = this.list.filter((w) => w.kind === 'student' || w.lab)
      .sort((a, b) => a.name.localeCompare(b.name));
    const most = Math.max(0, ...rows.map((w) => w.lab?.total ?? 0));
    const head = el('tr', {}, el('th', { scope: 'col', text: 'Student' }), el('th', { scope: 'col', text: 'Lab' }),
      ...Array.from({ length: most }, (_, i) => el('th', { scope: 'col', class: 'g-step', text: String(i + 1) })));
    const body = rows.map((w) => {
      const l = w.lab;
      const cells = Array.from({ length: most }, (_, i) => {
        const s = l?.steps[i];
        if (!s) return el('td', { class: 'g-none' });
        const state = s.done ? 'done' : i === l.current ? 'current' : 'todo';
        const title = s.done ? `step ${i + 1}: done ${new Date(s.at).toLocaleTimeString()}${s.how === 'self' ? ' (said)' : ''}` : `step ${i + 1}: ${state === 'current' ? 'on it' : 'not yet'}`;
        return el('td', { class: `g-${state}`, 'data-state': state, title, text: state === 'done' ? '✓' : state === 'current' ? '▶' : '○' });
      });
      return el('tr', { 'data-ws-id': w.id },
        el('th', { scope: 'row', class: 'g-name', text: w.name }),
        el('td', { class: 'g-lab', text: l ? `${l.done}/${l.total}` : '—', title: l ? l.name : 'no lab loaded' }),
        ...cells);
    });
    const labs = [...new Set(rows.filter((w) => w.lab).map((w) => w.lab.name))];
    replaceKids(this.grid, rows.length
      ? el('table', { class: 'progress-grid' },
        el('caption', { text: labs.length ? `${labs.join(', ')}: ✓ done · ▶ on it · ○ not yet` : 'No lab loaded yet: hand one out above.' }),
        el('thead', {}, head), el('tbody', {}, ...body))
      : el('p', { class: 'muted', text: 'No students yet: share the join link.' }));
  }

  renderRows() {
    const rows = sortWorkspaces(this.list, this.sort.key, this.sort.dir).map((w) => this.row(w));
    replaceKids(this.body, rows);
    const students = this.list.filter((w) => w.kind !== 'instructor').length;
    this.count.textContent = `Workspaces: ${students} student${students === 1 ? '' : 's'}`;
  }

  row(w) {
    const mine = w.kind === 'instructor';
    const tr = el('tr', { 'data-ws-id': w.id, class: mine ? 'mine' : '' },
      ...COLUMNS.map((c) => el('td', { class: `c-${c.key}`, text: c.show(w) })));
    const watchInput = el('input', { class: 'copy-src', readonly: true, value: w.watch_url, hidden: true, 'aria-label': 'watch link' });
    const actions = el('td', { class: 'ws-actions' }, el('div', {},
      el('button', { type: 'button', class: 'small', 'data-action': 'open', text: mine ? 'Open' : 'Watch', title: mine ? 'your own engines' : 'open it read-only, live', onclick: () => this.onOpen(w) }),
      el('button', { type: 'button', class: 'small', 'data-action': 'watch-link', text: 'Copy watch link', onclick: async (e) => {
        watchInput.hidden = false;
        const ok = await copyText(w.watch_url, watchInput);
        e.target.textContent = ok ? 'Copied' : 'Copy watch link';
      } }),
      twoStep('Reset', 'Sure? Reset', () => this.act('POST', `/api/workspaces/${encodeURIComponent(w.id)}/reset`)),
      mine ? null : twoStep('Remove', 'Sure? Remove', () => this.act('DELETE', `/api/workspaces/${encodeURIComponent(w.id)}`)),
      watchInput));
    actions.querySelector('[data-action=open]').dataset.wsId = w.id;
    tr.append(actions);
    return tr;
  }

  async act(method, path) {
    this.error.textContent = '';
    try {
      await api(method, path);
    } catch (err) {
      this.error.textContent = err.message;
    }
    await this.poll();
  }

  async poll() {
    try {
      this.list = await api('GET', '/api/workspaces');
      this.error.textContent = '';
      // Rebuilding the rows would steal focus and selection from a button mid-click: update
      // the cells in place when the set of workspaces is unchanged.
      const ids = sortWorkspaces(this.list, this.sort.key, this.sort.dir).map((w) => w.id).join();
      const shown = [...this.body.children].map((tr) => tr.dataset.wsId).join();
      if (ids === shown) {
        for (const w of this.list) {
          const tr = this.body.querySelector(`tr[data-ws-id="${CSS.escape(w.id)}"]`);
          for (const c of COLUMNS) tr.querySelector(`.c-${c.key}`).textContent = c.show(w);
        }
      } else {
        this.renderRows();
      }
      this.renderGrid();
      this.renderChosen();
    } catch (err) {
      this.error.textContent = err.message;
    }
  }

  show(ctx) {
    if (!this.board) this.build(ctx);
    this.section.hidden = false;
    this.poll();
    clearInterval(this.timer);
    this.timer = setInterval(() => { if (!document.hidden) this.poll(); }, 1000);
  }

  hide() {
    this.section.hidden = true;
    clearInterval(this.timer);
  }
}
