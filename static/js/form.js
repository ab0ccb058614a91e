// The "Start an engine" form: shows only the fields a kind uses, fills from lecture presets,
// and puts API errors next to the field they concern, in the API's own words.

import { api } from './api.js';
import { el, fmtBytes, replaceKids } from './util.js';

const BEHAVIORS = {
  'tcp-server': ['echo', 'uppercase', 'add', 'greet', 'chat', 'discard', 'daytime', 'file', 'receive', 'manual'],
  'udp-server': ['echo', 'uppercase', 'add', 'greet', 'discard', 'daytime', 'manual'],
  'tcp-client': ['manual', 'echo', 'uppercase', 'add', 'discard'],
  'udp-client': ['manual', 'echo', 'uppercase', 'add', 'discard'],
  'tcp-proxy': ['manual'],
  'udp-proxy': ['manual'],
};

const BEHAVIOR_HELP = {
  echo: 'echo: sends back what it receives',
  uppercase: 'uppercase: sends it back in capitals',
  add: 'add: "50,40" gets "90"',
  greet: 'greet: says a greeting and closes',
  chat: 'chat: a room, lines go to the others',
  discard: 'discard: prints what arrives, never replies',
  daytime: 'daytime: tells the time',
  file: 'file: sends a file to each client',
  receive: 'receive: keeps what each client sends as a file',
  manual: 'manual: you reply by hand',
};

/** The lecture's programs, as one-click specs (ports as in the lecture where it had one). */
export const PRESETS = {
  'echo-server': { kind: 'tcp-server', bind: '127.0.0.1:12345', behavior: 'echo', name: 'Echo server' },
  'add-server': { kind: 'tcp-server', bind: '127.0.0.1:12346', behavior: 'add', name: 'Add server' },
  'udp-upper-server': { kind: 'udp-server', bind: '127.0.0.1:12000', behavior: 'uppercase', name: 'UDP uppercase server' },
  'greet-server': { kind: 'tcp-server', bind: '127.0.0.1:12347', behavior: 'greet', name: 'Greeting server' },
  'chat-server': { kind: 'tcp-server', bind: '127.0.0.1:12349', behavior: 'chat', name: 'Chat room' },
  'udp-print-server': { kind: 'udp-server', bind: '127.0.0.1:12348', behavior: 'discard', name: 'UDP print server' },
  'daytime-server': { kind: 'tcp-server', bind: '127.0.0.1:12313', behavior: 'daytime', name: 'Daytime server' },
  'echo-client': { kind: 'tcp-client', target: '127.0.0.1:12345', name: 'Echo client', server: ['tcp-server', 'echo'] },
  'add-client': { kind: 'tcp-client', target: '127.0.0.1:12346', name: 'Add client', server: ['tcp-server', 'add'] },
  'udp-upper-client': { kind: 'udp-client', target: '127.0.0.1:12000', name: 'UDP uppercase client', server: ['udp-server', 'uppercase'] },
  'greet-client': { kind: 'tcp-client', target: '127.0.0.1:12347', name: 'Greeting client', server: ['tcp-server', 'greet'] },
  'chat-client': { kind: 'tcp-client', target: '127.0.0.1:12349', name: 'Chat member', server: ['tcp-server', 'chat'] },
  'udp-print-client': { kind: 'udp-client', target: '127.0.0.1:12348', name: 'UDP print client', server: ['udp-server', 'discard'] },
  'daytime-client': { kind: 'tcp-client', target: '127.0.0.1:12313', name: 'Daytime client', server: ['tcp-server', 'daytime'] },
};

const FIELDS = ['kind', 'behavior', 'bind', 'target', 'name', 'options.recv_size', 'options.backlog', 'options.max_clients', 'options.file', 'options.save', 'options.greeting', 'options.rules'];

/** One reply rule's row: match kind, pattern, reply, and a remove button. */
function ruleRow(rule = {}) {
  const row = el('div', { class: 'rule' },
    el('select', { 'aria-label': 'match', 'data-rule': 'match' },
      ...['exact', 'contains', 'regex'].map((m) => el('option', { value: m, text: m }))),
    el('input', { 'aria-label': 'pattern', 'data-rule': 'pattern', placeholder: 'ping', spellcheck: 'false', value: rule.pattern || '' }),
    el('input', { 'aria-label': 'reply', 'data-rule': 'reply', placeholder: 'pong #{{counter}}', spellcheck: 'false', value: rule.reply || '' }),
    el('button', { type: 'button', class: 'remove-rule', 'aria-label': 'remove this rule', text: '×' }));
  row.querySelector('select').value = rule.match || 'exact';
  row.querySelector('.remove-rule').addEventListener('click', () => row.remove());
  return row;
}

/** Which of the form's fields an API error is about: the error's own `field` (a JSON path;
 *  a rule's `options.rules[2].pattern` is the rules box), else what its code implies. */
export function fieldOf(err, kind) {
  const named = err.body?.error?.field;
  if (named) {
    const f = named.startsWith('options.rules') ? 'options.rules' : named;
    return FIELDS.includes(f) ? f : null;
  }
  const lead = /^(bind|target)\b/.exec(err.message || '');
  if (lead) return lead[1];
  if (err.code === 'address_in_use') return 'bind';
  if (err.code === 'connect_failed') return 'target';
  if (err.code === 'invalid_address' || err.code === 'forbidden') return kind && kind.endsWith('client') ? 'target' : 'bind';
  return null;
}

export class EngineForm {
  constructor(form, { onCreated, engines, ports }) {
    this.form = form;
    this.onCreated = onCreated;
    // A class workspace's port block: presets then bind port 0, which picks inside it.
    this.ports = ports || null;
    // The engines now, so a client preset can aim at its server wherever it listens.
    this.engines = engines || (() => []);
    this.kind = form.elements.kind;
    this.behavior = form.elements.behavior;
    // Another kind starts from that kind's first behavior: a client keeping a server's echo
    // would answer an echo server's every reply, for ever.
    this.kind.addEventListener('change', () => {
      this.behavior.value = BEHAVIORS[this.kind.value][0];
      this.sync();
    });
    this.behavior.addEventListener('change', () => this.sync());
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submit();
    });
    for (const f of FIELDS) {
      const input = form.elements[f];
      if (input) input.addEventListener('input', () => this.clearError(f));
    }
    this.rules = form.querySelector('#rules');
    form.querySelector('.add-rule').addEventListener('click', () => {
      this.rules.append(ruleRow());
      this.rules.lastChild.querySelector('[data-rule=pattern]').focus();
    });
    this.rules.addEventListener('input', () => this.clearError('options.rules'));
    document.querySelectorAll('[data-preset]').forEach((b) =>
      b.addEventListener('click', () => this.preset(b.dataset.preset)));
    this.sync();
  }

  wrapper(name) {
    return this.form.querySelector(`[data-field="${name}"]`);
  }

  /** Shows the fields the chosen kind uses, and its behaviors. */
  sync() {
    const kind = this.kind.value;
    const server = kind.endsWith('server');
    // A proxy binds where its clients come, like a server, and has a target, like a client.
    const proxy = kind.endsWith('proxy');
    const binds = server || proxy;
    const current = this.behavior.value;
    const allowed = BEHAVIORS[kind];
    if ([...this.behavior.options].map((o) => o.value).join() !== allowed.join()) {
      this.behavior.replaceChildren(...allowed.map((b) => el('option', { value: b, text: BEHAVIOR_HELP[b] })));
      this.behavior.value = allowed.includes(current) ? current : allowed[0];
    }
    this.wrapper('target').hidden = server;
    this.wrapper('behavior').hidden = proxy;
    this.wrapper('options.backlog').hidden = kind !== 'tcp-server' && kind !== 'tcp-proxy';
    this.wrapper('options.max_clients').hidden = kind !== 'tcp-server' && kind !== 'tcp-proxy';
    this.wrapper('options.greeting').hidden = !(server && this.behavior.value === 'greet');
    this.wrapper('options.file').hidden = !(kind === 'tcp-server' && this.behavior.value === 'file');
    this.wrapper('options.save').hidden = kind !== 'tcp-client';
    this.wrapper('options.rules').hidden = !server;
    if (!this.wrapper('options.file').hidden) this.form.querySelector('details.more').open = true;
    const bind = this.form.elements.bind;
    bind.placeholder = binds ? '127.0.0.1:12345' : 'optional';
    if (!binds && bind.value === '127.0.0.1:0') bind.value = '';
    if (binds && bind.value === '') bind.value = '127.0.0.1:0';
  }

  /** The EngineSpec the visible fields describe. Numbers that are not numbers are sent as
   *  typed, so the API says what is wrong with them. */
  spec() {
    const spec = { kind: this.kind.value };
    const options = {};
    for (const f of FIELDS.slice(1)) {
      const w = this.wrapper(f);
      const input = this.form.elements[f];
      if (!input || (w && w.hidden)) continue;
      if (input.type === 'checkbox') {
        if (input.checked) options[f.slice(8)] = true;
        continue;
      }
      const raw = input.value;
      if (raw.trim() === '') continue;
      if (f.startsWith('options.')) {
        const key = f.slice(8);
        options[key] = key === 'greeting' || key === 'file' ? raw : /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
      } else {
        spec[f] = f === 'name' ? raw : raw.trim();
      }
    }
    const rows = this.rules ? [...this.rules.children] : [];
    if (!this.wrapper('options.rules').hidden && rows.length) {
      options.rules = rows.map((r) => ({
        match: r.querySelector('[data-rule=match]').value,
        pattern: r.querySelector('[data-rule=pattern]').value,
        reply: r.querySelector('[data-rule=reply]').value,
      }));
    }
    if (Object.keys(options).length) spec.options = options;
    return spec;
  }

  clearError(field) {
    const p = this.form.querySelector(`[data-error-for="${field}"]`);
    if (p) p.textContent = '';
    const input = this.form.elements[field];
    if (input) input.removeAttribute('aria-invalid');
  }

  clearErrors() {
    for (const f of [...FIELDS, '_form']) this.clearError(f);
  }

  showError(err) {
    const field = fieldOf(err, this.kind.value);
    const target = field && this.wrapper(field) && !this.wrapper(field).hidden ? field : '_form';
    if (target.startsWith('options.')) this.form.querySelector('details.more').open = true;
    const p = this.form.querySelector(`[data-error-for="${target}"]`);
    p.textContent = err.message;
    const input = this.form.elements[target];
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    }
  }

  /** The files a `file` server may send. */
  setFiles(list) {
    const sel = this.form.elements['options.file'];
    const cur = sel.value;
    replaceKids(sel, list.length
      ? list.map((f) => el('option', { value: f.id, text: `${f.id}: ${f.name} (${fmtBytes(f.bytes)})` }))
      : [el('option', { value: '', text: '(upload one under Files)' })]);
    if (list.some((f) => f.id === cur)) sel.value = cur;
  }

  /** Fills the form from a preset and starts it. */
  preset(name) {
    const p = PRESETS[name];
    if (!p) return;
    this.form.reset();
    replaceKids(this.rules);
    this.kind.value = p.kind;
    this.sync();
    this.behavior.value = p.behavior || 'manual';
    this.form.elements.bind.value = p.bind && this.ports ? '127.0.0.1:0' : p.bind || '';
    this.form.elements.target.value = (p.server && this.serverFor(p.server)) || p.target || '';
    this.form.elements.name.value = p.name || '';
    this.sync();
    this.submit();
  }

  /** The address of the newest running server of this kind and behavior, if any. */
  serverFor([kind, behavior]) {
    const found = this.engines().filter((v) => v.kind === kind && v.behavior === behavior && v.state === 'running' && v.local);
    return found.length ? found[found.length - 1].local : null;
  }

  /** Why this spec would never stop talking, if it would: a client that answers every
   *  message, aimed at a server that answers every message, ping-pongs as fast as the
   *  machine goes (tens of thousands of events a second) from its first send. */
  loop(spec) {
    const answers = (b) => ['echo', 'uppercase', 'add'].includes(b);
    if (!spec.kind.endsWith('client') || !answers(spec.behavior)) return null;
    const server = this.engines().find((v) => v.kind.endsWith('server') && v.local && v.local === spec.target && answers(v.behavior) && !(v.options?.rules?.length));
    return server
      ? `this ${spec.behavior} client would answer ${server.name ?? server.id}'s every ${server.behavior} reply, and it would answer back: a loop as fast as the machine goes. Click Start engine again to start it anyway, or pick behavior manual.`
      : null;
  }

  async submit() {
    this.clearErrors();
    const spec = this.spec();
    const loop = this.loop(spec);
    if (loop && this.warned !== JSON.stringify(spec)) {
      this.warned = JSON.stringify(spec);
      this.showError({ message: loop, code: 'loop' });
      return;
    }
    this.warned = null;
    const button = this.form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const engine = await api('POST', '/api/engines', spec);
      this.onCreated(engine);
    } catch (err) {
      this.showError(err);
    } finally {
      button.disabled = false;
    }
  }
}
