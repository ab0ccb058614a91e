// The scene as data: a lane per socket, a row per socket call in the order they are drawn, and
// the arrows between them. Data goes from a send() to the recv()s that got its bytes, matched by
// the connection's addresses and byte ranges (one send may arrive as two recvs and two sends as
// one: both drawn as they were), a datagram from sendto() to recvfrom(), a connect() to the
// accept() it completed. No DOM: `node --test tests/js` checks it.

import { Lanes, engineKinds } from './lanes.js';
import { SENDS } from '../kinds.js';
import { visible } from '../util.js';

const SKIP = new Set(['progress', 'history']);

/** A server's connection closed this long before the newest event is folded into the
 *  server's listening lane (its calls drawn there), unless that server is expanded. */
export const FOLD_AFTER_MS = 5000;
/** The calls that put bytes on the way: a send, and a datagram's impaired fates. */

/** The short label of a socket call on its lane. */
function label(ev) {
  switch (ev.kind) {
    case 'created': return ['socket()', ev.message ?? ''];
    case 'bound': return ['bind()', ev.local ?? ''];
    case 'listening': return ['listen()', ''];
    case 'accepted': return ['accept()', 'a new socket'];
    case 'connected': return ['connect()', ''];
    case 'sent':
    case 'received': return [ev.call ?? ev.kind, `${ev.bytes ?? 0} B`];
    case 'dropped': return ['sendto() ✕', 'lost on purpose'];
    case 'duplicated': return ['sendto() ×2', 'duplicated on purpose'];
    case 'reordered': return ['sendto() ⇅', 'sent late on purpose'];
    case 'delayed': return ['delayed', ev.message ?? ''];
    case 'shutdown': return ['shutdown(SHUT_WR)', ''];
    case 'eof': return ['recv() → 0', 'end of stream: the peer closed its side'];
    case 'closed': return ['close()', ev.message ?? ''];
    case 'refused': return ['refused', ev.message ?? 'server full'];
    // A stop is the socket's close(), as the lecture's program would call it.
    case 'stopped': return ['close()', ev.message ?? 'stopped'];
    case 'file': return ['file ✓', ev.file ?? ''];
    // A lab step socketlab ticked (or the student did): a milestone, not a socket call.
    case 'step': return [`✓ step ${(ev.step ?? 0) + 1}`, ev.how === 'self' ? 'done, as the student said' : 'done: socketlab saw it'];
    case 'error': return [`${ev.call ?? ''} failed`, ev.message ?? ''];
    case 'summary': return ['Σ', summaryLine(ev)];
    case 'lagged': return ['⚠', `${ev.missed} events skipped`];
    default: return [ev.call ?? ev.kind, ev.message ?? ''];
  }
}

/** "120 recv() · 120 send(), 12,000 B in 100 ms". */
export function summaryLine(ev) {
  const calls = { received: 'recv()', sent: 'send()' };
  const parts = Object.entries(ev.counts ?? {}).map(([k, n]) => `${n} ${ev.latest?.[k]?.call ?? calls[k] ?? k}`);
  const bytes = (ev.bytes_in ?? 0) + (ev.bytes_out ?? 0);
  return `${parts.join(' · ')}, ${bytes.toLocaleString('en')} B in ${ev.window_ms ?? 100} ms`;
}

const isReset = (ev) => /reset|RST/i.test(ev.message ?? '');
const dataText = (ev) => `“${visible(ev.text ?? '', 24)}” ${ev.bytes ?? 0} B`;

/** Byte ranges of one direction of a connection (or datagrams of one path). */
function stream(streams, key) {
  let s = streams.get(key);
  if (!s) streams.set(key, (s = { sends: [], recvs: [] }));
  return s;
}

/**
 * Builds the scene from events (any order; sorted by seq here) and the engines they belong to.
 * Returns `{ lanes, rows, arrows, waits, spawns, rowOf }`: lanes left to right (each with
 * `column`, `first` and `last` row), rows top to bottom, arrows `{ from, to, fromLane, toLane,
 * type, label }` between rows (`to` may equal `from` for a peer outside, whose lane has no
 * rows of its own), waits `{ lane, from, to, open }` for a blocked accept(), and `rowOf`:
 * seq -> row index.
 */
export function buildScene(events, engines = [], { foldAfterMs = FOLD_AFTER_MS, expanded = new Set() } = {}) {
  const evs = events.filter((ev) => !SKIP.has(ev.kind));
  const key = (ev) => ev.seq ?? ev.last_seq ?? 0;
  evs.sort((a, b) => key(a) - key(b));
  const kinds = engineKinds(evs, engines);
  const lanes = new Lanes(engines, kinds);
  const items = [];
  for (const ev of evs) {
    const lane = ev.kind === 'lagged' ? null : lanes.of(ev);
    if (!lane && ev.kind !== 'lagged') continue;
    const [call, note] = label(ev);
    const item = { ev, seq: key(ev), lane, call, note, deps: [], row: -1 };
    if (lane) lane.items.push(item);
    items.push(item);
  }

  // Ranges: each side counts its own bytes, per connection and direction.
  const streams = new Map();
  const arrows = [];
  const take = (lane, dir, n) => {
    const k = dir === '>' ? 'sentBytes' : 'gotBytes';
    const at = lane[k] ?? 0;
    lane[k] = at + n;
    return at;
  };
  const connects = new Map(); // "client local>server" -> connected item
  for (const it of items) {
    const { ev, lane } = it;
    if (!lane) continue;
    const tcp = lane.role === 'accepted' || lane.role === 'client' || lane.role === 'upstream';
    if (ev.kind === 'summary') {
      const other = tcp ? lanes.tcpPeer(lane) : null;
      if (!other) continue;
      if (ev.bytes_in) {
        const s = stream(streams, `${other.key}>${lane.key}`);
        Object.assign(s, { tcp, from: other, to: lane });
        s.recvs.push({ it, start: take(lane, '<', ev.bytes_in), n: ev.bytes_in });
      }
      if (ev.bytes_out) {
        const s = stream(streams, `${lane.key}>${other.key}`);
        Object.assign(s, { tcp, from: lane, to: other });
        s.sends.push({ it, start: take(lane, '>', ev.bytes_out), n: ev.bytes_out });
      }
      continue;
    }
    if (SENDS.has(ev.kind) || ev.kind === 'received') {
      const other = tcp ? lanes.tcpPeer(lane) : ev.peer ? lanes.udpPeer(ev.peer, lane.local) : null;
      if (!other) continue;
      const out = ev.kind !== 'received';
      const s = stream(streams, out ? `${lane.key}>${other.key}` : `${other.key}>${lane.key}`);
      s.tcp = tcp;
      s.from = out ? lane : other;
      s.to = out ? other : lane;
      const n = ev.bytes ?? 0;
      (out ? s.sends : s.recvs).push({ it, start: tcp ? take(lane, out ? '>' : '<', n) : 0, n, lost: ev.kind === 'dropped' });
      continue;
    }
    if (ev.kind === 'connected' && lane.local) connects.set(`${lane.local}>${lane.peer}`, it);
  }

  // Connections: connect() on the client's socket completes accept() on the server's.
  for (const it of items) {
    if (it.ev.kind !== 'accepted' || !it.lane) continue;
    const from = connects.get(`${it.ev.peer}>${it.ev.local}`);
    if (from) {
      it.deps.push(from);
      arrows.push({ a: from, b: it, type: 'connect', label: 'connect() → accept()' });
    } else if (it.ev.peer) {
      arrows.push({ a: null, outside: lanes.outside(it.ev.peer, it.lane, 'left'), b: it, type: 'connect', label: 'connect()' });
    }
  }

  for (const s of streams.values()) {
    if (!s.from) continue;
    if (s.from.role === 'external' || s.to.role === 'external') {
      for (const x of s.sends) {
        arrows.push(x.lost
          ? { a: x.it, short: true, toLane: s.to, type: 'lost', label: dataText(x.it.ev) }
          : { a: x.it, outsideTo: s.to, type: 'data', label: dataText(x.it.ev) });
      }
      for (const x of s.recvs) arrows.push({ a: null, outside: s.from, b: x.it, type: 'data', label: dataText(x.it.ev) });
      continue;
    }
    if (s.tcp) matchRanges(s, arrows);
    else matchDatagrams(s, arrows);
  }

  closings(items, lanes, arrows);
  fold(lanes, evs, foldAfterMs, expanded);
  const rows = order(items);
  return finish(lanes, rows, arrows);
}

/** TCP: every send() to every recv() whose byte range overlaps it. */
function matchRanges(s, arrows) {
  let j = 0;
  const closedAt = s.to.items.find((it) => it.ev.kind === 'closed');
  for (const x of s.sends) {
    const end = x.start + x.n;
    while (j < s.recvs.length && s.recvs[j].start + s.recvs[j].n <= x.start) j++;
    let k = j;
    let got = false;
    for (; k < s.recvs.length && s.recvs[k].start < end; k++) {
      const r = s.recvs[k];
      const summary = x.it.ev.kind === 'summary' || r.it.ev.kind === 'summary';
      if (r.it.ev.kind !== 'summary') r.it.deps.push(x.it);
      arrows.push({ a: x.it, b: r.it, type: summary ? 'bulk' : 'data', label: summary ? '' : dataText(x.it.ev), bytes: [Math.max(x.start, r.start), Math.min(end, r.start + r.n)] });
      got = true;
    }
    if (!got) {
      // Bytes nobody read: still in flight, or lost when the receiver closed first.
      arrows.push({ a: x.it, short: true, toLane: s.to, type: closedAt ? 'lost' : 'pending', label: dataText(x.it.ev) });
    }
  }
}

/** UDP: each recvfrom() to the sendto() of the same bytes on that path, the first one not yet
 *  taken (datagrams may be lost, duplicated or reordered, so order alone is not enough). */
function matchDatagrams(s, arrows) {
  const taken = new Set();
  const same = (x, r) => !x.lost && x.n === r.n && x.it.ev.data === r.it.ev.data;
  let lastMatched = -1;
  for (const r of s.recvs) {
    let found = -1;
    for (let i = 0; i < s.sends.length; i++) {
      if (!taken.has(i) && same(s.sends[i], r)) { found = i; break; }
    }
    let type = 'dgram';
    if (found < 0) {
      // The same datagram again: a duplicate of one already received.
      for (let i = s.sends.length - 1; i >= 0; i--) if (same(s.sends[i], r)) { found = i; type = 'duplicate'; break; }
    }
    if (found < 0) {
      arrows.push({ a: null, outside: s.from, b: r.it, type: 'dgram', label: dataText(r.it.ev) });
      continue;
    }
    if (type === 'dgram' && found < lastMatched) type = 'reordered';
    taken.add(found);
    lastMatched = Math.max(lastMatched, found);
    r.it.deps.push(s.sends[found].it);
    arrows.push({ a: s.sends[found].it, b: r.it, type, label: dataText(r.it.ev) });
  }
  s.sends.forEach((x, i) => {
    if (x.lost) {
      // Lost on purpose: the event says so, the arrow stops short.
      arrows.push({ a: x.it, short: true, toLane: s.to, type: 'lost', label: dataText(x.it.ev) });
      return;
    }
    if (taken.has(i)) return;
    // Lost when a later datagram on the path arrived, or the receiver is gone.
    const later = i < lastMatched || s.to.items.some((it) => it.ev.kind === 'stopped');
    arrows.push({ a: x.it, short: true, toLane: s.to, type: later ? 'lost' : 'pending', label: dataText(x.it.ev) });
  });
}

const isTcpLane = (l) => l && (l.role === 'accepted' || l.role === 'client' || l.role === 'upstream');

/** Each FIN, as its own arrow, from the call that sent it (a `shutdown()`, else an orderly
 *  `close()`) to the `recv()` of 0 bytes that saw it, which is drawn after it; a reset (RST)
 *  from the side that reset to the other. Without `eof` events (a reset, an older capture), a
 *  close to the other side's close as before. */
function closings(items, lanes, arrows) {
  const fin = new Map(); // lane -> the item that sent its FIN
  const eof = new Map(); // lane -> its recv() of 0 bytes
  const closed = new Map();
  for (const it of items) {
    const { ev, lane } = it;
    if (!isTcpLane(lane)) continue;
    if (ev.kind === 'eof' && !eof.has(lane)) eof.set(lane, it);
    if (ev.kind === 'shutdown' && !fin.has(lane)) fin.set(lane, it);
    if (ev.kind === 'closed') {
      closed.set(lane, it);
      if (!fin.has(lane) && !isReset(ev)) fin.set(lane, it);
    }
  }
  const drawn = new Set(); // "from>to" lane keys with a FIN arrow
  for (const [lane, got] of eof) {
    const other = lanes.tcpPeer(lane);
    const sent = other && fin.get(other);
    if (!sent) continue;
    got.deps.push(sent);
    arrows.push({ a: sent, b: got, type: 'fin', label: 'FIN' });
    drawn.add(`${other.key}>${lane.key}`);
  }
  const done = new Set();
  for (const [lane, it] of closed) {
    if (done.has(lane)) continue;
    const other = lanes.tcpPeer(lane);
    const theirs = other ? closed.get(other) : null;
    if (!theirs) continue;
    done.add(lane).add(other);
    if (drawn.has(`${lane.key}>${other.key}`) || drawn.has(`${other.key}>${lane.key}`)) continue;
    // The side told "peer closed" or "reset by peer" learned it from the other one.
    const told = (x) => /peer|reset by/i.test(x.ev.message ?? '');
    const [a, b] = told(it) && !told(theirs) ? [theirs, it] : [it, theirs];
    b.deps.push(a);
    arrows.push({ a, b, type: isReset(a.ev) || isReset(b.ev) ? 'rst' : 'fin', label: isReset(a.ev) || isReset(b.ev) ? 'RST' : 'FIN' });
  }
}

/**
 * Rows in seq order, except that nothing is drawn before what caused it: a recv() waits for
 * its send(), an accept() for its connect() (two engines may publish in either order). Each
 * lane keeps its own order; what never gets its cause (a cycle from partial history) is
 * placed at the end in seq order.
 */
function order(items) {
  const placed = new Set();
  const rows = [];
  const queues = new Map(); // lane -> waiting items, in order
  const known = new Set(items);
  const ready = (it) => it.deps.every((d) => placed.has(d) || !known.has(d));
  const place = (it) => {
    it.row = rows.length;
    rows.push(it);
    placed.add(it);
  };
  const release = () => {
    let moved = true;
    while (moved) {
      moved = false;
      for (const [lane, q] of queues) {
        while (q.length && ready(q[0])) {
          place(q.shift());
          moved = true;
        }
        if (!q.length) queues.delete(lane);
      }
    }
  };
  for (const it of items) {
    const q = it.lane ? queues.get(it.lane) : null;
    if (q) q.push(it);
    else if (ready(it)) {
      place(it);
      if (queues.size) release();
    } else queues.set(it.lane, [it]);
  }
  const rest = [...queues.values()].flat().sort((a, b) => a.seq - b.seq);
  for (const it of rest) place(it);
  return rows;
}

/** Folds each server connection closed long enough ago into its server's listening lane, so
 *  a busy server's lanes are its live connections; the listening lane's title counts them. */
function fold(lanes, evs, after, expanded) {
  const at = (ev) => Date.parse(ev.time ?? '') || 0;
  const newest = evs.reduce((m, ev) => Math.max(m, at(ev)), 0);
  for (const l of lanes.list) {
    if (l.role !== 'accepted' || l.leg || expanded.has(l.engine)) continue;
    const closed = l.items.find((it) => it.ev.kind === 'closed');
    if (!closed || newest - at(closed.ev) < after) continue;
    const listen = lanes.list.find((x) => x.engine === l.engine && x.role === 'listen');
    if (!listen) continue;
    l.foldInto = listen;
    listen.folded = (listen.folded ?? 0) + 1;
  }
}

function finish(lanes, rows, raw) {
  const arranged = lanes.arrange();
  for (const l of arranged) {
    l.first = l.items.length ? Math.min(...l.items.map((it) => it.row)) : null;
    l.last = l.items.length ? Math.max(...l.items.map((it) => it.row)) : null;
  }
  const arrows = [];
  for (const x of raw) {
    const fromRow = x.a ? x.a.row : x.b.row;
    const toRow = x.b ? x.b.row : fromRow;
    const fromLane = x.a ? x.a.lane : x.outside;
    const toLane = x.b ? x.b.lane : (x.outsideTo ?? x.toLane);
    if (!fromLane || !toLane) continue;
    arrows.push({
      from: fromRow, to: toRow, fromLane: fromLane.column, toLane: toLane.column, type: x.type, label: x.label,
      short: !!x.short, bytes: x.bytes, fromSeq: x.a?.seq ?? null, toSeq: x.b?.seq ?? null,
    });
  }
  // Outside peers have no rows: their lane spans the rows that talk to them.
  for (const a of arrows) {
    for (const [col, row] of [[a.fromLane, a.from], [a.toLane, a.to]]) {
      const l = arranged[col];
      if (l.role !== 'external') continue;
      l.first = l.first === null ? row : Math.min(l.first, row);
      l.last = l.last === null ? row : Math.max(l.last, row);
    }
  }
  const waits = [];
  const spawns = [];
  for (const l of arranged) {
    if (l.role !== 'listen') continue;
    const listen = l.items.find((it) => it.ev.kind === 'listening');
    if (!listen) continue;
    const accepts = rows.filter((r) => r.ev.kind === 'accepted' && r.ev.engine === l.engine && r.row > listen.row);
    const end = l.items.find((it) => it.ev.kind === 'stopped' || (it.ev.kind === 'closed' && !it.ev.conn));
    let from = listen.row;
    for (const acc of accepts) {
      if (end && acc.row > end.row) break;
      waits.push({ lane: l.column, from, to: acc.row, open: false });
      spawns.push({ from: l.column, to: acc.lane.column, row: acc.row });
      from = acc.row;
    }
    waits.push({ lane: l.column, from, to: end ? end.row : rows.length - 1, open: !end });
  }
  const rowOf = new Map(rows.map((r) => [r.seq, r.row]));
  return { lanes: arranged, rows, arrows, waits, spawns, rowOf };
}
