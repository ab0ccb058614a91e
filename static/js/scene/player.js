// Stepping through the scene: a cursor over its rows that plays at a chosen speed of the real
// relative times (or one event a second), pauses, steps, seeks, or follows the live end.
// Timers only; no DOM.

/** Speeds offered, as the select shows them. `1/s` is one event per second. */
export const SPEEDS = ['0.25', '0.5', '1', '2', '4', '1/s'];

/** The longest pause between two events while playing: a demo never stalls on an idle gap. */
export const MAX_GAP_MS = 2500;

/** How long to wait before showing the event after `a` (`b`), at `speed`. */
export function delayBetween(a, b, speed) {
  if (speed === '1/s') return 1000;
  const factor = Number(speed) || 1;
  const gap = Math.max(0, Date.parse(b?.ev?.time ?? 0) - Date.parse(a?.ev?.time ?? 0)) || 0;
  // Times have microseconds the Date parse drops; a few ms between calls still shows as motion.
  return Math.min(MAX_GAP_MS, Math.max(40, gap / factor));
}

export class Player {
  /** `rows()` gives the scene's rows now; `onChange(player)` after every move. */
  constructor({ rows, onChange }) {
    this.rows = rows;
    this.onChange = onChange;
    this.cursor = null; // null: live, following the newest event
    this.playing = false;
    this.speed = '1';
    this.timer = 0;
  }

  get length() {
    return this.rows().length;
  }

  /** The row shown as current: the cursor, or the newest one when live. */
  get at() {
    return this.cursor ?? this.length - 1;
  }

  get live() {
    return this.cursor === null;
  }

  changed() {
    this.onChange(this);
  }

  seek(i) {
    const n = this.length;
    if (n === 0) return;
    this.cursor = Math.max(0, Math.min(n - 1, i));
    this.changed();
  }

  /** One event forward (+1) or back (-1); pauses a running play. */
  step(d) {
    this.stop();
    this.seek(this.at + d);
  }

  play() {
    if (this.length === 0) return;
    // From the live end, play the whole exchange again from its first call.
    if (this.cursor === null || this.cursor >= this.length - 1) this.cursor = 0;
    this.playing = true;
    this.changed();
    this.tick();
  }

  pause() {
    if (this.cursor === null) this.cursor = Math.max(0, this.length - 1);
    this.stop();
    this.changed();
  }

  toggle() {
    if (this.playing) this.pause();
    else this.play();
  }

  /** Back to the live end, following new events. */
  follow() {
    this.stop();
    this.cursor = null;
    this.changed();
  }

  setSpeed(s) {
    if (!SPEEDS.includes(s)) return;
    this.speed = s;
    if (this.playing) {
      clearTimeout(this.timer);
      this.tick();
    }
    this.changed();
  }

  stop() {
    this.playing = false;
    clearTimeout(this.timer);
    this.timer = 0;
  }

  tick() {
    clearTimeout(this.timer);
    const rows = this.rows();
    const i = this.cursor ?? 0;
    if (i >= rows.length - 1) {
      // The end of what happened so far: go on following live events.
      this.playing = false;
      this.cursor = null;
      this.changed();
      return;
    }
    this.timer = setTimeout(() => {
      if (!this.playing) return;
      this.cursor = Math.min(i + 1, this.length - 1);
      this.changed();
      this.tick();
    }, delayBetween(rows[i], rows[i + 1], this.speed));
  }
}
