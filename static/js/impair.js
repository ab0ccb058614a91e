// UDP broken on purpose, from the page: sliders for loss, duplicates, reordering, delay and
// jitter, and a seed, sent with PATCH to the running engine; the next datagram follows them.

import { api } from './api.js';
import { el } from './util.js';

const SHARES = [['loss', 'loss'], ['duplicate', 'duplicate'], ['reorder', 'reorder']];
const TIMES = [['delay_ms', 'delay'], ['jitter_ms', 'jitter']];

export class ImpairPanel {
  /** A panel for engine `id` with its impairment now (`cfg`, or null when off). */
  constructor(id, cfg) {
    this.id = id;
    this.status = el('span', { class: 'imp-status', role: 'status' });
    this.inputs = {};
    const row = (key, label, max, step, unit, value) => {
      const out = el('output', { text: '' });
      const input = el('input', { type: 'range', name: `impair.${key}`, min: 0, max, step, value, 'aria-label': `${label} (${unit})` });
      const show = () => { out.textContent = unit === '%' ? `${Math.round(input.value)}%` : `${input.value} ms`; };
      show();
      input.addEventListener('input', show);
      input.addEventListener('change', () => this.send());
      this.inputs[key] = input;
      return el('label', { class: 'imp-row' }, el('span', { text: label }), input, out);
    };
    const c = cfg ?? {};
    this.seed = el('input', { type: 'number', name: 'impair.seed', min: 0, value: c.seed ?? 1, 'aria-label': 'seed', class: 'imp-seed' });
    this.seed.addEventListener('change', () => this.send());
    this.box = el('details', { class: 'impair act', open: !!cfg },
      el('summary', {}, 'Break UDP on purpose ', el('small', { text: 'loss, duplicates, reordering, delay: the lecture’s “unreliable, not ordered”' })),
      el('div', { class: 'imp-grid' },
        ...SHARES.map(([k, l]) => row(k, l, 100, 1, '%', Math.round((c[k] ?? 0) * 100))),
        ...TIMES.map(([k, l]) => row(k, l, 2000, 10, 'ms', c[k] ?? 0)),
        el('label', { class: 'imp-row' }, el('span', { text: 'seed' }), this.seed, el('small', { text: 'same seed, same pattern' }))),
      this.status);
  }

  /** The settings as the sliders say them. */
  settings() {
    const s = { seed: Number(this.seed.value) || 0 };
    for (const [k] of SHARES) s[k] = Number(this.inputs[k].value) / 100;
    for (const [k] of TIMES) s[k] = Number(this.inputs[k].value);
    return s;
  }

  async send() {
    try {
      await api('PATCH', `/api/engines/${encodeURIComponent(this.id)}`, { options: { impair: this.settings() } });
      this.status.textContent = 'the next datagram follows these';
      this.status.classList.remove('bad');
    } catch (err) {
      this.status.textContent = err.message;
      this.status.classList.add('bad');
    }
  }
}
