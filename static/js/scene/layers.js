// One data event as the layers carry it (GET /api/events/{seq}/layers): the IP header, the
// TCP segment or UDP datagram header, the application bytes; from the same reconstruction as
// the pcap, so the two agree.

import { api } from '../api.js';
import { seqSpace } from '../scope.js';
import { el } from '../util.js';

const cache = new Map();

/** The layers of event `seq` of the workspace and run shown, fetched once. */
export function layersOf(seq) {
  const key = `${seqSpace()}|${seq}`;
  if (!cache.has(key)) {
    const p = api('GET', `/api/events/${seq}/layers`).catch((err) => ({ error: err.message }));
    cache.set(key, p);
    if (cache.size > 200) cache.delete(cache.keys().next().value);
  }
  return cache.get(key);
}

const hex4 = (n) => (typeof n === 'number' ? `0x${n.toString(16).padStart(4, '0')}` : '?');

/** The layers as lines, outermost first. */
export function layerView(l) {
  if (l.error) return el('p', { class: 'sd-layer bad', text: l.error });
  const t = l.transport;
  const ip = l.ip;
  const ipLine = ip.version === 4
    ? `IPv4 ${ip.src} → ${ip.dst} · TTL ${ip.ttl} · length ${ip.len} · checksum ${hex4(ip.checksum)}`
    : `IPv6 ${ip.src} → ${ip.dst} · hop limit ${ip.hop_limit} · payload ${ip.len}`;
  const tLine = t.proto === 'tcp'
    ? `TCP ${t.src_port} → ${t.dst_port} · seq ${t.seq} · ack ${t.ack} · [${t.flags.join(', ')}] · window ${t.window} · checksum ${hex4(t.checksum)}`
    : `UDP ${t.src_port} → ${t.dst_port} · length ${t.len} · checksum ${hex4(t.checksum)}`;
  return el('div', { class: 'sd-layers', 'data-proto': t.proto, 'data-seq-number': t.seq ?? '' },
    el('p', { class: 'sd-layer l-ip', text: ipLine }),
    el('p', { class: 'sd-layer l-transport', text: tLine }),
    el('p', { class: 'sd-layer l-app', text: `${l.app.call ?? ''} ${l.app.bytes} bytes of application data${l.app.truncated ? ' (cut at the preview)' : ''}` }),
    el('p', { class: 'sd-note', text: l.note }));
}
