// The composer: what an engine sends (text, hex or base64; to a connection, all of them, or
// a UDP address; once or repeated), with the answer the API gave under it.

import { api } from './api.js';
import { el, replaceKids } from './util.js';

/** Whether a client's peer is a chat room (one of ours, or one it is named for). */
export function talksToChat(v, engines) {
  if (v.kind !== 'tcp-client') return false;
  const room = engines.some((e) => e.kind === 'tcp-server' && e.behavior === 'chat' && e.local && e.local === v.peer);
  return room || /chat/i.test(v.name ?? '');
}

export class Composer {
  /** `view` gives the engine view shown now. */
  constructor(view) {
    this.view = view;
    this.form = this.build();
  }

  build() {
    const f = el('form', { class: 'composer act', 'aria-label': 'send bytes', autocomplete: 'off' },
      el('div', { class: 'c-data' },
        el('label', { for: 'c-data', text: 'Send' }),
        el('textarea', { id: 'c-data', name: 'data', rows: 2, spellcheck: 'false', placeholder: 'hello   (Enter sends, Shift+Enter adds a line)' })),
      el('div', { class: 'c-opts' },
        el('label', {}, 'encoding ', el('select', { name: 'encoding' },
          el('option', { value: 'text', text: 'text' }), el('option', { value: 'hex', text: 'hex' }), el('option', { value: 'base64', text: 'base64' }))),
        el('label', { class: 'c-conn' }, 'to ', el('select', { name: 'conn', 'aria-label': 'connection' })),
        el('label', { class: 'c-to' }, 'to ', el('input', { name: 'to', placeholder: '127.0.0.1:50000', list: 'udp-peers', spellcheck: 'false', 'aria-label': 'destination host:port' })),
        el('datalist', { id: 'udp-peers' }),
        el('label', { class: 'c-nl' }, el('input', { type: 'checkbox', name: 'newline' }), ' add \\n'),
        el('label', { class: 'c-rep', title: 'send it this many times (each is its own send() and event)' }, 'repeat ',
          el('input', { name: 'repeat', type: 'number', min: 1, max: 10000, value: 1, 'aria-label': 'repeat count' })),
        el('label', { class: 'c-every', title: 'milliseconds between repeats' }, 'every ',
          el('input', { name: 'interval', type: 'number', min: 0, max: 3600000, value: 1000, 'aria-label': 'interval in milliseconds' }), ' ms'),
        el('button', { type: 'button', class: 'c-stop', text: 'Stop repeating', hidden: true }),
        el('button', { type: 'submit', class: 'primary', text: 'Send' }),
        el('button', { type: 'button', class: 'c-half', 'data-shutdown': 'write', text: 'Send + shutdown(SHUT_WR)', title: 'half-close: send, then say "no more from me"; still receive' })),
      el('p', { class: 'c-result', role: 'status' }));
    const data = f.elements.data;
    data.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        f.requestSubmit();
      }
    });
    f.addEventListener('submit', (e) => {
      e.preventDefault();
      this.send(false);
    });
    f.querySelector('.c-half').addEventListener('click', () => this.send(true));
    const rep = f.elements.repeat;
    const every = f.querySelector('.c-every');
    const syncRepeat = () => { every.hidden = !(Number(rep.value) > 1); };
    rep.addEventListener('input', syncRepeat);
    syncRepeat();
    f.querySelector('.c-stop').addEventListener('click', () => this.stopRepeats());
    return f;
  }

  async send(halfClose) {
    const f = this.form;
    const v = this.view();
    const out = f.querySelector('.c-result');
    const body = { data: f.elements.data.value, encoding: f.elements.encoding.value };
    if (body.encoding === 'text' && f.elements.newline.checked) body.data += '\n';
    if (v.kind === 'tcp-server') body.conn = f.elements.conn.value;
    if (v.kind.startsWith('udp') && f.elements.to.value.trim()) body.to = f.elements.to.value.trim();
    if (halfClose) body.shutdown = 'write';
    const repeat = Number(f.elements.repeat.value);
    if (repeat > 1) {
      body.repeat = repeat;
      body.interval_ms = Number(f.elements.interval.value);
    }
    out.classList.remove('bad');
    try {
      const r = await api('POST', `/api/engines/${encodeURIComponent(v.id)}/send`, body);
      const to = r.sent_to.length ? r.sent_to.join(', ') : 'nobody (no open connection)';
      out.textContent = repeat > 1 ? `sending ${repeat} × ${r.bytes} B to ${to}, every ${body.interval_ms} ms` : `sent ${r.bytes} B to ${to}`;
      f.querySelector('.c-stop').hidden = !(repeat > 1);
      if (repeat <= 1) f.elements.data.value = '';
    } catch (err) {
      out.classList.add('bad');
      out.textContent = err.message;
    }
    f.elements.data.focus();
  }

  async stopRepeats() {
    const out = this.form.querySelector('.c-result');
    try {
      await api('POST', `/api/engines/${encodeURIComponent(this.view().id)}/send/stop`);
      out.textContent = 'repeats stopped';
      this.form.querySelector('.c-stop').hidden = true;
    } catch (err) {
      out.classList.add('bad');
      out.textContent = err.message;
    }
  }

  /** The choices a new engine view allows: its connections, whether it may half-close. */
  update(v) {
    const tcp = v.kind.startsWith('tcp');
    const f = this.form;
    f.querySelector('.c-conn').hidden = v.kind !== 'tcp-server';
    f.querySelector('.c-to').hidden = tcp;
    f.querySelector('.c-half').hidden = v.kind !== 'tcp-client';
    f.elements.to.placeholder = v.kind === 'udp-client' ? `default ${v.peer ?? v.target ?? ''}` : '127.0.0.1:50000 (a sender, from the log)';
    for (const b of f.querySelectorAll('button')) b.disabled = v.state !== 'running';
    if (v.kind === 'tcp-server') {
      const sel = f.elements.conn;
      const cur = sel.value;
      const opts = [el('option', { value: '*', text: `all open (${v.connections.length})` }),
        ...v.connections.map((c) => el('option', { value: c.id, text: `${c.id} ${c.peer}` }))];
      replaceKids(sel, opts);
      sel.value = [...sel.options].some((o) => o.value === cur) ? cur : (v.connections.length === 1 ? v.connections[0].id : '*');
    }
    // Repeats that ended (all sent, or stopped) say so, and take their Stop button along.
    const stop = f.querySelector('.c-stop');
    if (!stop.hidden && !v.repeating) {
      stop.hidden = true;
      const out = f.querySelector('.c-result');
      if (out.textContent.startsWith('sending ')) out.textContent = out.textContent.replace(/^sending /, 'sent ').replace(/, every \d+ ms$/, '');
    }
    // A proxy relays; it has nothing of its own to send.
    f.hidden = v.kind.endsWith('proxy');
  }
}
