// GET /api/docs: the OpenAPI document drawn as a page, from the binary's own script (no CDN,
// so it works offline): each operation with its parameters, body and answers, grouped by tag.

import { el, replaceKids } from './util.js';

const main = document.getElementById('api-docs');

function schemaText(s, doc) {
  if (!s) return '';
  if (s.$ref) return s.$ref.split('/').pop();
  if (s.type === 'array') return `[${schemaText(s.items, doc)}]`;
  if (s.enum) return s.enum.join(' | ');
  return s.type ?? (s.oneOf ? 'one of several' : 'any JSON');
}

function operation(path, method, op, doc) {
  const params = (op.parameters ?? []).map((p) => el('li', {},
    el('code', { text: p.name }), ` (${p.in}${p.required ? ', required' : ''}, ${schemaText(p.schema, doc)}): ${p.description ?? ''}`));
  const body = op.requestBody
    ? el('p', {}, el('b', { text: 'Body: ' }), Object.keys(op.requestBody.content ?? {}).join(', '), ` ${op.requestBody.description ?? ''}`)
    : null;
  const answers = Object.entries(op.responses ?? {}).map(([st, r]) => {
    const types = Object.entries(r.content ?? {}).map(([t, c]) => `${t} ${schemaText(c.schema, doc)}`).join(', ');
    return el('li', {}, el('code', { text: st }), ` ${r.description ?? ''}${types ? ` (${types})` : ''}`);
  });
  return el('section', { class: 'api-op', id: `${method}-${path}` },
    el('h3', {}, el('span', { class: `api-method m-${method}`, text: method.toUpperCase() }), ' ', el('code', { text: path })),
    op.description || op.summary ? el('p', { text: op.description ?? op.summary }) : null,
    params.length ? el('div', {}, el('b', { text: 'Parameters' }), el('ul', {}, ...params)) : null,
    body,
    el('div', {}, el('b', { text: 'Answers' }), el('ul', {}, ...answers)));
}

async function draw() {
  let doc;
  try {
    const res = await fetch('/api/openapi.json', { credentials: 'same-origin' });
    if (!res.ok) throw new Error(`${res.status}: open the dashboard's link with its token first`);
    doc = await res.json();
  } catch (err) {
    replaceKids(main, el('h1', { text: 'socketlab API' }), el('p', { class: 'bad', text: `Could not read /api/openapi.json: ${err.message}` }));
    return;
  }
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (typeof op !== 'object' || !op.responses) continue;
      const tag = op.tags?.[0] ?? 'Other';
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operation(path, method, op, doc));
    }
  }
  const intro = (doc.info.description ?? '').split('\n\n').map((p) => el('p', { text: p.replace(/\*\*/g, '') }));
  replaceKids(main,
    el('h1', { text: `${doc.info.title} API ${doc.info.version}` }),
    el('p', {}, 'OpenAPI ', doc.openapi, ': ', el('a', { href: '/api/openapi.json', text: '/api/openapi.json' }), ' · ', el('a', { href: '/', text: 'the dashboard' })),
    ...intro,
    ...[...byTag].flatMap(([tag, ops]) => [el('h2', { text: tag }), ...ops]));
}

draw();
