// The one source of engine views. The list, the detail panel, the form and the scene read
// them here; they change in one way each: the API's view of every engine (asked for when an
// event says an engine came, went or changed state, and once a second for the counters), a
// view the API handed back (a create, a loaded lab), and lifecycle events applied at once so
// a stop shows before the next poll. Throughput samples come from the polled counters.

import { api } from './api.js';
import { LIFECYCLE } from './kinds.js';
import { debounce } from './util.js';

/** Seconds of throughput kept per engine for its sparkline. */
const SAMPLES = 60;

/** An engine's state as a lifecycle event leaves it, when the event alone says. */
const STATE_AFTER = { started: 'running', listening: 'running', stopped: 'stopped' };

export class EngineViews {
  /** `onChange(countChanged)` runs after the views changed. */
  constructor(onChange) {
    this.onChange = onChange;
    this.views = new Map(); // engine id -> the API's view
    this.rates = new Map(); // engine id -> { total, samples: bytes/s }
    this.fetching = false;
    this.soon = debounce(() => this.fetch(), 120);
  }

  get(id) { return this.views.get(id); }
  has(id) { return this.views.has(id); }
  all() { return [...this.views.values()]; }
  samples(id) { return this.rates.get(id)?.samples ?? []; }

  /** Every engine as the API sees it now. */
  async fetch() {
    if (this.fetching) return;
    this.fetching = true;
    try {
      const all = await api('GET', '/api/engines');
      const before = this.views.size;
      this.views = new Map(all.map((v) => [v.id, v]));
      this.onChange(this.views.size !== before);
    } catch {
      // The stream's status line already says the server is unreachable.
    } finally {
      this.fetching = false;
    }
  }

  /** Views the API handed back (a created engine, a loaded lab's). */
  put(...vs) {
    for (const v of vs) this.views.set(v.id, v);
    this.onChange(true);
    this.soon();
  }

  /** Events from the stream: lifecycle ones change what they say at once, and have the
   *  whole view asked for again (its addresses, connections, error). */
  apply(evs) {
    let ask = false;
    let changed = false;
    for (const ev of evs) {
      if (!ev.engine) continue;
      const v = this.views.get(ev.engine);
      if (!v) { ask = true; continue; }
      const state = STATE_AFTER[ev.kind];
      if (state && v.state !== state) {
        this.views.set(v.id, { ...v, state });
        changed = true;
      }
      if (LIFECYCLE.has(ev.kind)) ask = true;
    }
    if (changed) this.onChange(false);
    if (ask) this.soon();
  }

  /** The counters, once a second: the views again, and each engine's bytes/s. */
  async poll() {
    await this.fetch();
    for (const v of this.views.values()) {
      const total = v.stats.bytes_in + v.stats.bytes_out;
      const r = this.rates.get(v.id) ?? { total, samples: [] };
      r.samples.push(Math.max(0, total - r.total));
      if (r.samples.length > SAMPLES) r.samples.shift();
      r.total = total;
      this.rates.set(v.id, r);
    }
    this.onChange(false);
  }

  /** Forgets every view: another workspace is shown. */
  clear() {
    this.views.clear();
    this.rates.clear();
  }

  /** Forgets the throughput samples: the server restarted, its counters began again. */
  restarted() {
    this.rates.clear();
    this.soon();
  }
}
