// A tiny throughput sparkline: bytes per second, last minute.

import { svgEl } from './util.js';

const W = 120;
const H = 24;

export function sparkline(samples) {
  const svg = svgEl('svg', { class: 'spark', width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img' });
  const max = Math.max(1, ...samples);
  const n = samples.length;
  const pts = samples.map((v, i) => `${((i + (60 - n)) * W / 59).toFixed(1)},${(H - 2 - (v / max) * (H - 4)).toFixed(1)}`);
  if (pts.length > 1) svg.append(svgEl('polyline', { points: pts.join(' '), class: 'spark-line' }));
  const last = samples[n - 1] ?? 0;
  svg.setAttribute('aria-label', `throughput ${last} bytes per second now`);
  return svg;
}
