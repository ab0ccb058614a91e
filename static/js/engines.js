// The engine list: kind, behavior, addresses, state, live counters and a sparkline, with
// stop / start / delete. Updated in place so focus and selection survive each refresh.

import { el, fmtBytes, replaceKids } from './util.js';
import { sparkline } from './spark.js';

export function title(v) {
  return v.name || `${v.kind} ${v.behavior}`;
}

function addrLine(v) {
  const local = v.local ?? (v.bind ? `bind ${v.bind}` : '(not bound)');
  if (v.kind.endsWith('client')) return `${local} → ${v.peer ?? v.target ?? ''}`;
  if (v.state !== 'running') return v.local ? `was on ${v.local}` : local;
  return v.kind === 'tcp-server' ? `listening on ${local}` : `bound to ${local}`;
}

function statsLine(v) {
  const s = v.stats;
  const conns = v.kind === 'tcp-server' || v.kind === 'tcp-client' ? `open ${s.connections_open} / ${s.connections_total} · ` : '';
  return `${conns}in ${fmtBytes(s.bytes_in)} (${s.messages_in}) · out ${fmtBytes(s.bytes_out)} (${s.messages_out})`;
}

export class EngineList {
  constructor(ul, empty, { onSelect, onAction }) {
    this.ul = ul;
    this.empty = empty;
    this.onSelect = onSelect;
    this.onAction = onAction;
    ul.addEventListener('click', (e) => {
      const li = e.target.closest('li[data-engine-id]');
      if (!li) return;
      const action = e.target.closest('button[data-action]');
      if (action) this.onAction(li.dataset.engineId, action.dataset.action, action);
      else this.onSelect(li.dataset.engineId);
    });
    ul.addEventListener('keydown', (e) => {
      const li = e.target.closest('li[data-engine-id]');
      if (li && e.target === li && (e.key === 'Enter' || e.key === ' ')) {
        e.preventDefault();
        this.onSelect(li.dataset.engineId);
      }
    });
  }

  /** A row, in the markup the page's template renders too (so the first paint is the
   *  same list, filled in place). */
  create(v) {
    const li = el('li', { class: 'engine', 'data-engine-id': v.id, tabindex: 0 },
      el('div', { class: 'e-head' },
        el('span', { class: 'e-dot', 'aria-hidden': 'true' }),
        el('span', { class: 'e-title' }),
        el('span', { class: 'e-id' }),
        el('span', { class: 'e-actions act' },
          el('button', { type: 'button', 'data-action': 'stop', text: 'Stop' }),
          el('button', { type: 'button', 'data-action': 'start', text: 'Start' }),
          el('button', { type: 'button', 'data-action': 'delete', class: 'danger', text: 'Delete' }))),
      el('div', { class: 'e-kind' }, el('span', { class: 'e-what' }), ' ', el('span', { class: 'e-addr' })),
      el('div', { class: 'e-row' }, el('span', { class: 'e-stats' }), el('span', { class: 'e-spark' })),
      el('div', { class: 'e-error', role: 'status' }));
    return li;
  }

  update(li, v, samples, selected) {
    li.dataset.state = v.state;
    li.setAttribute('aria-selected', String(selected));
    li.setAttribute('aria-label', `${title(v)}, ${v.kind}, ${v.state}`);
    li.querySelector('.e-title').textContent = title(v);
    li.querySelector('.e-id').textContent = v.id;
    li.querySelector('.e-what').textContent = `${v.kind} · ${v.behavior} ·`;
    li.querySelector('.e-addr').textContent = addrLine(v);
    li.querySelector('.e-stats').textContent = statsLine(v);
    replaceKids(li.querySelector('.e-spark'), sparkline(samples));
    li.querySelector('.e-error').textContent = v.error ?? '';
    const running = v.state === 'running';
    for (const [action, show] of [['stop', running], ['start', !running]]) {
      const b = li.querySelector(`[data-action=${action}]`);
      b.hidden = !show;
      b.setAttribute('aria-label', `${action} ${v.id}`);
    }
    li.querySelector('[data-action=delete]').setAttribute('aria-label', `delete ${v.id}`);
  }

  /** Shows exactly these engines, in this order. */
  render(views, samplesOf, selectedId) {
    const keep = new Set(views.map((v) => v.id));
    for (const li of [...this.ul.children]) {
      if (!keep.has(li.dataset.engineId)) li.remove();
    }
    let prev = null;
    for (const v of views) {
      let li = this.ul.querySelector(`li[data-engine-id="${CSS.escape(v.id)}"]`);
      if (!li) li = this.create(v);
      this.update(li, v, samplesOf(v.id), v.id === selectedId);
      const want = prev ? prev.nextElementSibling : this.ul.firstElementChild;
      if (want !== li) this.ul.insertBefore(li, want);
      prev = li;
    }
    this.empty.hidden = views.length > 0;
  }
}
