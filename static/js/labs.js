// The Labs panel: the lecture's exercises as built-in labs and the ones saved here; load one
// with a click, save the current engines (and the sends made) as one, export and import
// JSON. The lab being done shows its steps below, each with what to do (a send the page can
// do, a command to copy), what should happen, and whether it did: socketlab ticks a step
// when it sees the event the step expects, and the student ticks one only a terminal shows.

import { api } from './api.js';
import { copyText, el, replaceKids } from './util.js';

export class LabsPanel {
  constructor(section, stepsSection, { onLoaded, select, name }) {
    this.section = section;
    this.steps = stepsSection;
    this.onLoaded = onLoaded;
    this.select = select;
    this.name = name;
    this.ul = section.querySelector('#labs');
    this.status = section.querySelector('.lab-status');
    section.querySelector('.save-lab').addEventListener('click', () => this.saveCurrent());
    section.querySelector('#lab-name').addEventListener('keydown', (e) => {
      if (e.key === 'Enter') this.saveCurrent();
    });
    const input = section.querySelector('#lab-import');
    input.addEventListener('change', async () => {
      const f = input.files[0];
      input.value = '';
      if (f) await this.importFile(f);
    });
    stepsSection.querySelector('.close-steps').addEventListener('click', () => {
      stepsSection.hidden = true;
      // Closed stays closed until another lab is loaded.
      stepsSection.dataset.closed = stepsSection.dataset.run ?? '';
    });
  }

  say(text, bad = false) {
    this.status.textContent = text;
    this.status.classList.toggle('bad', bad);
    this.status.classList.toggle('ok', !bad && !!text);
  }

  async refresh() {
    try {
      this.labs = await api('GET', '/api/labs');
    } catch (err) {
      this.say(err.message, true);
      return;
    }
    replaceKids(this.ul, this.labs.map((lab) => this.row(lab)));
  }

  row(lab) {
    const load = el('button', { type: 'button', class: 'primary act', 'data-load': lab.id, text: 'Load' });
    load.addEventListener('click', () => this.load(lab, load));
    const actions = [load];
    const exp = el('a', { class: 'export', href: `/api/labs/${encodeURIComponent(lab.id)}`, download: `${lab.id}-${slug(lab.name)}.json`, text: 'Export' });
    actions.push(exp);
    if (!lab.builtin) {
      const del = el('button', { type: 'button', class: 'act', text: 'Delete' });
      del.addEventListener('click', async () => {
        if (del.dataset.armed !== 'yes') {
          del.dataset.armed = 'yes';
          del.textContent = 'Delete: sure?';
          return;
        }
        try {
          await api('DELETE', `/api/labs/${encodeURIComponent(lab.id)}`);
          this.say(`deleted lab ${lab.name}`);
          await this.refresh();
        } catch (err) {
          this.say(err.message, true);
        }
      });
      actions.push(del);
    }
    const li = el('li', { class: 'lab', 'data-lab-id': lab.id },
      el('div', { class: 'lab-head' },
        el('b', { text: lab.name }),
        el('small', { class: 'lab-kind', text: lab.builtin ? 'lecture' : `saved · ${lab.engines.length} engines` })),
      el('p', { class: 'lab-desc', text: lab.description || '' }),
      el('div', { class: 'lab-actions' }, ...actions));
    return li;
  }

  async load(lab, button) {
    button.disabled = true;
    this.say('');
    try {
      // Asked for, a lab replaces the engines there were (their lanes, and the fixed ports a
      // lecture's lab needs); else the scene shows the lab's alone, saying so.
      const replace = document.getElementById('lab-replace')?.checked ? '?replace=true' : '';
      const loaded = await api('POST', `/api/labs/${encodeURIComponent(lab.id)}/load${replace}`);
      this.say(`loaded ${lab.name}: ${loaded.engines.length} engines`);
      this.onLoaded(loaded);
      await this.showRun({ reveal: true });
    } catch (err) {
      this.say(err.message, true);
    } finally {
      button.disabled = false;
    }
  }

  async saveCurrent() {
    const name = this.section.querySelector('#lab-name');
    const keep = this.section.querySelector('#lab-keep-ports')?.checked ?? false;
    try {
      const lab = await api('POST', '/api/labs', { name: name.value, from_current: true, keep_ports: keep });
      name.value = '';
      const steps = lab.steps.length ? ` and ${lab.steps.length} steps (your sends, each expecting its reply)` : '';
      this.say(`saved lab ${lab.name} (${lab.id}) with ${lab.engines.length} engines${steps}`);
      await this.refresh();
    } catch (err) {
      this.say(err.message, true);
      name.focus();
    }
  }

  async importFile(file) {
    let body;
    try {
      body = JSON.parse(await file.text());
    } catch (err) {
      this.say(`${file.name} is not JSON (${err.message}); export a lab to see the shape`, true);
      return;
    }
    try {
      const lab = await api('POST', '/api/labs', body);
      this.say(`imported lab ${lab.name} (${lab.id})`);
      await this.refresh();
    } catch (err) {
      this.say(`${file.name}: ${err.message}`, true);
    }
  }

  /** The lab being done here (its run): each step with its action, what should happen,
   *  and whether it is done; hidden when no lab was loaded. */
  async showRun({ reveal = false } = {}) {
    let run;
    try {
      run = await api('GET', '/api/labs/run');
    } catch (err) {
      if (err.status === 404) this.steps.hidden = true;
      return;
    }
    // Rebuilt only when something changed: a rebuild mid-click would lose the click, and a
    // command being selected to copy.
    const key = `${run.started}|${run.current}|${run.steps.map((s) => s.at ?? '').join()}`;
    if (key !== this.shownKey) this.renderRun(run);
    if (reveal) {
      this.steps.hidden = false;
      this.steps.scrollIntoView({ block: 'nearest' });
    } else if (this.steps.dataset.closed !== run.started) {
      this.steps.hidden = false;
    }
  }

  renderRun(run) {
    this.run = run;
    this.shownKey = `${run.started}|${run.current}|${run.steps.map((s) => s.at ?? '').join()}`;
    this.steps.dataset.run = run.started;
    const left = run.total - run.done;
    replaceKids(this.steps.querySelector('h2'), `Steps: ${run.name} `,
      el('small', { class: 'run-count', text: left ? `${run.done} of ${run.total} done` : `all ${run.total} done ✓` }));
    const nameOf = (id) => this.name(id) || id;
    const items = run.steps.map((s, i) => {
      const state = s.done ? 'done' : i === run.current ? 'current' : 'todo';
      const parts = [el('p', { class: 'step-text', text: s.text })];
      const actions = el('div', { class: 'step-actions' });
      if (s.engine) {
        const b = el('button', { type: 'button', text: `Show ${nameOf(s.engine)}` });
        b.addEventListener('click', () => this.select(s.engine));
        actions.append(b);
      }
      if (s.send && s.engine) {
        const b = el('button', { type: 'button', class: 'primary act', 'data-step': i, text: 'Do it' });
        const out = el('span', { class: 'step-result', role: 'status' });
        b.addEventListener('click', async () => {
          try {
            const r = await api('POST', `/api/engines/${encodeURIComponent(s.engine)}/send`, s.send);
            out.textContent = `sent ${r.bytes} B`;
            this.select(s.engine);
          } catch (err) {
            out.textContent = err.message;
          }
        });
        actions.append(b, out);
      }
      if (actions.children.length) parts.push(actions);
      if (s.run) {
        const cmd = el('input', { class: 'step-run', readonly: true, value: s.run, 'aria-label': 'command', spellcheck: 'false' });
        const copied = el('span', { class: 'step-result', role: 'status' });
        const copy = el('button', { type: 'button', text: 'Copy' });
        copy.addEventListener('click', async () => {
          copied.textContent = (await copyText(s.run, cmd)) ? 'copied: paste it in a terminal' : 'select and copy it';
        });
        parts.push(el('div', { class: 'step-cmd' }, el('span', { text: 'In a terminal:' }), cmd, copy, copied));
        if (s.input) parts.push(el('p', { class: 'step-input' }, 'then type: ', el('code', { text: s.input.replace(/\n/g, '⏎ ') })));
      }
      const e = s.expect;
      if (e && (e.text || e.output || e.kind)) {
        const where = e.engine ? ` at ${nameOf(e.engine)}` : '';
        const what = e.output || e.text || `a ${e.kind} event`;
        parts.push(el('p', { class: 'step-expect' }, `You should see${where}: `, el('code', { text: what })));
      }
      parts.push(this.stepState(s, i, state, nameOf));
      return el('li', { class: `step ${state}`, 'data-step-state': state, 'aria-current': state === 'current' ? 'step' : null }, ...parts);
    });
    replaceKids(this.steps.querySelector('.steps'), items);
  }

  /** Done (when, and seen or said), or what the server is waiting for, or "I saw it" for a
   *  step only a terminal shows. */
  stepState(s, i, state, nameOf) {
    if (s.done) {
      const when = new Date(s.at).toLocaleTimeString();
      return el('p', { class: 'step-state ok' }, el('b', { text: '✓ done' }),
        s.how === 'self' ? ` at ${when}, as you said` : ` at ${when}: socketlab saw it happen`);
    }
    if (s.checked) {
      const e = s.expect || {};
      const what = e.text ? `“${e.text}”` : `a ${e.kind || 'received'} event`;
      const where = e.engine ? ` at ${nameOf(e.engine)}` : '';
      return el('p', { class: 'step-state' }, state === 'current' ? 'Waiting for ' : 'Then socketlab waits for ', `${what}${where}`);
    }
    const b = el('button', { type: 'button', class: 'act', 'data-saw': i, text: 'I saw it' });
    const out = el('span', { class: 'step-result', role: 'status' });
    b.addEventListener('click', async () => {
      try {
        this.renderRun(await api('POST', `/api/labs/run/steps/${i}/done?lab=${encodeURIComponent(this.run.id)}`, {}));
        this.showRun();
      } catch (err) {
        out.textContent = err.message;
      }
    });
    return el('p', { class: 'step-state' }, 'Only your terminal shows this one: ', b, out);
  }
}

function slug(s) {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'lab';
}
