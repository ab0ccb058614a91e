// socketlab's dashboard: wires the form, the engine list, the detail view and the live
// event stream together. No framework, no build step.

import { api } from './api.js';
import { Detail } from './detail.js';
import { EngineList } from './engines.js';
import { EngineForm } from './form.js';
import { EventStream } from './stream.js';
import { debounce } from './util.js';

// Report script errors on the page itself (tests read this; users see something broke).
window.addEventListener('error', (e) => {
  const pre = document.getElementById('js-errors');
  pre.hidden = false;
  pre.textContent += `${e.message} (${e.filename}:${e.lineno})\n`;
});
document.addEventListener('securitypolicyviolation', (e) => {
  const pre = document.getElementById('js-errors');
  pre.hidden = false;
  pre.textContent += `CSP blocked ${e.blockedURI || 'inline'} (${e.violatedDirective})\n`;
});
window.addEventListener('unhandledrejection', (e) => {
  const pre = document.getElementById('js-errors');
  pre.hidden = false;
  pre.textContent += `unhandled: ${e.reason && e.reason.message ? e.reason.message : e.reason}\n`;
});

const KEEP = 5000; // events kept in memory per engine; older ones stay fetchable
const LIFECYCLE = new Set(['bound', 'listening', 'connected', 'accepted', 'closed', 'refused', 'stopped', 'shutdown', 'error']);

const store = new Map(); // engine id -> events, oldest first
const views = new Map(); // engine id -> Engine from the API
const rates = new Map(); // engine id -> { total, samples: bytes/s }
let selected = null;

const detail = new Detail(document.getElementById('detail'), { store, onChanged: () => refresh() });
const list = new EngineList(document.getElementById('engines'), document.getElementById('no-engines'), {
  onSelect: select,
  onAction: async (id, action, button) => {
    button.disabled = true;
    try {
      if (action === 'delete') await api('DELETE', `/api/engines/${encodeURIComponent(id)}`);
      else await api('POST', `/api/engines/${encodeURIComponent(id)}/${action}`);
    } catch (err) {
      const li = button.closest('li');
      if (li) li.querySelector('.e-error').textContent = err.message;
    } finally {
      button.disabled = false;
      refresh();
    }
  },
});

function select(id) {
  selected = id;
  const v = views.get(id);
  if (v) detail.show(v);
  history.replaceState(null, '', `#${id}`);
  render();
}

function render() {
  const all = [...views.values()];
  list.render(all, (id) => rates.get(id)?.samples ?? [], selected);
  if (selected && !views.has(selected)) {
    selected = null;
    detail.hide();
    document.getElementById('detail').replaceChildren();
  } else if (selected && detail.id === selected) {
    detail.update(views.get(selected));
  }
}

let refreshing = false;
async function refresh() {
  if (refreshing) return;
  refreshing = true;
  try {
    const all = await api('GET', '/api/engines');
    views.clear();
    for (const v of all) views.set(v.id, v);
    render();
  } catch {
    // The stream's status line already says the server is unreachable.
  } finally {
    refreshing = false;
  }
}
const refreshSoon = debounce(refresh, 120);

// Throughput samples: bytes in+out per second, from the counters.
setInterval(async () => {
  await refresh();
  for (const v of views.values()) {
    const total = v.stats.bytes_in + v.stats.bytes_out;
    const r = rates.get(v.id) ?? { total, samples: [] };
    r.samples.push(Math.max(0, total - r.total));
    if (r.samples.length > 60) r.samples.shift();
    r.total = total;
    rates.set(v.id, r);
  }
  render();
}, 1000);

const live = document.getElementById('live');
const stream = new EventStream({
  onStatus: (s) => {
    live.textContent = s === 'live' ? 'live' : 'reconnecting…';
    live.dataset.status = s;
  },
  onEvents: (evs) => {
    const mine = [];
    let lifecycle = false;
    for (const ev of evs) {
      if (ev.kind === 'lagged') {
        for (const arr of store.values()) arr.push(ev);
        if (selected) mine.push(ev);
        continue;
      }
      let arr = store.get(ev.engine);
      if (!arr) store.set(ev.engine, (arr = []));
      arr.push(ev);
      if (arr.length > KEEP * 1.2) arr.splice(0, arr.length - KEEP);
      if (ev.engine === selected) mine.push(ev);
      if (LIFECYCLE.has(ev.kind) || !views.has(ev.engine)) lifecycle = true;
    }
    if (mine.length && detail.id === selected) detail.push(mine);
    if (lifecycle) refreshSoon();
  },
});

new EngineForm(document.getElementById('new-engine'), {
  engines: () => [...views.values()],
  onCreated: async (engine) => {
    views.set(engine.id, engine);
    select(engine.id);
    refreshSoon();
  },
});

function selectFromHash() {
  const wanted = decodeURIComponent(location.hash.slice(1));
  if (wanted && wanted !== selected && views.has(wanted)) select(wanted);
}
window.addEventListener('hashchange', selectFromHash);

await refresh();
selectFromHash();
stream.start();
