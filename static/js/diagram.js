// The sequence diagram: one lane per endpoint (the engine's own socket and each peer, so a
// client's ephemeral port gets a lane of its own), one arrow per send or receive.

import { summaryCalls } from './log.js';
import { svgEl, visible } from './util.js';

const ROW = 30;
const TOP = 12;
const LANE_GAP = 210;
const LEFT = 110;
const MAX_ROWS = 200;

export class SequenceView {
  constructor(wrap) {
    this.wrap = wrap;
    this.head = svgEl('svg', { class: 'lanes', height: 44, 'aria-hidden': 'true' });
    this.svg = svgEl('svg', { class: 'sequence', role: 'img', 'aria-label': 'sequence diagram of the socket calls' });
    const defs = svgEl('defs', {},
      svgEl('marker', { id: 'arrowhead', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
        svgEl('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'head' })));
    this.svg.append(defs);
    this.laneLines = svgEl('g', { class: 'lane-lines' });
    this.rowsG = svgEl('g', { class: 'rows' });
    this.svg.append(this.laneLines, this.rowsG);
    wrap.replaceChildren(this.head, this.svg);
    this.follow = true;
    wrap.addEventListener('scroll', () => {
      this.follow = wrap.scrollTop + wrap.clientHeight >= wrap.scrollHeight - 24;
    });
    this.reset(null, []);
  }

  reset(engine, events) {
    this.engine = engine;
    this.lanes = [];
    this.laneIndex = new Map();
    this.count = 0;
    this.rowsG.replaceChildren();
    this.laneLines.replaceChildren();
    this.head.replaceChildren();
    if (engine) this.lane('self', this.selfLabel(engine));
    this.append(events);
  }

  selfLabel(engine) {
    const role = engine.kind.endsWith('server') ? 'server' : 'client';
    return [`${role} (${engine.id})`, engine.local ?? ''];
  }

  lane(key, [title, addr]) {
    let i = this.laneIndex.get(key);
    if (i !== undefined) return i;
    i = this.lanes.length;
    this.lanes.push(key);
    this.laneIndex.set(key, i);
    const x = this.x(i);
    this.head.append(
      svgEl('text', { x, y: 16, class: 'lane-title', 'text-anchor': 'middle' }, title),
      svgEl('text', { x, y: 34, class: 'lane-addr', 'text-anchor': 'middle' }, addr));
    this.laneLines.append(svgEl('line', { x1: x, x2: x, y1: 0, y2: 0, class: 'lane' }));
    return i;
  }

  x(i) {
    return LEFT + i * LANE_GAP;
  }

  peerLane(ev) {
    if (!ev.peer || !this.engine) return null;
    const server = this.engine.kind.endsWith('server');
    return this.lane(ev.peer, [server ? 'client' : 'server', ev.peer]);
  }

  arrow(g, y, from, to, cls, label) {
    const x1 = this.x(from);
    const x2 = this.x(to);
    g.append(svgEl('line', { x1, y1: y, x2, y2: y, class: `arrow ${cls}`, 'marker-end': 'url(#arrowhead)' }));
    g.append(svgEl('text', { x: (x1 + x2) / 2, y: y - 5, class: 'label', 'text-anchor': 'middle' }, label));
  }

  mark(g, y, lane, cls, label) {
    const x = this.x(lane);
    g.append(svgEl('circle', { cx: x, cy: y, r: 4, class: `mark ${cls}` }));
    g.append(svgEl('text', { x: x + 9, y: y + 4, class: `label ${cls}` }, label));
  }

  rowFor(ev, y) {
    const g = svgEl('g', { class: `ev k-${ev.kind}`, 'data-seq': ev.seq });
    const self = 0;
    const short = (s) => visible(s ?? '', 18);
    const bytes = ev.bytes !== undefined ? ` ${ev.bytes} B` : '';
    switch (ev.kind) {
      case 'received': {
        const p = this.peerLane(ev);
        if (p === null) return null;
        this.arrow(g, y, p, self, 'data in', `${ev.call}${bytes} “${short(ev.text)}”`);
        break;
      }
      case 'sent': {
        const p = this.peerLane(ev);
        if (p === null) return null;
        this.arrow(g, y, self, p, 'data out', `${ev.call}${bytes} “${short(ev.text)}”`);
        break;
      }
      case 'accepted':
        this.arrow(g, y, this.peerLane(ev), self, 'open', `connect → accept() ${ev.conn ?? ''}`);
        break;
      case 'connected':
        this.arrow(g, y, self, this.peerLane(ev), 'open', `connect() from :${(ev.local ?? '').split(':').pop()}`);
        break;
      case 'refused':
        this.arrow(g, y, this.peerLane(ev), self, 'refused', 'refused: server full');
        break;
      case 'shutdown':
        this.arrow(g, y, self, this.peerLane(ev), 'half', 'shutdown(SHUT_WR)');
        break;
      case 'closed': {
        const p = ev.peer ? this.peerLane(ev) : self;
        this.mark(g, y, p, 'close', `close() ${short(ev.message)}`);
        break;
      }
      case 'summary': {
        const peer = ev.latest?.received?.peer ?? ev.latest?.sent?.peer;
        const p = peer ? this.peerLane({ peer }) : null;
        const calls = summaryCalls(ev);
        if (p === null) {
          this.mark(g, y, self, 'summary', `Σ ${calls}`);
        } else {
          this.arrow(g, y, p, self, 'summary', `Σ ${calls} in ${ev.window_ms} ms`);
        }
        break;
      }
      case 'history':
        return null;
      case 'lagged':
        g.append(svgEl('line', { x1: 10, x2: this.x(Math.max(1, this.lanes.length - 1)) + 60, y1: y, y2: y, class: 'skip' }));
        g.append(svgEl('text', { x: 14, y: y - 5, class: 'label lagged' }, `⚠ ${ev.missed} events skipped`));
        break;
      default:
        this.mark(g, y, self, ev.kind, `${ev.call ?? ev.kind}${ev.message ? ' ' + short(ev.message) : ''}`);
    }
    return g;
  }

  append(events) {
    if (events.length >= MAX_ROWS) {
      // Everything on screen would be replaced: start from an empty diagram (same lanes).
      this.rowsG.replaceChildren();
      events = events.slice(-MAX_ROWS);
    }
    for (const ev of events) {
      const y = TOP + this.count * ROW + ROW / 2;
      const g = this.rowFor(ev, y);
      if (!g) continue;
      g.setAttribute('data-row', this.count);
      this.rowsG.append(g);
      this.count++;
    }
    let extra = this.rowsG.childElementCount - MAX_ROWS;
    while (extra-- > 0) this.rowsG.firstElementChild.remove();
    this.layout();
  }

  layout() {
    const first = this.rowsG.firstElementChild;
    const top = first ? Number(first.getAttribute('data-row')) * ROW : 0;
    const bottom = TOP + this.count * ROW + ROW;
    const width = this.x(Math.max(this.lanes.length - 1, 1)) + LEFT + 60;
    const height = Math.max(bottom - top, ROW * 2);
    this.svg.setAttribute('viewBox', `0 ${top} ${width} ${height}`);
    this.svg.setAttribute('width', width);
    this.svg.setAttribute('height', height);
    this.head.setAttribute('width', width);
    this.head.setAttribute('viewBox', `0 0 ${width} 44`);
    for (const line of this.laneLines.children) {
      line.setAttribute('y1', top);
      line.setAttribute('y2', top + height);
    }
    if (this.follow) this.wrap.scrollTop = this.wrap.scrollHeight;
  }
}
