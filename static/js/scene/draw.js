// Drawing the scene in SVG: lane titles in a sticky head, a lifeline per socket, each call a
// mark on its lane, arrows between them. Only the rows in view (plus a margin) are in the DOM,
// redrawn on scroll once per frame, so 1,000 events cost what 40 do. Received bytes reach the
// DOM as text nodes only.

import { ENDS } from '../kinds.js';
import { perFrame, svgEl } from '../util.js';

const OVERSCAN = 4;

/** A length custom property in px, in whatever units it is written (present mode sizes the
 *  scene from the screen: `max(46px, 5vh)`), measured by a probe of that height. */
function lengthVar(box, name, fallback) {
  const probe = document.createElement('div');
  probe.style.cssText = `position:absolute;visibility:hidden;width:0;height:var(${name})`;
  box.append(probe);
  const px = probe.getBoundingClientRect().height;
  probe.remove();
  return px || fallback;
}

export class SceneDrawing {
  /** `box` scrolls; `onPick(row)` when a call or an arrow is clicked, `onHover(row|null)`. */
  constructor(box, { onPick, onHover, onLane }) {
    this.box = box;
    this.onPick = onPick;
    this.onHover = onHover;
    this.onLane = onLane ?? (() => {});
    this.head = svgEl('svg', { class: 'scene-head', 'aria-hidden': 'true' });
    this.svg = svgEl('svg', { class: 'scene', role: 'img', 'aria-label': 'the sequence diagram of every socket of the workspace' });
    this.svg.append(svgEl('defs', {},
      ...['data', 'open', 'close', 'lost', 'bulk'].map((k) => svgEl('marker', { id: `head-${k}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
        svgEl('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: `head head-${k}` })))));
    this.g = svgEl('g', {});
    this.svg.append(this.g);
    box.replaceChildren(this.head, this.svg);
    this.scene = null;
    this.at = -1;
    this.live = true;
    this.paintSoon = perFrame(() => this.paint());
    this.follow = true;
    this.scrolled = false;
    this.svgH = 0;
    this.svgW = 0;
    this.zoom = 1;
    // Noted only; paint reads the box once per frame and decides whether to follow.
    box.addEventListener('scroll', () => {
      this.scrolled = true;
      this.schedule();
    });
    new ResizeObserver(() => {
      this.m = null;
      this.schedule();
    }).observe(box);
    const pickRow = (e) => {
      const g = e.target.closest('[data-row]');
      return g ? Number(g.dataset.row) : null;
    };
    this.svg.addEventListener('click', (e) => {
      const r = pickRow(e);
      if (r !== null) this.onPick(r);
    });
    this.svg.addEventListener('mouseover', (e) => this.onHover(pickRow(e)));
    this.head.addEventListener('click', (e) => {
      const g = e.target.closest('[data-lane]');
      if (g && this.scene) this.onLane(this.scene.lanes[Number(g.dataset.lane)]);
    });
    this.svg.addEventListener('mouseleave', () => this.onHover(null));
  }

  /** Sizes from the CSS (present mode makes them larger); kept until the box changes. */
  metrics() {
    if (this.m && this.m.lanes === (this.scene ? this.scene.lanes.length : 0)) return this.m;
    const row = lengthVar(this.box, '--scene-row', 28);
    const headH = lengthVar(this.box, '--scene-head', 46);
    const lanes = this.scene ? this.scene.lanes.length : 0;
    const minGap = lengthVar(this.box, '--scene-gap', 150);
    const width = this.box.clientWidth;
    // Room on the left for the first lane's title and address, and on the right for the last
    // lane's labels (written to the right of it): both grow with the type.
    const left0 = Math.max(90, row * 3.4);
    const right0 = Math.max(190, row * 6.5);
    // Zoom scales everything drawn, type included; fit is the zoom that puts every lane in
    // the width (never larger than 100%).
    const natural = lanes > 1 ? left0 + (lanes - 1) * minGap + right0 : width;
    const z = this.zoom === 'fit' ? Math.min(1, width / natural) : this.zoom;
    this.box.style.setProperty('--zoom', String(z));
    const [left, right] = [left0 * z, right0 * z];
    const gap = Math.max(minGap * z, lanes > 1 ? (width - left - right) / (lanes - 1) : width);
    this.m = { z, row: row * z, headH: headH * z, gap, left: lanes > 1 ? left : width / 2 - 60 * z, right, lanes, width, height: this.box.clientHeight };
    return this.m;
  }

  /** Shows a scene with `at` the current row and `live` whether it follows the newest. */
  show(scene, at, live) {
    this.version = (this.version ?? 0) + 1;
    this.scene = scene;
    this.at = at;
    this.live = live;
    this.schedule();
  }

  schedule() {
    this.paintSoon();
  }

  /** Scrolls so that row `i` is in view (near the middle when it was out of view). */
  reveal(i) {
    const { row, headH } = this.metrics();
    // The box's height now: the docked details may have just taken some of it.
    const h = this.box.clientHeight;
    const y = headH + i * row;
    const top = this.box.scrollTop;
    if (y < top + headH + row || y > top + h - 2 * row) this.box.scrollTop = Math.max(0, y - h / 2);
  }

  /** Zoom: a scale (1 is 100%), or 'fit' (every lane in the width). */
  setZoom(z) {
    this.zoom = z;
    this.invalidate();
  }

  /** Sizes changed (present mode): measure again. */
  invalidate() {
    this.m = null;
    this.schedule();
  }

  paint() {
    const s = this.scene;
    if (!s) return;
    const t0 = performance.now();
    const m = this.metrics();
    const scrollTop = this.box.scrollTop;
    if (this.scrolled) {
      // Scrolled up to read: stop following the newest rows until scrolled back down.
      this.scrolled = false;
      this.follow = scrollTop + m.height >= m.headH + this.svgH - 40;
    }
    const x = (col) => m.left + col * m.gap;
    const y = (r) => (r + 0.5) * m.row;
    const width = Math.max(m.width, x(Math.max(0, m.lanes - 1)) + m.right);
    // Rows after the cursor are not drawn yet: stepping shows the exchange as it unfolded.
    const last = Math.min(s.rows.length - 1, this.at);
    const height = Math.max((s.rows.length + 1) * m.row, m.height - m.headH);
    if (this.svgH !== height || this.svgW !== width) {
      this.svgH = height;
      this.svgW = width;
      this.svg.setAttribute('width', width);
      this.svg.setAttribute('height', height);
      this.head.setAttribute('width', width);
      this.head.setAttribute('height', m.headH);
    }
    let view = scrollTop;
    if (this.live && this.follow) {
      view = Math.max(0, m.headH + height - m.height);
      if (scrollTop !== view) this.box.scrollTop = view;
      // Sideways too: the newest call's lane (and the one its arrow goes to) in view.
      const newest = s.rows[s.rows.length - 1];
      if (newest?.lane) {
        const cols = [newest.lane.column, ...s.arrows.filter((a) => a.to === newest.row || a.from === newest.row).map((a) => (a.from === newest.row ? a.toLane : a.fromLane))];
        const lo = x(Math.min(...cols)) - m.left;
        const hi = x(Math.max(...cols)) + m.right;
        const sl = this.box.scrollLeft;
        if (lo < sl || hi > sl + m.width) this.box.scrollLeft = Math.max(0, hi - lo <= m.width ? lo - (m.width - (hi - lo)) / 2 : lo);
      }
    }
    const top = Math.max(0, Math.floor((view - m.headH) / m.row) - OVERSCAN);
    const bottom = Math.min(last, Math.ceil((view + m.height) / m.row) + OVERSCAN);
    // What was drawn last time, unless the scene, the cursor or the rows in view changed.
    const key = `${this.version}|${top}|${bottom}|${this.at}|${this.live}|${width}`;
    if (key === this.drawn) return;
    this.drawn = key;

    const head = s.lanes.map((l) => svgEl('g', { class: `lane-head r-${l.role}${l.folded ? ' has-folded' : ''}`, 'data-lane': l.column, 'data-role': l.role, 'data-addr': l.local ?? '', 'data-folded': l.folded ?? 0 },
      svgEl('text', { x: x(l.column), y: m.headH * 0.4, class: 'lane-title', 'text-anchor': 'middle' },
        l.folded ? `${l.title} (+${l.folded} closed)` : l.title),
      svgEl('text', { x: x(l.column), y: m.headH * 0.8, class: 'lane-addr', 'text-anchor': 'middle' },
        l.role === 'accepted' ? `⇄ ${l.peer ?? ''}` : (l.local ?? ''))));
    this.head.replaceChildren(...head);
    this.untangleHead(s.lanes);

    const out = [];
    if (!this.live && this.at >= 0 && this.at < s.rows.length) {
      out.push(svgEl('rect', { x: 0, y: this.at * m.row, width, height: m.row, class: 'current-band' }));
    }
    for (const l of s.lanes) {
      if (l.first === null || l.first > last) continue;
      const closed = l.items.some((it) => ENDS.has(it.ev.kind));
      const end = closed ? Math.min(l.last, last) : last;
      out.push(svgEl('line', { x1: x(l.column), x2: x(l.column), y1: y(l.first), y2: closed ? y(end) : y(end) + m.row, class: `lifeline r-${l.role}` }));
    }
    for (const w of s.waits) {
      if (w.from > last || w.to < top || w.from > bottom) continue;
      const to = Math.min(w.to, last);
      out.push(svgEl('g', { class: `wait${w.open ? ' open' : ''}` },
        svgEl('line', { x1: x(w.lane), x2: x(w.lane), y1: y(w.from) + 6, y2: y(to) - 6 }),
        to - w.from >= 2 ? svgEl('text', { x: x(w.lane) + 7 * m.z, y: y(w.from) + m.row, class: 'note wait-note' }, 'accept() blocks…') : null));
    }
    for (const sp of s.spawns) {
      if (sp.row > last || sp.row < top || sp.row > bottom) continue;
      out.push(svgEl('line', { x1: x(sp.from), x2: x(sp.to), y1: y(sp.row), y2: y(sp.row), class: 'spawn' }));
    }
    for (const a of s.arrows) {
      const lo = Math.min(a.from, a.to);
      const hi = Math.max(a.from, a.to);
      if (a.from > last || hi < top || lo > bottom) continue;
      out.push(this.arrow(a, x, y, last, m));
    }
    for (let r = top; r <= bottom; r++) out.push(this.mark(s.rows[r], x, y, m));
    this.g.replaceChildren(...out);
    this.untangle();
    this.box.dataset.paintMs = String(Math.round(performance.now() - t0));
  }

  /** No text on another: the calls' names stay where they are (a call's note is cut when it
   *  runs into another lane's text); an arrow's label moves along its arrow to a free place,
   *  or is left out (the details and the log still have it); an "accept() blocks" note that
   *  has no room is left out; "✕ lost" stays. Measured in the drawing itself, rows in view
   *  only. */
  untangle() {
    const placed = [];
    const hit = (b) => placed.some((p) => b.x < p.x + p.width && p.x < b.x + b.width && b.y < p.y + p.height && p.y < b.y + b.height);
    const box = (t) => {
      const b = t.getBBox();
      return { x: b.x - 1, y: b.y, width: b.width + 2, height: b.height };
    };
    const names = [...this.g.querySelectorAll('text.call-name')];
    // The calls' names first, each without its note: they never move.
    for (const t of names) {
      const note = t.querySelector('tspan.note');
      const keep = note?.textContent ?? '';
      if (note) note.textContent = '';
      placed.push(box(t));
      if (note) note.textContent = keep;
    }
    // A datagram's "✕ lost" is as fixed as a call's name: it is what the arrow means.
    for (const t of this.g.querySelectorAll('text.lost-x')) placed.push(box(t));
    // Then each note, where it fits.
    for (const [i, t] of names.entries()) {
      const note = t.querySelector('tspan.note');
      if (!note || !note.textContent) continue;
      const own = placed[i];
      const whole = box(t);
      const rest = { x: own.x + own.width, y: whole.y, width: Math.max(0, whole.x + whole.width - own.x - own.width), height: whole.height };
      if (rest.width > 0 && hit(rest)) note.textContent = '';
      else if (rest.width > 0) placed.push(rest);
    }
    for (const t of this.g.querySelectorAll('text.label')) {
      const [x1, y1, x2, y2] = ['x1', 'y1', 'x2', 'y2'].map((k) => Number(t.dataset[k]));
      let ok = !hit(box(t));
      for (const f of [0.3, 0.7, 0.2, 0.8, 0.4, 0.6]) {
        if (ok) break;
        t.setAttribute('x', x1 + (x2 - x1) * f);
        t.setAttribute('y', y1 + (y2 - y1) * f - 4 * (this.m?.z ?? 1));
        ok = !hit(box(t));
      }
      if (ok) placed.push(box(t));
      else t.remove();
    }
    for (const t of this.g.querySelectorAll('text.wait-note')) {
      if (hit(box(t))) t.remove();
      else placed.push(box(t));
    }
  }

  /** Lane titles side by side without overlapping: one that would run into its left
   *  neighbour is shortened (a connection to its id, an engine to its id), and its address
   *  left out; one that still does not fit shows nothing but its lifeline. */
  untangleHead(lanes) {
    let right = -Infinity;
    let rightAddr = -Infinity;
    for (const g of this.head.children) {
      const lane = lanes[Number(g.dataset.lane)];
      const [title, addr] = g.querySelectorAll('text');
      let b = title.getBBox();
      if (b.x < right + 4) {
        title.textContent = lane.conn ?? lane.engine ?? lane.local ?? '';
        b = title.getBBox();
        if (b.x < right + 4) title.textContent = '';
      }
      if (title.textContent) right = b.x + b.width;
      const a = addr.getBBox();
      if (a.x < rightAddr + 4) addr.textContent = '';
      else rightAddr = a.x + a.width;
    }
  }

  arrow(a, x, y, last, m) {
    // Arrows leave and reach their calls a little under the middle of the row, so a call's
    // name (written on the row's middle) is never struck through by its own arrow.
    const drop = m.row * 0.24;
    const x1 = x(a.fromLane);
    const y1 = y(a.from) + drop;
    let x2 = x(a.toLane);
    let y2 = y(a.to) + drop;
    let cls = `arrow t-${a.type}`;
    if (a.short) {
      // A datagram that never arrived, or bytes nobody read: the arrow stops short.
      x2 = x1 + (x2 - x1) * 0.55;
      y2 = y1 + m.row * 0.6;
    } else if (a.to > last && !this.live) {
      // In flight: sent by now, not yet received at the cursor.
      const f = (last + 0.5 - a.from) / Math.max(1, a.to - a.from);
      x2 = x1 + (x2 - x1) * f;
      y2 = y1 + (y2 - y1) * f;
      cls += ' in-flight';
    }
    // The head stops at the lane's call mark, not under it.
    if (!a.short && x2 !== x1) x2 -= Math.sign(x2 - x1) * 6 * m.z;
    const marker = { data: 'data', dgram: 'data', duplicate: 'data', reordered: 'data', connect: 'open', fin: 'close', rst: 'close', lost: 'lost', pending: 'lost', bulk: 'bulk' }[a.type] ?? 'data';
    const current = !this.live && (a.from === this.at || a.to === this.at);
    const g = svgEl('g', { class: `${cls}${current ? ' current' : ''}`, 'data-row': a.to <= last ? a.to : a.from, 'data-from-row': a.from, 'data-to-row': a.to, 'data-from-lane': a.fromLane, 'data-to-lane': a.toLane, 'data-type': a.type,
      'data-from-seq': a.fromSeq ?? '', 'data-to-seq': a.toSeq ?? '',
      'data-from-engine': this.scene.lanes[a.fromLane].engine ?? '', 'data-to-engine': this.scene.lanes[a.toLane].engine ?? '' },
      svgEl('line', { x1, y1, x2, y2, 'marker-end': `url(#head-${marker})` }));
    if (a.short) g.append(svgEl('text', { x: x2 + (x2 >= x1 ? 4 : -4), y: y2 + 4, class: 'lost-x', 'text-anchor': x2 >= x1 ? 'start' : 'end' }, a.type === 'lost' ? '✕ lost' : '…'));
    if (a.label) {
      // Near the sender: a room's send()s fanning out to its members keep their labels apart.
      const f = a.short || Math.abs(x2 - x1) < 320 ? 0.5 : 0.35;
      const tx = x1 + (x2 - x1) * f;
      const ty = y1 + (y2 - y1) * f - 4 * m.z;
      // Where it may move to if it lands on another text: along its arrow.
      g.append(svgEl('text', { x: tx, y: ty, class: 'label', 'text-anchor': 'middle', 'data-x1': x1, 'data-y1': y1, 'data-x2': x2, 'data-y2': y2 }, a.label));
    }
    return g;
  }

  mark(r, x, y, m) {
    const cy = y(r.row);
    const k = r.ev.kind;
    const current = !this.live && r.row === this.at;
    const g = svgEl('g', { class: `call k-${k}${current ? ' current' : ''}${/reset/i.test(r.ev.message ?? '') ? ' reset' : ''}`, 'data-row': r.row, 'data-seq': r.seq, 'data-engine': r.ev.engine ?? '' });
    if (!r.lane) {
      g.append(svgEl('text', { x: 8, y: cy + 4, class: 'note lagged' }, `${r.call} ${r.note}`));
      return g;
    }
    const cx = x(r.lane.column);
    g.append(svgEl('rect', { x: cx - 5 * m.z, y: cy - m.row / 2 + 3 * m.z, width: 10 * m.z, height: m.row - 6 * m.z, rx: 3 * m.z, class: 'mk' }));
    // The baseline a third of the type's size below the row's middle, whatever the size.
    g.append(svgEl('text', { x: cx + 9 * m.z, y: cy, dy: '0.35em', class: 'call-name' }, r.call,
      r.note ? svgEl('tspan', { class: 'note', dx: 5 }, r.note) : null));
    return g;
  }
}
