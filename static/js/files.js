// The Files panel: upload by picking or dropping a file (with its progress), the list with
// each file's size and SHA-256, downloads, and removal. Uploads stream to the server's disk;
// the SHA-256 lets a student check a file arrived whole.

import { api } from './api.js';
import { scoped } from './scope.js';
import { el, fmtBytes, replaceKids } from './util.js';

export class FilesPanel {
  constructor(section, { onChange } = {}) {
    this.section = section;
    this.onChange = onChange || (() => {});
    this.list = [];
    this.ul = section.querySelector('#files');
    this.status = section.querySelector('.upload-status');
    this.bar = section.querySelector('.upload-progress progress');
    this.barText = section.querySelector('.upload-progress span');
    const input = section.querySelector('#file-input');
    input.addEventListener('change', () => {
      for (const f of input.files) this.upload(f);
      input.value = '';
    });
    const zone = section.querySelector('.dropzone');
    zone.addEventListener('dragover', (e) => {
      e.preventDefault();
      zone.classList.add('over');
    });
    zone.addEventListener('dragleave', () => zone.classList.remove('over'));
    zone.addEventListener('drop', (e) => {
      e.preventDefault();
      zone.classList.remove('over');
      for (const f of e.dataTransfer.files) this.upload(f);
    });
    this.ul.addEventListener('click', async (e) => {
      const b = e.target.closest('button[data-delete]');
      if (!b) return;
      b.disabled = true;
      try {
        await api('DELETE', `/api/files/${encodeURIComponent(b.dataset.delete)}`);
      } catch (err) {
        this.status.textContent = err.message;
      }
      this.refresh();
    });
  }

  async refresh() {
    try {
      this.list = await api('GET', '/api/files');
    } catch {
      return;
    }
    replaceKids(this.ul, this.list.map((f) => el('li', { class: 'file', 'data-file-id': f.id },
      el('div', { class: 'f-head' },
        el('a', { href: scoped(`/api/files/${encodeURIComponent(f.id)}`), download: f.name, text: f.name, title: 'download' }),
        el('span', { class: 'e-id', text: f.id }),
        el('button', { type: 'button', class: 'small danger act', 'data-delete': f.id, text: 'Delete', 'aria-label': `delete ${f.id}` })),
      el('div', { class: 'f-meta' },
        `${fmtBytes(f.bytes)}${f.from ? ` · received by ${f.from.engine} from ${f.from.peer}` : ''}`),
      el('div', { class: 'f-sha mono', title: 'SHA-256: the same on both sides means the file arrived whole', text: `SHA-256 ${f.sha256}` }))));
    this.section.querySelector('.no-files').hidden = this.list.length > 0;
    this.onChange(this.list);
  }

  /** Sends one file; the bar shows how much of it has gone. */
  upload(file) {
    const wrap = this.bar.parentElement;
    wrap.hidden = false;
    this.bar.value = 0;
    this.barText.textContent = `${file.name}: 0%`;
    this.status.textContent = '';
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/files?name=${encodeURIComponent(file.name)}`);
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      const pct = Math.floor((100 * e.loaded) / e.total);
      this.bar.value = pct;
      this.barText.textContent = `${file.name}: ${pct}%`;
    };
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status === 201) {
        this.bar.value = 100;
        this.barText.textContent = `${file.name}: 100%, SHA-256 ${body.sha256}`;
        this.status.textContent = '';
      } else {
        this.status.textContent = body?.error?.message ?? `upload failed (${xhr.status})`;
        wrap.hidden = true;
      }
      this.refresh();
    };
    xhr.onerror = () => {
      this.status.textContent = 'the upload broke off; is socketlab still running?';
      wrap.hidden = true;
    };
    xhr.send(file);
  }
}
