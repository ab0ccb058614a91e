// The page's layout for real screens: the side panels and the engine's log can be collapsed so
// the scene gets the room, each side panel folds to its title, and present mode shows the scene
// alone, large, for a projector. What a user chose is kept per browser.

import { el } from './util.js';

const KEY = 'socketlab-layout';

/** The layout this browser kept, taken only as far as it makes sense: booleans for the two
 *  toggles, known panel ids for the folds. Anything else (an older page's keys, a hand
 *  edit, a value that is not what it should be) is dropped, so a kept layout can never
 *  describe a page without its scene. */
function load() {
  let saved;
  try {
    saved = JSON.parse(localStorage.getItem(KEY));
  } catch {
    return {};
  }
  if (!saved || typeof saved !== 'object') return {};
  const out = {};
  for (const k of ['side', 'detail']) if (typeof saved[k] === 'boolean') out[k] = saved[k];
  if (Array.isArray(saved.folded)) {
    out.folded = saved.folded.filter((id) => typeof id === 'string' && document.getElementById(id)?.matches('.side > .panel'));
  }
  return out;
}

export class Layout {
  constructor({ onPresent } = {}) {
    this.state = { side: true, detail: true, folded: [], ...load() };
    this.onPresent = onPresent ?? (() => {});
    this.body = document.body;
    this.sideBtn = this.toggle('t-side', 'Panels', 'show or hide the panels on the left (the form, labs, engines, files)', 'side');
    this.detailBtn = this.toggle('t-detail', 'Engine', 'show or hide the selected engine: its connections, composer and log', 'detail');
    this.presentBtn = el('button', { type: 'button', class: 'small t-present', text: 'Present', title: 'the scene alone, full screen, large type (Esc leaves)', onclick: () => this.present(!this.presenting) });
    document.getElementById('layout-bar').append(this.sideBtn, this.detailBtn, this.presentBtn);
    for (const panel of document.querySelectorAll('.side > .panel')) this.foldable(panel);
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && this.presenting) this.present(false);
    });
    document.addEventListener('fullscreenchange', () => {
      if (!document.fullscreenElement && this.fullscreen) {
        this.fullscreen = false;
        this.present(false);
      }
    });
    this.apply();
    this.keepSceneInView();
    const params = new URLSearchParams(location.search);
    if (params.has('present')) this.present(true, false);
  }

  toggle(cls, text, title, key) {
    return el('button', { type: 'button', class: `small ${cls}`, text, title, 'aria-pressed': 'true', onclick: () => {
      this.state[key] = !this.state[key];
      this.save();
      this.apply();
    } });
  }

  /** A side panel folds to its title when the title is clicked. */
  foldable(panel) {
    const h = panel.querySelector('h2');
    if (!h || !panel.id) return;
    const b = el('button', { type: 'button', class: 'fold', 'aria-expanded': 'true', title: 'fold or unfold this panel' });
    b.append(...h.childNodes);
    h.append(b);
    b.addEventListener('click', () => {
      const folded = new Set(this.state.folded);
      if (folded.has(panel.id)) folded.delete(panel.id);
      else folded.add(panel.id);
      this.state.folded = [...folded];
      this.save();
      this.apply();
    });
  }

  save() {
    try {
      localStorage.setItem(KEY, JSON.stringify(this.state));
    } catch {
      // A browser that keeps nothing still lays out; the choice lasts until reload.
    }
  }

  apply() {
    this.body.classList.toggle('no-side', !this.state.side);
    this.body.classList.toggle('no-detail', !this.state.detail);
    this.sideBtn.setAttribute('aria-pressed', String(this.state.side));
    this.detailBtn.setAttribute('aria-pressed', String(this.state.detail));
    const folded = new Set(this.state.folded);
    for (const panel of document.querySelectorAll('.side > .panel')) {
      panel.classList.toggle('folded', folded.has(panel.id));
      const b = panel.querySelector('h2 > .fold');
      if (b) b.setAttribute('aria-expanded', String(!folded.has(panel.id)));
    }
  }

  /** A kept layout that leaves the scene no room (a narrow window, a layout from another
   *  page) is dropped for the default one: the scene is what the page is for. */
  keepSceneInView() {
    const stage = document.getElementById('stage');
    if (!stage) return;
    const room = stage.getBoundingClientRect();
    if (room.width >= Math.min(320, window.innerWidth / 3) && room.height >= 120) return;
    this.state = { side: true, detail: true, folded: [] };
    this.save();
    this.apply();
  }

  /** Present mode: the scene alone, large; full screen too when asked from a click. */
  present(on, fullscreen = true) {
    this.presenting = on;
    this.body.classList.toggle('present', on);
    this.presentBtn.setAttribute('aria-pressed', String(on));
    if (on && fullscreen && document.documentElement.requestFullscreen) {
      document.documentElement.requestFullscreen().then(() => { this.fullscreen = true; }, () => {});
    } else if (!on && document.fullscreenElement) {
      document.exitFullscreen().catch(() => {});
    }
    // The address says it, so a reload (or the link passed on) stays in present mode.
    history.replaceState(null, '', `${location.pathname}${on ? '?present' : ''}${location.hash}`);
    this.onPresent(on);
  }
}
