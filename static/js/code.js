// The Code tab: the program behind an engine in Python, Bash, Tcl and PowerShell, with its
// real address, a copy button and the line that runs it. The text is shown with
// textContent only.

import { api } from './api.js';
import { scoped } from './scope.js';
import { copyText, el, replaceKids } from './util.js';

export class CodePanel {
  constructor(box, engineId) {
    this.box = box;
    this.id = engineId;
    this.lang = localStorage.getItem('socketlab.lang') || 'python';
    this.langs = [];
    this.text = '';
  }

  /** Loads the list of languages and the chosen one's program. */
  async load() {
    const status = el('p', { class: 'code-status', role: 'status', text: 'loading…' });
    replaceKids(this.box, status);
    try {
      this.langs = await api('GET', `/api/engines/${encodeURIComponent(this.id)}/code`);
    } catch (err) {
      status.textContent = err.message;
      status.classList.add('bad');
      return;
    }
    if (!this.langs.some((l) => l.lang === this.lang)) this.lang = this.langs[0].lang;
    this.tabs = el('div', { class: 'code-tabs', role: 'tablist', 'aria-label': 'language' },
      ...this.langs.map((l) => {
        const b = el('button', { type: 'button', role: 'tab', 'data-lang': l.lang, text: LABELS[l.lang] || l.lang });
        b.addEventListener('click', () => this.pick(l.lang));
        return b;
      }));
    this.copyBtn = el('button', { type: 'button', class: 'copy primary', text: 'Copy' });
    this.copyBtn.addEventListener('click', () => this.copy());
    this.download = el('a', { class: 'download', text: 'Download' });
    this.run = el('p', { class: 'code-run' });
    this.note = el('p', { class: 'code-note' });
    this.pre = el('pre', { class: 'code', tabindex: 0, role: 'tabpanel', 'aria-label': 'program' });
    this.copied = el('span', { class: 'copied', role: 'status' });
    replaceKids(this.box,
      el('div', { class: 'code-bar' }, this.tabs, this.copyBtn, this.download, this.copied),
      this.run, this.note, this.pre);
    await this.pick(this.lang);
  }

  async pick(lang) {
    this.lang = lang;
    localStorage.setItem('socketlab.lang', lang);
    for (const b of this.tabs.children) b.setAttribute('aria-selected', String(b.dataset.lang === lang));
    const info = this.langs.find((l) => l.lang === lang);
    const url = scoped(`/api/engines/${encodeURIComponent(this.id)}/code?lang=${lang}`);
    this.run.textContent = '';
    this.run.append(el('b', { text: 'Run it: ' }), el('code', { text: info.run }));
    this.note.textContent = info.note;
    this.download.href = url;
    this.download.setAttribute('download', info.file);
    this.copied.textContent = '';
    try {
      const res = await fetch(url, { credentials: 'same-origin' });
      if (!res.ok) throw new Error(`${res.status}: ${await res.text()}`);
      this.text = await res.text();
      this.pre.textContent = this.text;
    } catch (err) {
      this.text = '';
      this.pre.textContent = `could not load the program: ${err.message}`;
    }
  }

  async copy() {
    // Where the Clipboard API is not allowed, the text is selected in a hidden field and
    // copied from there.
    const ta = el('textarea', { class: 'offscreen', 'aria-hidden': 'true', readonly: true });
    ta.value = this.text;
    document.body.append(ta);
    const ok = await copyText(this.text, ta);
    ta.remove();
    this.copied.textContent = ok ? `copied ${this.text.split('\n').length - 1} lines` : 'could not copy: select the text and copy it';
  }
}

const LABELS = { python: 'Python', bash: 'Bash', tcl: 'Tcl', powershell: 'PowerShell' };
