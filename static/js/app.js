// socketlab's dashboard: wires the form, the engine list, the detail view and the live
// event stream together. No framework, no build step.

import { api } from './api.js';
import { EngineViews } from './views.js';
import { ClassView } from './classview.js';
import { Detail } from './detail.js';
import { EngineList } from './engines.js';
import { FilesPanel } from './files.js';
import { EngineForm } from './form.js';
import { LabsPanel } from './labs.js';
import { Layout } from './layout.js';
import { Stage } from './scene/stage.js';
import { setViewing } from './scope.js';
import { EventStream } from './stream.js';
import { copyText, debounce, el, replaceKids } from './util.js';

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
const SCENE_MAX = 3000; // the newest events the scene lays out (older ones: Load older, the API)

const store = new Map(); // engine id -> events, oldest first
const views = new EngineViews((countChanged) => { render(); if (countChanged) stage.changed(); });
let selected = null;

// Who this page acts as, and in which workspace (GET /api/workspace).
const me = await api('GET', '/api/workspace');
const body = document.body;
const readOnlyOwn = me.read_only;

/** Every event held, for the scene: the engines' own, and each lag notice once. */
function allEvents() {
  const out = [];
  const notices = new Map();
  for (const [id, arr] of store) {
    // A deleted engine's sockets leave the scene (its events stay in the history).
    if (!views.has(id)) continue;
    for (const ev of arr) {
      if (ev.kind === 'history') continue;
      if (ev.kind === 'lagged') notices.set(ev.seq, ev);
      else out.push(ev);
    }
  }
  out.push(...notices.values());
  if (out.length <= SCENE_MAX) return out;
  const key = (ev) => ev.seq ?? ev.last_seq ?? 0;
  return out.sort((a, b) => key(a) - key(b)).slice(-SCENE_MAX);
}

const stage = new Stage(document.getElementById('stage'), {
  events: allEvents,
  engines: () => views.all(),
  // Stepping through the scene: the log of the event's engine shows the same event. While
  // playing, the engine shown stays (switching at every event would flicker); its own
  // events are still marked as they come.
  onCurrent: (row, playing) => {
    const id = row.ev.engine;
    if (!playing && id && id !== selected && views.has(id)) select(id);
    if (detail.id === id) detail.highlight(row.seq);
  },
  onPresent: () => pageLayout.present(!pageLayout.presenting),
});
const pageLayout = new Layout({ onPresent: (on) => stage.presenting(on) });

const detail = new Detail(document.getElementById('detail'), {
  store,
  onChanged: () => views.fetch(),
  engines: () => views.all(),
  onPick: (seq) => stage.seekSeq(seq),
});
const list = new EngineList(document.getElementById('engines'), document.getElementById('no-engines'), {
  onSelect: select,
  onAction: async (id, action, button) => {
    if (body.hasAttribute('data-readonly')) return;
    button.disabled = true;
    try {
      if (action === 'delete') await api('DELETE', `/api/engines/${encodeURIComponent(id)}`);
      else await api('POST', `/api/engines/${encodeURIComponent(id)}/${action}`);
    } catch (err) {
      const li = button.closest('li');
      if (li) li.querySelector('.e-error').textContent = err.message;
    } finally {
      button.disabled = false;
      views.fetch();
    }
  },
});

function select(id) {
  selected = id;
  const v = views.get(id);
  if (v) detail.show(v);
  history.replaceState(null, '', `${location.search}#${id}`);
  render();
}

/** Empties every view of engines and events: another workspace is about to be shown. */
function forget() {
  store.clear();
  views.clear();
  selected = null;
  detail.hide();
  replaceKids(document.getElementById('detail'), el('div', { class: 'placeholder' },
    el('h2', { text: 'Pick an engine' }), el('p', { text: 'Its connections, composer and log appear here, live.' })));
  history.replaceState(null, '', `${location.pathname}${location.search}`);
  stage.rebuild();
}

function render() {
  list.render(views.all(), (id) => views.samples(id), selected);
  if (selected && !views.has(selected)) {
    selected = null;
    detail.hide();
    document.getElementById('detail').replaceChildren();
  } else if (selected && detail.id === selected) {
    detail.update(views.get(selected));
  }
}

// The counters once a second (and the sparklines' samples from them).
setInterval(() => views.poll(), 1000);

const live = document.getElementById('live');
const stream = new EventStream({
  onStatus: async (s) => {
    live.textContent = s === 'live' ? 'live' : 'reconnecting…';
    live.dataset.status = s;
    if (s !== 'live') {
      // A stream that will not come back because the credential is gone (a removed
      // workspace, a replaced watch link) says so rather than retrying in silence.
      try {
        await api('GET', '/api/workspace');
      } catch (err) {
        if (err.status === 401) {
          live.textContent = 'signed out';
          showBanner(el('span', { class: 'bad', text: err.message }));
        }
      }
    }
  },
  // The server restarted (its numbering began again): what the page holds is another run's.
  onRestarted: () => {
    store.clear();
    views.restarted();
    const v = selected && views.get(selected);
    if (v) detail.show(v);
    stage.rebuild();
  },
  onEvents: (evs) => {
    const mine = [];
    for (const ev of evs) {
      if (ev.kind === 'lagged' || ev.kind === 'history') {
        for (const arr of store.values()) arr.push(ev);
        if (selected) mine.push(ev);
        continue;
      }
      let arr = store.get(ev.engine);
      if (!arr) store.set(ev.engine, (arr = []));
      arr.push(ev);
      if (arr.length > KEEP * 1.2) arr.splice(0, arr.length - KEEP);
      if (ev.engine === selected) mine.push(ev);
    }
    if (mine.length && detail.id === selected) detail.push(mine);
    stage.changed();
    views.apply(evs);
    if (evs.some((ev) => ev.kind === 'file' && ev.call === 'recv()')) filesSoon();
    // A step done, or engines started (a lab the instructor handed out and loaded here):
    // the steps shown are asked for again.
    if (evs.some((ev) => ev.kind === 'step' || ev.kind === 'listening' || ev.kind === 'bound')) runSoon();
  },
});

const form = new EngineForm(document.getElementById('new-engine'), {
  engines: () => views.all(),
  ports: me.port_range,
  onCreated: async (engine) => {
    views.put(engine);
    select(engine.id);
  },
});

const files = new FilesPanel(document.getElementById('files-panel'), {
  onChange: (list) => form.setFiles(list),
});
// A watch link reads engines and events; files and labs are the owner's alone.
const watcher = me.role === 'watcher';
if (watcher) {
  document.getElementById('files-panel').hidden = true;
  document.getElementById('labs-panel').hidden = true;
}
function refreshPanels() {
  // The lab being done is shown to whoever looks: its owner, a watcher, the instructor.
  labs.showRun();
  if (watcher) return;
  files.refresh();
  labs.refresh();
}
const filesSoon = debounce(() => { if (!watcher) files.refresh(); }, 200);

const labs = new LabsPanel(document.getElementById('labs-panel'), document.getElementById('lab-steps'), {
  onLoaded: async (loaded) => {
    views.put(...loaded.engines);
    // The engines now (a replacing load deleted the others), then the lab's drawn from live.
    await views.fetch();
    stage.showLab(loaded.engines.map((v) => v.id));
    // The first step's engine, else the lab's first client: where the action starts.
    const first = loaded.steps.find((s) => s.engine)?.engine
      ?? loaded.engines.find((v) => v.kind.endsWith('client'))?.id ?? loaded.engines[0]?.id;
    if (first) select(first);
    filesSoon();
  },
  select: (id) => { if (views.has(id)) select(id); },
  name: (id) => views.get(id)?.name,
});
const runSoon = debounce(() => labs.showRun(), 150);

function selectFromHash() {
  const wanted = decodeURIComponent(location.hash.slice(1));
  if (wanted && wanted !== selected && views.has(wanted)) select(wanted);
}
// An engine named in the address that the page does not know yet (made a moment ago by a
// script or another tab) is selected once the views are asked for again.
window.addEventListener('hashchange', () => {
  selectFromHash();
  const wanted = decodeURIComponent(location.hash.slice(1));
  if (wanted && !views.has(wanted)) views.fetch().then(selectFromHash);
});

// ---- Not saved: a change the server made but could not write to disk (a full disk).

const unsaved = document.getElementById('unsaved');
let unsavedCheck = null;
function showUnsaved(message) {
  unsaved.textContent = 'Not saved: your last change works, but the server could not write it to disk. '
    + 'It tries again every 10 seconds, and this notice goes once it succeeds; if it stays, tell whoever runs the server.';
  unsaved.title = message;
  unsaved.hidden = false;
  // The server retries every 10 s; the banner goes once GET /api/workspace says it is saved.
  unsavedCheck ??= setInterval(async () => {
    try {
      const now = await api('GET', '/api/workspace');
      if (!now.unsaved) {
        unsaved.hidden = true;
        clearInterval(unsavedCheck);
        unsavedCheck = null;
      }
    } catch {
      // Unreachable: the stream's status already says so.
    }
  }, 5000);
}
window.addEventListener('socketlab:unsaved', (e) => showUnsaved(e.detail));
if (me.unsaved) showUnsaved('the last change could not be written to disk; socketlab tries again every 10 s');

// ---- The workspace bar: whose workspace this is, the watch link, the instructor's tabs.

const banner = document.getElementById('banner');
const nav = document.getElementById('ws-nav');
const layout = document.getElementById('layout');
const classSection = document.getElementById('class-view');
let classView = null;

function showBanner(...parts) {
  replaceKids(banner, ...parts);
  banner.hidden = parts.length === 0;
}

/** The watch link of one's own workspace: shown, copied, or replaced by a new one. */
function watchControls() {
  const input = el('input', { class: 'copy-src', readonly: true, value: me.watch_url, 'aria-label': 'watch link', hidden: true });
  const note = el('span', { class: 'copied', role: 'status' });
  const wrap = el('span', { class: 'watch-link' },
    el('button', { type: 'button', class: 'small', id: 'copy-watch', text: 'Share watch link', title: 'a read-only link: whoever opens it sees your engines and events live', onclick: async () => {
      input.hidden = false;
      note.textContent = (await copyText(input.value, input)) ? 'copied; anyone with it can watch, read-only' : 'copy the link';
    } }),
    el('button', { type: 'button', class: 'small', id: 'new-watch', text: 'New link', title: 'stops the old watch link at once', onclick: async () => {
      try {
        const v = await api('POST', '/api/workspace/watch');
        input.value = v.watch_url;
        input.hidden = false;
        note.textContent = 'new link made; the old one no longer works';
      } catch (err) {
        note.textContent = err.message;
      }
    } }),
    input, note);
  return wrap;
}

function setTab(tab) {
  for (const b of nav.querySelectorAll('[data-tab]')) b.setAttribute('aria-pressed', String(b.dataset.tab === tab));
  sessionStorage.setItem('socketlab-tab', tab);
  if (tab === 'class') {
    layout.hidden = true;
    showBanner();
    classView.show(me);
  } else {
    classView.hide();
    layout.hidden = false;
  }
}

/** Shows a workspace: one's own (null), or a student's, read-only, live. */
async function enter(ws) {
  const other = ws && ws.id !== me.id ? ws : null;
  setViewing(other ? other.id : null);
  if (other || readOnlyOwn) body.setAttribute('data-readonly', '');
  else body.removeAttribute('data-readonly');
  forget();
  stage.setTitle(other ? other.name : me.name);
  if (other) {
    showBanner(el('span', {}, 'Watching ', el('b', { text: other.name }), '’s workspace, read-only and live. '),
      el('button', { type: 'button', class: 'small', text: 'Back to the class', onclick: () => { enter(null); setTab('class'); } }),
      el('button', { type: 'button', class: 'small', text: 'My engines', onclick: () => { enter(null); setTab('engines'); } }));
  } else if (readOnlyOwn) {
    showBanner(el('span', {}, 'Watching ', el('b', { text: me.name }), '’s workspace: read-only, live.'));
  } else {
    showBanner();
  }
  await views.fetch();
  refreshPanels();
  stream.restart();
}

const name = document.getElementById('ws-name');
name.textContent = me.name;
stage.setTitle(me.name);
const role = document.getElementById('ws-role');
role.textContent = me.read_only ? 'watching, read-only' : me.role;
// "Instructor (instructor)" and "My workspace (owner)" say nothing twice.
role.hidden = !me.read_only && me.role !== 'student';
if (me.role === 'instructor') {
  classView = new ClassView(classSection, {
    onOpen: (w) => {
      setTab('engines');
      // Looking into a student's workspace is neither tab: the banner says where we are.
      if (w.kind !== 'instructor') for (const b of nav.querySelectorAll('[data-tab]')) b.setAttribute('aria-pressed', 'false');
      enter(w.kind === 'instructor' ? null : w);
    },
  });
  nav.prepend(
    el('button', { type: 'button', class: 'tab', 'data-tab': 'class', text: 'Class', onclick: () => { enter(null); setTab('class'); } }),
    el('button', { type: 'button', class: 'tab', 'data-tab': 'engines', text: 'My engines', onclick: () => { enter(null); setTab('engines'); } }));
}
if (!me.read_only && me.watch_url) nav.append(watchControls());
if (me.port_range) {
  const hint = document.querySelector('label[for=f-bind] small');
  if (hint) hint.textContent = '0 = a free one of yours';
}
if (readOnlyOwn) {
  showBanner(el('span', {}, 'Watching ', el('b', { text: me.name }), '’s workspace: read-only, live.'));
  const empty = document.getElementById('no-engines');
  empty.textContent = 'No engines yet.';
}

await views.fetch();
refreshPanels();
selectFromHash();
stream.start();
if (classView) setTab(sessionStorage.getItem('socketlab-tab') ?? 'class');

// The skip link to the Send box: the selected engine's, else the engine list to pick one.
document.querySelector('.skip[href="#c-data"]')?.addEventListener('click', (e) => {
  e.preventDefault();
  const target = document.getElementById('c-data') ?? document.querySelector('#engines li[data-engine-id]') ?? document.getElementById('new-engine');
  target?.focus();
});
