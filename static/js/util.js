// Small DOM and formatting helpers. Everything that shows received bytes goes through text
// nodes made here: no innerHTML anywhere in the page.

const SVG_NS = 'http://www.w3.org/2000/svg';

function fill(node, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') node.textContent = String(v);
    else if (k === 'class') node.setAttribute('class', v);
    else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** An HTML element; string children become text nodes. */
export function el(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element; string children become text nodes. */
export function svgEl(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Bytes of a base64 string (the events' `data`). */
export function b64ToBytes(b64) {
  if (!b64) return new Uint8Array(0);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** `68 65 6c 6c 6f`, cut after `max` bytes with an ellipsis. */
export function hex(bytes, max = Infinity) {
  const n = Math.min(bytes.length, max);
  const parts = new Array(n);
  for (let i = 0; i < n; i++) parts[i] = bytes[i].toString(16).padStart(2, '0');
  return parts.join(' ') + (bytes.length > n ? ' …' : '');
}

const CONTROL = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\0': '\\0' };

/** Text with control characters made visible (`\n`, `\x07`), so a trailing newline shows. */
export function visible(text, max = Infinity) {
  let s = text.length > max ? text.slice(0, max) : text;
  // eslint-disable-next-line no-control-regex
  s = s.replace(/[\u0000-\u001f\u007f]/g, (c) => CONTROL[c] ?? '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'));
  return text.length > max ? s + '…' : s;
}

/** `fn` wrapped to run at most once per animation frame, however often it is asked for. */
export function perFrame(fn) {
  let frame = 0;
  return () => {
    if (!frame) {
      frame = requestAnimationFrame(() => {
        frame = 0;
        fn();
      });
    }
  };
}

/** 1536 -> "1.5 KiB". */
export function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** "2026-11-23T23:10:00.123456Z" -> "23:10:00.123". */
export function fmtTime(iso) {
  return iso ? iso.slice(11, 23) : '';
}

/** The port of "127.0.0.1:5000" or "[::1]:5000". */
export function portOf(addr) {
  if (!addr) return '';
  const i = addr.lastIndexOf(':');
  return i < 0 ? addr : addr.slice(i + 1);
}

/** Calls `fn` once, `ms` after the last of a burst of calls. */
export function debounce(fn, ms) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

/** Replaces a node's children. */
export function replaceKids(node, ...kids) {
  node.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
}

/** Copies text to the clipboard; falls back to selecting it in `input` (a readonly field
 *  showing it) where the Clipboard API is not allowed (plain http on a lab machine's name).
 *  Resolves to true if copied. */
export async function copyText(text, input) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the selection
  }
  if (input) {
    input.focus();
    input.select();
    try {
      // eslint-disable-next-line deprecation/deprecation
      return document.execCommand('copy');
    } catch {
      return false;
    }
  }
  return false;
}

/** "2026-11-25T10:00:00Z" -> "12 s ago", "3 min ago", "2 h ago". */
export function ago(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 5) return 'now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}
