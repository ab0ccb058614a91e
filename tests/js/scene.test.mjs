// The scene's layout logic, without a browser: lanes per socket, send() matched to recv() by
// byte ranges, datagrams by content, rows never drawn before their cause.
// Run: node --test tests/js

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { buildScene } from '../../static/js/scene/model.js';

const SERVER = '127.0.0.1:5000';
const CLIENT = '127.0.0.1:48437';
const b64 = (s) => Buffer.from(s).toString('base64');

/** Events with seq numbers in the order given. */
function seqd(list) {
  return list.map((ev, i) => ({ seq: i + 1, time: `2026-11-25T10:00:00.${String(i).padStart(6, '0')}Z`, ...ev }));
}
const data = (ev, text) => ({ ...ev, bytes: Buffer.byteLength(text), data: b64(text), text });

const ENGINES = [
  { id: 'e1', kind: 'tcp-server', name: null, local: SERVER },
  { id: 'e2', kind: 'tcp-client', name: null, local: CLIENT },
];

/** A server e1 and client e2 connected: c1 on the server, c2 on the client. */
function opening() {
  return [
    { engine: 'e1', kind: 'created', call: 'socket()', local: SERVER, message: 'AF_INET, SOCK_STREAM' },
    { engine: 'e1', kind: 'bound', call: 'bind()', local: SERVER },
    { engine: 'e1', kind: 'listening', call: 'listen()', local: SERVER },
    { engine: 'e2', kind: 'created', call: 'socket()', conn: 'c2', local: CLIENT, peer: SERVER },
    { engine: 'e2', kind: 'connected', call: 'connect()', conn: 'c2', local: CLIENT, peer: SERVER },
    { engine: 'e1', kind: 'accepted', call: 'accept()', conn: 'c1', local: SERVER, peer: CLIENT },
  ];
}
const cSend = (t) => data({ engine: 'e2', kind: 'sent', call: 'send()', conn: 'c2', local: CLIENT, peer: SERVER }, t);
const cRecv = (t) => data({ engine: 'e2', kind: 'received', call: 'recv()', conn: 'c2', local: CLIENT, peer: SERVER }, t);
const sSend = (t) => data({ engine: 'e1', kind: 'sent', call: 'send()', conn: 'c1', local: SERVER, peer: CLIENT }, t);
const sRecv = (t) => data({ engine: 'e1', kind: 'received', call: 'recv()', conn: 'c1', local: SERVER, peer: CLIENT }, t);

const laneOf = (scene, pred) => scene.lanes.find(pred);
const rowOfText = (scene, kind, text) => scene.rows.find((r) => r.ev.kind === kind && r.ev.text === text);
const dataArrows = (scene) => scene.arrows.filter((a) => a.type === 'data');

test('a lane per socket: the listening socket, accept()’s new socket beside it, the client’s ephemeral port', () => {
  const scene = buildScene(seqd(opening()), ENGINES);
  const roles = scene.lanes.map((l) => [l.role, l.local]);
  assert.deepEqual(roles, [['client', CLIENT], ['listen', SERVER], ['accepted', SERVER]]);
  const accepted = laneOf(scene, (l) => l.role === 'accepted');
  assert.equal(accepted.peer, CLIENT);
  // connect() to accept(), and accept() waiting on the listening socket until then.
  const connect = scene.arrows.find((a) => a.type === 'connect');
  assert.equal(connect.fromLane, 0);
  assert.equal(connect.toLane, accepted.column);
  assert.ok(connect.from < connect.to || connect.from === connect.to - 0, 'connect() is drawn before accept() returns');
  const wait = scene.waits.find((w) => !w.open);
  assert.equal(wait.lane, laneOf(scene, (l) => l.role === 'listen').column);
  assert.equal(scene.rows[wait.from].ev.kind, 'listening');
  assert.equal(scene.rows[wait.to].ev.kind, 'accepted');
  assert.deepEqual(scene.spawns, [{ from: 1, to: 2, row: wait.to }]);
  // The first row is socket(), before bind().
  assert.equal(scene.rows[0].call, 'socket()');
  assert.equal(scene.rows[1].call, 'bind()');
});

test('TCP: one send() read by two recv() calls gets an arrow to each', () => {
  const evs = seqd([...opening(), cSend('helloworld'), sRecv('hello'), sRecv('world')]);
  const scene = buildScene(evs, ENGINES);
  const arrows = dataArrows(scene);
  assert.equal(arrows.length, 2);
  const send = rowOfText(scene, 'sent', 'helloworld').row;
  assert.deepEqual(arrows.map((a) => a.from), [send, send]);
  assert.deepEqual(arrows.map((a) => a.to).sort(), [rowOfText(scene, 'received', 'hello').row, rowOfText(scene, 'received', 'world').row].sort());
  assert.deepEqual(arrows.map((a) => a.bytes), [[0, 5], [5, 10]]);
  const client = laneOf(scene, (l) => l.role === 'client').column;
  const accepted = laneOf(scene, (l) => l.role === 'accepted').column;
  assert.ok(arrows.every((a) => a.fromLane === client && a.toLane === accepted));
});

test('TCP: two send() calls read by one recv() both point at it', () => {
  const evs = seqd([...opening(), cSend('hel'), cSend('lo'), sRecv('hello'), sSend('hello'), cRecv('hello')]);
  const scene = buildScene(evs, ENGINES);
  const recv = rowOfText(scene, 'received', 'hello');
  const into = dataArrows(scene).filter((a) => a.to === recv.row && recv.ev.engine === 'e1');
  assert.equal(into.length, 2);
  assert.deepEqual(into.map((a) => scene.rows[a.from].ev.text), ['hel', 'lo']);
  // And the echo back: one arrow from the server's send() to the client's recv().
  const back = dataArrows(scene).filter((a) => scene.rows[a.from].ev.engine === 'e1');
  assert.equal(back.length, 1);
  assert.equal(scene.rows[back[0].to].ev.engine, 'e2');
});

test('events from two engines published out of order: the recv() is still drawn after its send()', () => {
  // The server's recv() got its seq before the client's send() was published.
  const evs = seqd([...opening(), sRecv('ping'), sSend('ping'), cSend('ping'), cRecv('ping')]);
  const scene = buildScene(evs, ENGINES);
  const order = scene.rows.map((r) => `${r.ev.engine}:${r.ev.kind}`).slice(-4);
  assert.deepEqual(order, ['e2:sent', 'e1:received', 'e1:sent', 'e2:received']);
  for (const a of dataArrows(scene)) assert.ok(a.from < a.to, `arrow ${a.from} -> ${a.to} goes down`);
  assert.equal(dataArrows(scene).length, 2);
  // The accepted connection published before the client's connect(): connect() still first.
  const evs2 = seqd([opening()[0], opening()[1], opening()[2], opening()[5], opening()[3], opening()[4]]);
  const s2 = buildScene(evs2, ENGINES);
  const kinds = s2.rows.map((r) => r.ev.kind);
  assert.ok(kinds.indexOf('connected') < kinds.indexOf('accepted'), kinds.join());
  // Every event is drawn once.
  assert.equal(scene.rows.length, evs.length);
  assert.equal(new Set(scene.rows.map((r) => r.seq)).size, evs.length);
});

test('UDP datagrams: sendto() to recvfrom() by content; one lost, one duplicated, one reordered', () => {
  const C = '127.0.0.1:40000';
  const S = '127.0.0.1:6000';
  const engines = [{ id: 'e1', kind: 'udp-server', local: S }, { id: 'e2', kind: 'udp-client', local: C }];
  const out = (t) => data({ engine: 'e2', kind: 'sent', call: 'sendto()', local: C, peer: S }, t);
  const inn = (t) => data({ engine: 'e1', kind: 'received', call: 'recvfrom()', local: S, peer: C }, t);
  const evs = seqd([
    { engine: 'e1', kind: 'created', call: 'socket()', local: S },
    { engine: 'e1', kind: 'bound', call: 'bind()', local: S },
    { engine: 'e2', kind: 'created', call: 'socket()', local: C },
    { engine: 'e2', kind: 'bound', call: 'bind()', local: C },
    out('one'), out('two'), out('three'), out('four'),
    inn('one'), inn('one'), inn('four'), inn('two'),
  ]);
  const scene = buildScene(evs, engines);
  const byText = (t) => scene.arrows.filter((a) => a.from === rowOfText(scene, 'sent', t).row);
  assert.deepEqual(byText('one').map((a) => a.type), ['dgram', 'duplicate']);
  assert.deepEqual(byText('four').map((a) => a.type), ['dgram']);
  assert.deepEqual(byText('two').map((a) => a.type), ['reordered']);
  const lost = byText('three');
  assert.equal(lost.length, 1);
  assert.equal(lost[0].type, 'lost');
  assert.equal(lost[0].short, true, 'a lost datagram stops short');
  assert.deepEqual(scene.lanes.map((l) => l.role), ['udp', 'udp']);
  assert.equal(scene.lanes[0].local, C, 'the client on the left');
});

test('a UDP server bound to any address still meets its clients', () => {
  const engines = [{ id: 'e1', kind: 'udp-server' }, { id: 'e2', kind: 'udp-client' }];
  const evs = seqd([
    { engine: 'e1', kind: 'bound', call: 'bind()', local: '0.0.0.0:7000' },
    { engine: 'e2', kind: 'bound', call: 'bind()', local: '127.0.0.1:40001' },
    data({ engine: 'e2', kind: 'sent', call: 'sendto()', local: '127.0.0.1:40001', peer: '127.0.0.1:7000' }, 'hi'),
    data({ engine: 'e1', kind: 'received', call: 'recvfrom()', local: '0.0.0.0:7000', peer: '127.0.0.1:40001' }, 'hi'),
  ]);
  const scene = buildScene(evs, engines);
  assert.equal(scene.lanes.length, 2, 'no outside lane');
  assert.equal(scene.arrows[0].type, 'dgram');
});

test('a peer outside socketlab gets a lane named by its address', () => {
  const PY = '127.0.0.1:55555';
  const evs = seqd([
    ...opening().slice(0, 3),
    { engine: 'e1', kind: 'accepted', call: 'accept()', conn: 'c1', local: SERVER, peer: PY },
    data({ engine: 'e1', kind: 'received', call: 'recv()', conn: 'c1', local: SERVER, peer: PY }, 'hello'),
    data({ engine: 'e1', kind: 'sent', call: 'send()', conn: 'c1', local: SERVER, peer: PY }, 'hello'),
    { engine: 'e1', kind: 'closed', call: 'close()', conn: 'c1', local: SERVER, peer: PY, message: 'peer closed' },
  ]);
  const scene = buildScene(evs, [ENGINES[0]]);
  const outside = laneOf(scene, (l) => l.role === 'external');
  assert.equal(outside.local, PY);
  assert.equal(outside.title, 'outside socketlab');
  const arrows = dataArrows(scene);
  assert.equal(arrows.length, 2);
  const recv = rowOfText(scene, 'received', 'hello').row;
  assert.ok(arrows.some((a) => a.fromLane === outside.column && a.to === recv));
  assert.ok(arrows.some((a) => a.toLane === outside.column));
  assert.ok(scene.arrows.some((a) => a.type === 'connect' && a.fromLane === outside.column));
  assert.equal(outside.first, scene.rowOf.get(4), 'its lane starts where it connects');
});

test('a reset mid-stream: bytes sent after it are drawn as lost, the reset as RST', () => {
  const evs = seqd([
    ...opening(),
    cSend('one'), sRecv('one'),
    { engine: 'e1', kind: 'closed', call: 'close()', conn: 'c1', local: SERVER, peer: CLIENT, message: 'closed by socketlab (reset)' },
    cSend('two'),
    { engine: 'e2', kind: 'closed', call: 'close()', conn: 'c2', local: CLIENT, peer: SERVER, message: 'connection reset by peer' },
  ]);
  const scene = buildScene(evs, ENGINES);
  const two = scene.arrows.find((a) => a.from === rowOfText(scene, 'sent', 'two').row);
  assert.equal(two.type, 'lost');
  assert.equal(two.short, true);
  const rst = scene.arrows.find((a) => a.type === 'rst');
  assert.ok(rst, 'an RST arrow');
  assert.equal(scene.rows[rst.from].ev.engine, 'e1', 'from the side that reset');
  assert.equal(scene.rows[rst.to].ev.engine, 'e2');
  assert.equal(dataArrows(scene).length, 1);
});

test('an orderly close is a FIN from the side that closed first', () => {
  const evs = seqd([
    ...opening(),
    { engine: 'e1', kind: 'closed', call: 'close()', conn: 'c1', local: SERVER, peer: CLIENT, message: 'peer closed' },
    { engine: 'e2', kind: 'closed', call: 'close()', conn: 'c2', local: CLIENT, peer: SERVER, message: 'closed by socketlab' },
  ]);
  const scene = buildScene(evs, ENGINES);
  const fin = scene.arrows.find((a) => a.type === 'fin');
  assert.equal(scene.rows[fin.from].ev.engine, 'e2');
  assert.ok(fin.from < fin.to);
});

test('a half-close: each FIN its own arrow to the recv() of 0 that saw it, in causal order', () => {
  const srv = { engine: 'e1', conn: 'c1', local: SERVER, peer: CLIENT };
  const cli = { engine: 'e2', conn: 'c2', local: CLIENT, peer: SERVER };
  // The server's events were published first: its eof and close come before the client's
  // shutdown in seq, though the shutdown caused them.
  const evs = seqd([
    ...opening(),
    cSend('bye'), sRecv('bye'), sSend('bye'),
    { ...srv, kind: 'eof', call: 'recv()', bytes: 0 },
    { ...srv, kind: 'closed', call: 'close()', message: 'peer closed the connection (recv() returned 0 bytes)' },
    { ...cli, kind: 'shutdown', call: 'shutdown()' },
    cRecv('bye'),
    { ...cli, kind: 'eof', call: 'recv()', bytes: 0 },
    { ...cli, kind: 'closed', call: 'close()', message: 'peer closed the connection (recv() returned 0 bytes)' },
  ]);
  const scene = buildScene(evs, ENGINES);
  const fins = scene.arrows.filter((a) => a.type === 'fin');
  assert.equal(fins.length, 2, 'one FIN each way');
  const row = (engine, kind) => scene.rows.find((r) => r.ev.engine === engine && r.ev.kind === kind).row;
  const [first, second] = fins.sort((a, b) => a.from - b.from);
  assert.equal(first.from, row('e2', 'shutdown'), "the client's shutdown() sends the first FIN");
  assert.equal(first.to, row('e1', 'eof'));
  assert.equal(second.from, row('e1', 'closed'), "the server's close() sends the second");
  assert.equal(second.to, row('e2', 'eof'));
  assert.ok(row('e2', 'shutdown') < row('e1', 'eof'), 'the eof is drawn after the shutdown that caused it');
  assert.ok(row('e1', 'eof') < row('e1', 'closed'), 'and before the close() it leads to');
  assert.equal(scene.rows[row('e1', 'eof')].call, 'recv() → 0');
});

test('stopping a server draws its close()', () => {
  const evs = seqd([...opening(), { engine: 'e1', kind: 'stopped', call: 'close()', local: SERVER, message: 'stopped by request' }]);
  const scene = buildScene(evs, ENGINES);
  const last = scene.rows[scene.rows.length - 1];
  assert.equal(last.ev.kind, 'stopped');
  assert.equal(last.call, 'close()');
});

test('summaries: counts on the lane and one bulk arrow per overlap, not an arrow per call', () => {
  const sum = (engine, conn, local, peer, bin, bout, first, last) => ({
    kind: 'summary', engine, conn, window_ms: 100, counts: { received: 50, sent: 50 },
    bytes_in: bin, bytes_out: bout, first_seq: first, last_seq: last,
    latest: { received: { call: 'recv()', local, peer }, sent: { call: 'send()', local, peer } },
  });
  const evs = [
    ...seqd(opening()),
    sum('e2', 'c2', CLIENT, SERVER, 500, 500, 7, 300),
    sum('e1', 'c1', SERVER, CLIENT, 500, 500, 8, 301),
  ];
  const scene = buildScene(evs, ENGINES);
  const bulk = scene.arrows.filter((a) => a.type === 'bulk');
  assert.equal(bulk.length, 2, 'one each way');
  const row = scene.rows.find((r) => r.ev.kind === 'summary');
  assert.match(row.note, /50 recv\(\) · 50 send\(\), 1,000 B in 100 ms/);
});

test('a chat room: one member’s line goes out on the other members’ connections', () => {
  const ROOM = '127.0.0.1:7777';
  const m = [['e2', '127.0.0.1:41001', 'c1'], ['e3', '127.0.0.1:41002', 'c2'], ['e4', '127.0.0.1:41003', 'c3']];
  const engines = [{ id: 'e1', kind: 'tcp-server' }, ...m.map(([id]) => ({ id, kind: 'tcp-client' }))];
  const list = [
    { engine: 'e1', kind: 'listening', call: 'listen()', local: ROOM },
    ...m.flatMap(([id, addr, c]) => [
      { engine: id, kind: 'connected', call: 'connect()', conn: 'c9', local: addr, peer: ROOM },
      { engine: 'e1', kind: 'accepted', call: 'accept()', conn: c, local: ROOM, peer: addr },
    ]),
    data({ engine: 'e2', kind: 'sent', call: 'send()', conn: 'c9', local: m[0][1], peer: ROOM }, 'hi all\n'),
    data({ engine: 'e1', kind: 'received', call: 'recv()', conn: 'c1', local: ROOM, peer: m[0][1] }, 'hi all\n'),
    data({ engine: 'e1', kind: 'sent', call: 'send()', conn: 'c2', local: ROOM, peer: m[1][1] }, '[e2] hi all\n'),
    data({ engine: 'e1', kind: 'sent', call: 'send()', conn: 'c3', local: ROOM, peer: m[2][1] }, '[e2] hi all\n'),
    data({ engine: 'e4', kind: 'received', call: 'recv()', conn: 'c9', local: m[2][1], peer: ROOM }, '[e2] hi all\n'),
    data({ engine: 'e3', kind: 'received', call: 'recv()', conn: 'c9', local: m[1][1], peer: ROOM }, '[e2] hi all\n'),
  ];
  const scene = buildScene(seqd(list), engines);
  assert.equal(scene.lanes.length, 7, '3 members, the room and its 3 connections');
  const arrows = dataArrows(scene);
  assert.equal(arrows.length, 3);
  const lanes = scene.lanes;
  const pairs = arrows.map((a) => `${lanes[a.fromLane].key}>${lanes[a.toLane].key}`).sort();
  // The member's send() to its connection in the room, the room's send() on each other one.
  assert.deepEqual(pairs, ['e1/c2>e3/c9', 'e1/c3>e4/c9', 'e2/c9>e1/c1']);
});

test('1,000 events across 11 lanes: every one drawn once, each send() met', () => {
  const list = [...opening()];
  for (let i = 0; i < 4; i++) {
    list.push({ engine: `e${10 + i}`, kind: 'connected', call: 'connect()', conn: 'c1', local: `127.0.0.1:${42000 + i}`, peer: SERVER });
    list.push({ engine: 'e1', kind: 'accepted', call: 'accept()', conn: `c${10 + i}`, local: SERVER, peer: `127.0.0.1:${42000 + i}` });
  }
  while (list.length < 1000) {
    const i = list.length % 4;
    list.push(data({ engine: `e${10 + i}`, kind: 'sent', call: 'send()', conn: 'c1', local: `127.0.0.1:${42000 + i}`, peer: SERVER }, 'x'));
    list.push(data({ engine: 'e1', kind: 'received', call: 'recv()', conn: `c${10 + i}`, local: SERVER, peer: `127.0.0.1:${42000 + i}` }, 'x'));
  }
  const engines = [ENGINES[0], ENGINES[1], ...[0, 1, 2, 3].map((i) => ({ id: `e${10 + i}`, kind: 'tcp-client' }))];
  const scene = buildScene(seqd(list), engines);
  assert.equal(scene.lanes.length, 11);
  assert.equal(scene.rows.length, list.length);
  const sends = list.filter((e) => e.kind === 'sent').length;
  assert.equal(dataArrows(scene).length, sends);
});

test('a tcp-proxy between them: client, the proxy’s two legs, the server, bytes crossing each', () => {
  const P = '127.0.0.1:6000';
  const UP = '127.0.0.1:47000';
  const engines = [ENGINES[0], ENGINES[1], { id: 'e3', kind: 'tcp-proxy', name: 'Proxy' }];
  const px = (o) => ({ engine: 'e3', conn: 'c5', ...o });
  const evs = seqd([
    ...opening().slice(0, 3),
    px({ kind: 'listening', call: 'listen()', conn: undefined, local: P, leg: 'client' }),
    { engine: 'e2', kind: 'connected', call: 'connect()', conn: 'c2', local: CLIENT, peer: P },
    px({ kind: 'accepted', call: 'accept()', local: P, peer: CLIENT, leg: 'client' }),
    px({ kind: 'connected', call: 'connect()', local: UP, peer: SERVER, leg: 'server' }),
    { engine: 'e1', kind: 'accepted', call: 'accept()', conn: 'c1', local: SERVER, peer: UP },
    data({ engine: 'e2', kind: 'sent', call: 'send()', conn: 'c2', local: CLIENT, peer: P }, 'hi'),
    data(px({ kind: 'received', call: 'recv()', local: P, peer: CLIENT, leg: 'client' }), 'hi'),
    data(px({ kind: 'sent', call: 'send()', local: UP, peer: SERVER, leg: 'server' }), 'hi'),
    data({ engine: 'e1', kind: 'received', call: 'recv()', conn: 'c1', local: SERVER, peer: UP }, 'hi'),
  ]);
  const scene = buildScene(evs, engines);
  const roles = scene.lanes.map((l) => `${l.role}:${l.engine}${l.leg ? '/' + l.leg : ''}`);
  assert.deepEqual(roles, ['client:e2', 'listen:e3', 'accepted:e3/client', 'upstream:e3/server', 'listen:e1', 'accepted:e1']);
  const hops = dataArrows(scene).map((a) => `${roles[a.fromLane]}>${roles[a.toLane]}`);
  assert.deepEqual(hops, ['client:e2>accepted:e3/client', 'upstream:e3/server>accepted:e1']);
  assert.equal(scene.arrows.filter((a) => a.type === 'connect').length, 2, 'both connects');
});

test('a datagram dropped on purpose is drawn stopping short', () => {
  const C = '127.0.0.1:40000';
  const S = '127.0.0.1:6000';
  const engines = [{ id: 'e1', kind: 'udp-server', local: S }, { id: 'e2', kind: 'udp-client', local: C }];
  const evs = seqd([
    { engine: 'e1', kind: 'bound', call: 'bind()', local: S },
    { engine: 'e2', kind: 'bound', call: 'bind()', local: C },
    data({ engine: 'e2', kind: 'dropped', call: 'sendto()', local: C, peer: S, message: 'lost on purpose' }, 'a'),
    data({ engine: 'e2', kind: 'sent', call: 'sendto()', local: C, peer: S }, 'a'),
    data({ engine: 'e1', kind: 'received', call: 'recvfrom()', local: S, peer: C }, 'a'),
  ]);
  const scene = buildScene(evs, engines);
  const types = scene.arrows.map((a) => [scene.rows[a.from].ev.kind, a.type, a.short]).sort();
  assert.deepEqual(types, [['dropped', 'lost', true], ['sent', 'dgram', false]]);
});

test('programs outside socketlab are drawn next to the socket they talk to: a client before the proxy, the server after it', () => {
  const P = '127.0.0.1:6000';
  const UP = '127.0.0.1:47000';
  const NC = '127.0.0.1:51000'; // nc, a client outside socketlab
  const REAL = '127.0.0.1:8000'; // a real server outside socketlab
  const engines = [{ id: 'e3', kind: 'tcp-proxy', name: 'Proxy' }];
  const px = (o) => ({ engine: 'e3', conn: 'c1', ...o });
  const evs = seqd([
    px({ kind: 'listening', call: 'listen()', conn: undefined, local: P, leg: 'client' }),
    px({ kind: 'accepted', call: 'accept()', local: P, peer: NC, leg: 'client' }),
    px({ kind: 'connected', call: 'connect()', local: UP, peer: REAL, leg: 'server' }),
    data(px({ kind: 'received', call: 'recv()', local: P, peer: NC, leg: 'client' }), 'GET /'),
    data(px({ kind: 'sent', call: 'send()', local: UP, peer: REAL, leg: 'server' }), 'GET /'),
  ]);
  const scene = buildScene(evs, engines);
  const order = scene.lanes.map((l) => (l.role === 'external' ? `outside ${l.local}` : `${l.role}/${l.leg ?? ''}`));
  assert.deepEqual(order, [`outside ${NC}`, 'listen/', 'accepted/client', 'upstream/server', `outside ${REAL}`]);
  // So no arrow crosses a lane of anything else than its own two ends (the proxy's listening
  // socket beside its connection is the proxy's own).
  for (const a of dataArrows(scene)) {
    const ends = new Set([scene.lanes[a.fromLane].engine ?? scene.lanes[a.fromLane].key, scene.lanes[a.toLane].engine ?? scene.lanes[a.toLane].key]);
    for (let i = Math.min(a.fromLane, a.toLane) + 1; i < Math.max(a.fromLane, a.toLane); i++) {
      assert.ok(ends.has(scene.lanes[i].engine), `arrow ${a.fromLane}->${a.toLane} crosses ${order[i]}`);
    }
  }
});

test('a server connection closed a while ago is folded into its server’s lane, and comes back when expanded', () => {
  const at = (s) => `2026-11-25T10:00:${String(s).padStart(2, '0')}.000000Z`;
  const srv = (o) => ({ engine: 'e1', conn: 'c1', local: SERVER, peer: CLIENT, ...o });
  const evs = [...opening(), sRecv('one'), srv({ kind: 'closed', call: 'close()', message: 'peer closed' })]
    .map((ev, i) => ({ seq: i + 1, time: at(1), ...ev }));
  // Something else happens ten seconds later.
  evs.push({ seq: evs.length + 1, time: at(11), engine: 'e2', kind: 'closed', call: 'close()', conn: 'c2', local: CLIENT, peer: SERVER, message: 'closed' });
  const folded = buildScene(evs, ENGINES);
  const listen = laneOf(folded, (l) => l.role === 'listen');
  assert.equal(folded.lanes.filter((l) => l.role === 'accepted').length, 0, 'no lane of its own');
  assert.equal(listen.folded, 1);
  const recv = rowOfText(folded, 'received', 'one');
  assert.equal(recv.lane.column, listen.column, "its calls are drawn on the server's lane");
  const open = buildScene(evs, ENGINES, { expanded: new Set(['e1']) });
  assert.equal(open.lanes.filter((l) => l.role === 'accepted').length, 1, 'expanded, it has its lane again');
  // Closed a moment ago (within five seconds), it keeps its lane.
  const recent = buildScene(evs.slice(0, -1), ENGINES);
  assert.equal(recent.lanes.filter((l) => l.role === 'accepted').length, 1);
});
