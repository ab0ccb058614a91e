// The stage: the scene of every socket of the workspace (or the engines chosen), with play,
// pause, step, speed and a position slider, the details of the event in focus (text and hex),
// and present mode for a projector. The layout logic is in model.js, the drawing in draw.js.

import { buildScene } from './model.js';
import { SceneDrawing } from './draw.js';
import { Player, SPEEDS } from './player.js';
import { layerView, layersOf } from './layers.js';
import { isData } from '../kinds.js';
import { explain } from './explain.js';
import { b64ToBytes, el, fmtTime, hex, replaceKids, visible } from '../util.js';

/** How often the scene is rebuilt while events pour in. */
const REBUILD_MS = 150;

export class Stage {
  /**
   * `section` is the stage's element; `events()` gives every event held (any order),
   * `engines()` the engines now; `onCurrent(row, playing)` when the current event moves by a
   * step, a click or play (not when merely following live events).
   */
  constructor(section, { events, engines, onCurrent, onPresent }) {
    this.section = section;
    this.events = events;
    this.engines = engines;
    this.onCurrent = onCurrent;
    this.onPresent = onPresent;
    this.chosen = null; // null: every engine; else a Set of engine ids
    this.expanded = new Set(); // servers whose closed connections keep their own lanes
    this.scene = buildScene([], []);
    this.player = new Player({ rows: () => this.scene.rows, onChange: () => this.moved() });
    this.cursorSeq = null;
    this.hover = null;
    this.build();
    this.drawing = new SceneDrawing(this.box, {
      onPick: (row) => { this.player.stop(); this.player.seek(row); },
      onHover: (row) => { this.hover = row; this.showDetails(); },
      // A server's lane title: its closed connections folded in, or back on lanes of their own.
      onLane: (lane) => {
        if (!lane.engine || (!lane.folded && !this.expanded.has(lane.engine))) return;
        if (this.expanded.has(lane.engine)) this.expanded.delete(lane.engine);
        else this.expanded.add(lane.engine);
        this.rebuild();
      },
    });
    document.addEventListener('keydown', (e) => this.key(e));
  }

  build() {
    const b = (cls, text, title, on) => el('button', { type: 'button', class: cls, text, title, 'aria-label': title, onclick: on });
    this.playBtn = b('s-play primary', '▶', 'play from the first event (space)', () => this.player.toggle());
    this.liveBtn = b('s-live', '● live', 'follow new events as they happen', () => this.player.follow());
    this.speed = el('select', { class: 's-speed', 'aria-label': 'speed' },
      ...SPEEDS.map((s) => el('option', { value: s, text: s === '1/s' ? '1 event/s' : `${s}×`, selected: s === '1' })));
    this.speed.addEventListener('change', () => this.player.setSpeed(this.speed.value));
    this.slider = el('input', { type: 'range', class: 's-pos', min: 0, max: 0, value: 0, 'aria-label': 'position in the exchange' });
    this.slider.addEventListener('input', () => { this.player.stop(); this.player.seek(Number(this.slider.value)); });
    this.pos = el('span', { class: 's-count', role: 'status' });
    this.chooser = el('details', { class: 's-choose' }, el('summary', { text: 'Engines' }), el('div', { class: 's-choices' }));
    this.chooser.addEventListener('toggle', () => { if (this.chooser.open) this.renderChoices(); });
    this.presentBtn = b('s-present', 'Present', 'full screen, large type, for a projector', () => this.onPresent());
    // Zoom: everything drawn, type included; Fit puts every lane in the width.
    this.zoom = el('select', { class: 's-zoom', 'aria-label': 'zoom', title: 'zoom the scene; Fit shows every lane' },
      ...[['fit', 'Fit'], ['0.5', '50%'], ['0.75', '75%'], ['1', '100%'], ['1.5', '150%']].map(([v, t]) => el('option', { value: v, text: t, selected: v === '1' })));
    this.zoom.addEventListener('change', () => this.drawing.setZoom(this.zoom.value === 'fit' ? 'fit' : Number(this.zoom.value)));
    this.controls = el('div', { class: 'stage-controls', role: 'toolbar', 'aria-label': 'step through the exchange' },
      b('s-first', '|◀', 'the first event', () => { this.player.stop(); this.player.seek(0); }),
      b('s-back', '◀', 'one event back (←)', () => this.player.step(-1)),
      this.playBtn,
      b('s-fwd', '▶|', 'one event forward (→)', () => this.player.step(1)),
      this.liveBtn, this.speed, this.slider, this.pos, this.zoom, this.chooser, this.presentBtn);
    this.box = el('div', { class: 'scene-box', tabindex: 0, 'aria-label': 'the scene: every socket as a lane, every call on it' });
    this.details = el('aside', { class: 'scene-details', 'aria-live': 'polite', hidden: true });
    this.filtered = el('p', { class: 'scene-filtered', role: 'status', hidden: true });
    // Present mode's line under the scene: whose workspace, and what the step means.
    this.caption = el('p', { class: 'scene-caption', 'aria-live': 'polite' },
      el('b', { class: 'sc-who' }), el('span', { class: 'sc-what' }));
    this.empty = el('p', { class: 'scene-empty', text: 'Every socket of your engines appears here as a lane, every call on it in order, and the bytes as arrows between them. Start a server and a client (the presets above, or a lab).' });
    replaceKids(this.section, this.controls, this.filtered, el('div', { class: 'scene-wrap' }, this.box, this.details, this.empty), this.caption);
  }

  /** The engines whose sockets are drawn: all, or the ones chosen. */
  renderChoices() {
    const list = this.engines();
    const boxes = list.map((e) => el('label', {},
      el('input', { type: 'checkbox', value: e.id, checked: !this.chosen || this.chosen.has(e.id), onchange: () => this.choose() }),
      ` ${e.name ?? `${e.kind} ${e.behavior}`} (${e.id})`));
    replaceKids(this.chooser.querySelector('.s-choices'),
      boxes.length ? boxes : el('p', { class: 'empty', text: 'No engines yet.' }),
      el('button', { type: 'button', class: 'small', text: 'All', onclick: () => { this.chosen = null; this.renderChoices(); this.rebuild(); } }));
  }

  choose() {
    const ticked = [...this.chooser.querySelectorAll('input:checked')].map((i) => i.value);
    this.show(ticked.length === this.engines().length ? null : ticked);
  }

  /** Draws these engines' sockets only (`null`: all), saying so above the scene. */
  show(ids) {
    this.chosen = ids ? new Set(ids) : null;
    this.rebuild();
  }

  /** A lab was loaded: its engines are what is drawn (the others, if any, behind "show
   *  all"), from the live end. */
  showLab(ids) {
    const others = this.engines().some((e) => !ids.includes(e.id));
    this.show(others ? ids : null);
    this.player.follow();
  }

  /** The filter as it stands, said: engines that no longer exist are dropped from it, and
   *  one that shows every engine is no filter. */
  sayFilter(engines) {
    if (this.chosen) {
      const ids = new Set(engines.map((e) => e.id));
      for (const id of [...this.chosen]) if (!ids.has(id)) this.chosen.delete(id);
      if (this.chosen.size === 0 || this.chosen.size === ids.size) this.chosen = null;
    }
    const summary = this.chooser.querySelector('summary');
    summary.textContent = this.chosen ? `Engines (${this.chosen.size} of ${engines.length})` : 'Engines';
    this.filtered.hidden = !this.chosen;
    if (this.chosen) {
      replaceKids(this.filtered,
        `Showing ${this.chosen.size} of ${engines.length} engines' sockets. `,
        el('button', { type: 'button', class: 'small', text: 'Show all', onclick: () => { this.show(null); this.renderChoices(); } }));
    }
  }

  /** New events arrived: rebuild soon, at most every REBUILD_MS, and less often when a
   *  rebuild is costly (thousands of events on a slow machine), so a flood never starves the
   *  page. */
  changed() {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = 0;
      this.rebuild();
    }, Math.max(this.scene.rows.length > 500 ? 2 * REBUILD_MS : REBUILD_MS, 6 * (this.buildMs ?? 0)));
  }

  rebuild() {
    const t0 = performance.now();
    const engines = this.engines();
    this.sayFilter(engines);
    let evs = this.events();
    if (this.chosen) evs = evs.filter((ev) => !ev.engine || this.chosen.has(ev.engine));
    this.scene = buildScene(evs, engines, { expanded: this.expanded });
    this.buildMs = performance.now() - t0;
    // Kept on the element: the tests and a curious user see what a rebuild costs.
    this.section.dataset.buildMs = String(Math.round(this.buildMs));
    this.empty.hidden = this.scene.rows.length > 0 || engines.length > 0;
    // The current event stays current when rows shift (a late send() drawn before its recv()).
    if (this.player.cursor !== null && this.cursorSeq !== null) {
      const r = this.scene.rowOf.get(this.cursorSeq);
      this.player.cursor = r ?? Math.min(this.player.cursor, this.scene.rows.length - 1);
    }
    // Stepping, the event stepped to stays in view as rows come in around it (a late send()
    // drawn before it moves it down); following live, the drawing follows by itself.
    this.render(!this.player.live);
  }

  /** The player moved: draw, and tell the page (the log highlights the same event). */
  moved() {
    const row = this.scene.rows[this.player.at];
    this.cursorSeq = this.player.cursor === null ? null : row?.seq ?? null;
    this.render(true);
    if (row && this.player.cursor !== null) this.onCurrent(row, this.player.playing);
  }

  render(reveal) {
    const n = this.scene.rows.length;
    const at = this.player.at;
    this.drawing.show(this.scene, at, this.player.live);
    // The details first: docked under the scene, they change its height, and the event
    // stepped to must be in view of what is left.
    this.showDetails();
    if (reveal && !this.player.live) this.drawing.reveal(at);
    this.slider.max = Math.max(0, n - 1);
    this.slider.value = Math.max(0, at);
    this.playBtn.textContent = this.player.playing ? '❚❚' : '▶';
    this.playBtn.title = this.player.playing ? 'pause (space)' : 'play from here (space)';
    this.liveBtn.setAttribute('aria-pressed', String(this.player.live));
    this.pos.textContent = n ? `${this.player.live ? 'live · ' : ''}${at + 1} / ${n}` : '';
    this.pos.title = `event ${at + 1} of ${n} drawn`;
    this.section.dataset.playing = String(this.player.playing);
    this.section.dataset.at = row(this.scene, at)?.seq ?? '';
    this.caption.querySelector('.sc-what').textContent = explain(row(this.scene, at), this.scene);
  }

  /** Whose workspace the scene shows, for present mode's caption. */
  setTitle(name) {
    const who = !name ? '' : /workspace/i.test(name) ? name : `${name}’s workspace`;
    this.caption.querySelector('.sc-who').textContent = who;
  }

  /** Present mode on or off: the button says how to leave it. */
  presenting(on) {
    this.presentBtn.textContent = on ? '✕ Exit present' : 'Present';
    this.section.dataset.present = String(on);
    this.drawing.invalidate();
  }

  /** Moves to the event with this seq (picked in the log). */
  seekSeq(seq) {
    const r = this.scene.rowOf.get(seq);
    if (r === undefined) return;
    this.player.stop();
    this.player.seek(r);
  }

  /** The event in focus: hovered, else the current one when stepping. */
  showDetails() {
    // Docked under the scene while stepping (a hovered call shows there too); following live,
    // the dock is closed, so hovering never reflows the scene under the pointer.
    const r = this.player.live ? null : row(this.scene, this.hover ?? this.player.at);
    if (!r || !r.ev) {
      this.details.hidden = true;
      return;
    }
    const ev = r.ev;
    const lines = [
      el('p', { class: 'sd-call' }, el('b', { text: r.call }), ` ${r.note ?? ''}`),
      el('p', { class: 'sd-meta', text: [fmtTime(ev.time ?? ''), ev.engine, ev.conn, ev.local && ev.peer ? `${ev.local} ⇄ ${ev.peer}` : ev.local ?? ev.peer, `seq ${r.seq}`].filter(Boolean).join(' · ') }),
    ];
    if (ev.data !== undefined) {
      lines.push(el('pre', { class: 'sd-text', text: visible(ev.text ?? '', 400) + (ev.truncated ? ' [cut]' : '') }));
      lines.push(el('pre', { class: 'sd-hex', text: hex(b64ToBytes(ev.data), 64) }));
    }
    // The event stepped to (not merely hovered): its packet, layer by layer.
    const layered = this.hover === null && isData(ev) && typeof ev.seq === 'number';
    const slot = layered ? el('div', { class: 'sd-layers-slot' }) : null;
    replaceKids(this.details, ...lines, slot);
    this.details.hidden = false;
    if (slot) {
      layersOf(ev.seq).then((l) => {
        if (slot.isConnected) slot.replaceChildren(layerView(l));
      });
    }
  }

  /** Space plays or pauses, ← and → step, unless typing somewhere. */
  key(e) {
    if (this.section.closest('[hidden]') || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    const typing = t.closest && t.closest('input, textarea, select, [contenteditable]');
    if (typing) return;
    if (e.key === ' ' && !(t.closest && t.closest('button, a, summary'))) {
      e.preventDefault();
      this.player.toggle();
    } else if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
      e.preventDefault();
      this.player.step(e.key === 'ArrowLeft' ? -1 : 1);
    }
  }
}

function row(scene, i) {
  return i >= 0 ? scene.rows[i] : undefined;
}
