// Which socket each event belongs to. A lane is one socket: a server's listening socket, each
// connection accept() returned beside it (the lecture's "the server gets a new socket"), a
// client's socket with its ephemeral port, a UDP socket, or a peer outside socketlab named by
// its address. Plain data in, plain data out: no DOM, so `node --test` checks it.

/** What kind of engine made these events, from the API's list or, for an engine deleted
 *  since, from the calls it made. */
export function engineKinds(events, engines) {
  const kinds = new Map();
  for (const e of engines) kinds.set(e.id, e.kind);
  for (const ev of events) {
    if (!ev.engine || kinds.has(ev.engine)) continue;
    if (ev.leg) kinds.set(ev.engine, ev.call === 'sendto()' || ev.call === 'recvfrom()' ? 'udp-proxy' : 'tcp-proxy');
    else if (ev.kind === 'listening' || ev.kind === 'accepted') kinds.set(ev.engine, 'tcp-server');
    else if (ev.call === 'sendto()' || ev.call === 'recvfrom()') kinds.set(ev.engine, 'udp-server');
    else if (ev.kind === 'connected') kinds.set(ev.engine, 'tcp-client');
  }
  return kinds;
}

const UNSPECIFIED = /^(0\.0\.0\.0|\[::\]):(\d+)$/;

/** Port of "127.0.0.1:5000" or "[::1]:5000". */
function port(addr) {
  const m = /:(\d+)$/.exec(addr ?? '');
  return m ? m[1] : '';
}

/** Assigns lanes as events come, in seq order; then tells, for an address, whose socket it is. */
export class Lanes {
  constructor(engines, kinds) {
    this.names = new Map(engines.map((e) => [e.id, e.name ?? null]));
    this.kinds = kinds;
    this.list = [];
    this.byKey = new Map();
    this.current = new Map(); // engine -> its newest own-socket lane (listen, udp, client)
    this.gen = new Map();
    this.pairs = new Map(); // "local>peer" -> TCP connection lane
    this.udpAt = new Map(); // local address (or "*:port" when bound to any) -> UDP lane
    this.udpPairs = new Map(); // "local>peer" -> a udp-proxy's lane for one client (its front)
    this.external = new Map();
  }

  add(lane) {
    lane.index = this.list.length;
    lane.items = [];
    this.list.push(lane);
    this.byKey.set(lane.key, lane);
    return lane;
  }

  label(engine, fallback) {
    return this.names.get(engine) || `${fallback} ${engine}`;
  }

  /** The engine's own socket, a new one after a fresh socket() once the old one was used. */
  own(ev, role, fresh) {
    const e = ev.engine;
    let lane = this.current.get(e);
    if (!lane || (fresh && lane.items.length > 0)) {
      const g = (this.gen.get(e) ?? 0) + 1;
      this.gen.set(e, g);
      const what = role === 'listen' ? 'server' : role === 'udp' ? (this.kinds.get(e) === 'udp-client' ? 'UDP client' : 'UDP server') : 'client';
      lane = this.add({ key: `${e}#${g}`, engine: e, role, title: this.label(e, what), local: ev.local ?? null });
      this.current.set(e, lane);
    }
    if (!lane.local && ev.local) lane.local = ev.local;
    return lane;
  }

  /** A TCP connection's lane: accept()'s new socket, or a client's connected socket. */
  conn(ev, role) {
    const key = `${ev.engine}/${ev.conn}`;
    let lane = this.byKey.get(key);
    if (!lane) {
      if (role === 'client') {
        // The client's socket() event names its connection: that lane, once it has it.
        const cur = this.current.get(ev.engine);
        if (cur && !cur.conn && cur.items.length > 0 && ev.kind !== 'created') {
          lane = cur;
          lane.conn = ev.conn;
          this.byKey.set(key, lane);
        } else {
          const g = (this.gen.get(ev.engine) ?? 0) + 1;
          this.gen.set(ev.engine, g);
          lane = this.add({ key, engine: ev.engine, conn: ev.conn, role, title: this.label(ev.engine, 'client') });
          this.current.set(ev.engine, lane);
        }
      } else {
        lane = this.add({ key, engine: ev.engine, conn: ev.conn, role, title: `${ev.conn} of ${this.label(ev.engine, 'server')}` });
      }
    }
    if (!lane.local && ev.local) lane.local = ev.local;
    if (!lane.peer && ev.peer) lane.peer = ev.peer;
    if (!lane.paired && lane.local && lane.peer) {
      lane.paired = true;
      this.pairs.set(`${lane.local}>${lane.peer}`, lane);
    }
    return lane;
  }

  /** A proxy's leg: the client's side (socketlab's socket facing the client) or the server's
   *  (socketlab's own socket toward the server), a lane each per pair. */
  leg(ev, udp) {
    const key = `${ev.engine}/${ev.conn}/${ev.leg}`;
    let lane = this.byKey.get(key);
    const name = this.label(ev.engine, 'proxy');
    if (!lane) {
      const role = udp ? 'udp' : ev.leg === 'server' ? 'upstream' : 'accepted';
      const title = ev.leg === 'server' ? `${name} → server (${ev.conn})` : `${ev.conn} of ${name}`;
      lane = this.add({ key, engine: ev.engine, conn: ev.conn, leg: ev.leg, role, title });
    }
    if (!lane.local && ev.local) lane.local = ev.local;
    if (!lane.peer && ev.peer) lane.peer = ev.peer;
    if (!lane.paired && lane.local && lane.peer) {
      lane.paired = true;
      if (udp && ev.leg === 'client') this.udpPairs.set(`${lane.local}>${lane.peer}`, lane);
      else if (udp) this.udpAt.set(lane.local, lane);
      else this.pairs.set(`${lane.local}>${lane.peer}`, lane);
    }
    return lane;
  }

  /** The lane an event of a socketlab engine is drawn on, or null for one not about a socket. */
  of(ev) {
    const kind = this.kinds.get(ev.engine);
    if (!kind) return null;
    if (kind === 'tcp-proxy' || kind === 'udp-proxy') {
      if (ev.conn && ev.leg) return this.leg(ev, kind === 'udp-proxy');
      const lane = this.own(ev, kind === 'udp-proxy' ? 'udp' : 'listen', ev.kind === 'created');
      if (kind === 'udp-proxy' && lane.local) lane.front = true;
      return lane;
    }
    if (kind === 'tcp-server') {
      if (ev.conn && ev.kind !== 'refused') return this.conn(ev, 'accepted');
      return this.own(ev, 'listen', ev.kind === 'created');
    }
    if (kind === 'tcp-client') {
      if (ev.conn) return this.conn(ev, 'client');
      return this.own(ev, 'client', ev.kind === 'created');
    }
    const lane = this.own(ev, 'udp', ev.kind === 'created');
    if (lane.local && lane.indexed !== lane.local) {
      lane.indexed = lane.local;
      this.udpAt.set(lane.local, lane);
      const any = UNSPECIFIED.exec(lane.local);
      if (any) this.udpAt.set(`*:${any[2]}`, lane);
    }
    return lane;
  }

  /** A peer outside socketlab (a student's program), a lane named by its address. `near`
   *  is the socket it talks to, and `side` where it is drawn: `left` of a server it connects
   *  to as a client, `right` of a client it serves. */
  outside(addr, near = null, side = 'left') {
    let lane = this.external.get(addr);
    if (!lane) {
      lane = this.add({ key: `ext:${addr}`, engine: null, role: 'external', title: 'outside socketlab', local: addr });
      this.external.set(addr, lane);
    }
    if (near && !lane.near) Object.assign(lane, { near, side });
    return lane;
  }

  /** The socket at the other end of a TCP connection lane (null when unknown). */
  tcpPeer(lane) {
    if (!lane.local || !lane.peer) return null;
    // Remembered once found: the other end of a connection does not change.
    if (lane.other && lane.other.role !== 'external') return lane.other;
    // An outside peer of a connection accept() returned is a client: drawn before the server.
    const side = lane.role === 'accepted' ? 'left' : 'right';
    lane.other = this.pairs.get(`${lane.peer}>${lane.local}`) ?? this.outside(lane.peer, lane, side);
    return lane.other;
  }

  /** The UDP socket an address belongs to (for a datagram of the socket at `mine`), or an
   *  outside peer. A udp-proxy's front address is one socket but a lane per client. */
  udpPeer(addr, mine) {
    const near = this.udpAt.get(mine) ?? null;
    const side = near && this.kinds.get(near.engine) === 'udp-client' ? 'right' : 'left';
    return this.udpPairs.get(`${addr}>${mine}`) ?? this.udpAt.get(addr) ?? this.udpAt.get(`*:${port(addr)}`) ?? this.outside(addr, near, side);
  }

  /** Left to right: clients, then each server's listening socket with its connections beside
   *  it, then UDP servers; a peer outside socketlab next to the socket it talks to (a client
   *  just before its server's lanes, a server just after its client's), so no arrow crosses
   *  lanes it has nothing to do with. Returns the lanes in that order, numbered. */
  arrange() {
    const sorted = this.arrangeOwn().filter((l) => !l.foldInto);
    for (const ext of this.list.filter((l) => l.role === 'external')) {
      const near = ext.near;
      const at = near ? sorted.indexOf(near) : -1;
      if (at < 0) {
        sorted.push(ext);
        continue;
      }
      // The whole group of the engine it talks to: a server's listening socket and every
      // connection of it, a proxy's legs.
      const same = (l) => l.engine !== null && l.engine === near.engine;
      let i = at;
      if (ext.side === 'left') {
        while (i > 0 && same(sorted[i - 1])) i--;
      } else {
        while (i + 1 < sorted.length && same(sorted[i + 1])) i++;
        i++;
      }
      sorted.splice(i, 0, ext);
    }
    sorted.forEach((l, i) => { l.column = i; });
    // A folded connection's calls are drawn on its server's listening lane.
    for (const l of this.list) if (l.foldInto) l.column = l.foldInto.column;
    return sorted;
  }

  /** socketlab's own lanes, in their order (see `arrange`). */
  arrangeOwn() {
    const group = (l) => {
      if (l.role === 'external') return 4;
      if (this.kinds.get(l.engine)?.endsWith('proxy')) return 1;
      if (l.role === 'client' || (l.role === 'udp' && this.kinds.get(l.engine) === 'udp-client')) return 0;
      if (l.role === 'udp') return 3;
      return 2;
    };
    const firstOfEngine = new Map();
    for (const l of this.list) if (!firstOfEngine.has(l.engine)) firstOfEngine.set(l.engine, l.index);
    const sorted = this.list.filter((l) => l.role !== 'external').sort((a, b) =>
      group(a) - group(b)
      || (firstOfEngine.get(a.engine) ?? a.index) - (firstOfEngine.get(b.engine) ?? b.index)
      || (a.role === 'listen' ? 0 : 1) - (b.role === 'listen' ? 0 : 1)
      || (a.conn ?? '').localeCompare(b.conn ?? '', 'en', { numeric: true })
      || (a.leg === 'server' ? 1 : 0) - (b.leg === 'server' ? 1 : 0)
      || a.index - b.index);
    return sorted;
  }
}
