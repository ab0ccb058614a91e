// What an engine is connected to: a TCP server's connections (each closable), a client's
// one, a proxy's pairs with the bytes each way on each leg, or the peers a UDP engine has
// seen (each one click from being the composer's destination).

import { api } from './api.js';
import { isData } from './kinds.js';
import { el, fmtBytes, fmtTime, replaceKids } from './util.js';

/** A proxy's pairs: each client, socketlab's socket to the server for it, and the bytes
 *  each way on each leg. */
export function renderPairs(box, v) {
  const rows = v.connections.map((c) => el('tr', { 'data-conn': c.id },
    el('td', { text: c.id }), el('td', { class: 'mono', text: c.peer }),
    el('td', { text: `${fmtBytes(c.bytes_in)} → ${fmtBytes(c.upstream?.bytes_out ?? 0)}` }),
    el('td', { class: 'mono', text: c.upstream ? c.upstream.local : 'connecting…' }),
    el('td', { text: `${fmtBytes(c.upstream?.bytes_in ?? 0)} → ${fmtBytes(c.bytes_out)}` })));
  replaceKids(box,
    el('h3', { text: `Pairs relayed (${v.connections.length} open, ${v.stats.connections_total} total) to ${v.target}` }),
    rows.length
      ? el('table', { class: 'conn-table' },
        el('thead', {}, el('tr', {}, ...['id', 'client', 'client → server', 'socketlab’s socket', 'server → client'].map((h) => el('th', { text: h })))),
        el('tbody', {}, rows))
      : el('p', { class: 'empty', text: v.stats.connections_total
        ? `No client connected now (${v.stats.connections_total} so far). Point a program at ${v.local ?? 'the bind address'}; socketlab relays it to ${v.target}.`
        : `No client yet. Point a program at ${v.local ?? 'the bind address'}; socketlab relays it to ${v.target}.` }));
}

export function renderConns(box, v, onChanged) {
  const server = v.kind === 'tcp-server';
  const rows = v.connections.map((c) => el('tr', { 'data-conn': c.id },
    el('td', { text: c.id }), el('td', { class: 'mono', text: c.peer }), el('td', { text: fmtTime(c.opened).slice(0, 8) }),
    el('td', { text: fmtBytes(c.bytes_in) }), el('td', { text: fmtBytes(c.bytes_out) }),
    el('td', {}, server ? el('button', {
      type: 'button', class: 'small act', text: 'Close', 'aria-label': `close ${c.id}`,
      onclick: async (e) => {
        e.target.disabled = true;
        try { await api('DELETE', `/api/engines/${encodeURIComponent(v.id)}/connections/${encodeURIComponent(c.id)}`); } catch (err) { e.target.title = err.message; }
        onChanged();
      },
    }) : null)));
  replaceKids(box,
    el('h3', { text: server ? `Connections (${v.connections.length} open, ${v.stats.connections_total} total)` : 'Connection' }),
    rows.length
      ? el('table', { class: 'conn-table' },
        el('thead', {}, el('tr', {}, ...['id', 'peer', 'opened', 'in', 'out', ''].map((h) => el('th', { text: h })))),
        el('tbody', {}, rows))
      : el('p', { class: 'empty', text: server
        ? `No client connected${v.stats.connections_total ? ` now (${v.stats.connections_total} so far)` : ''}. Start a matching client, or: nc ${(v.local ?? '').replace(/:(\d+)$/, ' $1')}`
        : 'Not connected.' }));
}

export function renderPeers(box, v, events, composer) {
  const peers = new Map();
  for (const ev of events) {
    if (ev.peer && isData(ev)) peers.set(ev.peer, (peers.get(ev.peer) ?? 0) + 1);
  }
  replaceKids(composer.form.querySelector('#udp-peers'), [...peers.keys()].map((p) => el('option', { value: p })));
  replaceKids(box,
    el('h3', { text: 'Peers seen (UDP has no connections)' }),
    peers.size
      ? el('ul', { class: 'peers' }, [...peers].map(([p, n]) => el('li', {},
        el('button', { type: 'button', class: 'small linklike', text: p, title: 'send to this address', onclick: () => { composer.form.elements.to.value = p; composer.form.elements.data.focus(); } }),
        ` ${n} datagrams`)))
      : el('p', { class: 'empty', text: `No datagrams yet. Try: echo hi | nc -u -w1 ${(v.local ?? '').replace(/:(\d+)$/, ' $1')}` }));
}
