// Which workspace the page shows: the caller's own, or (for the instructor) a student's,
// read-only. Read requests and the event stream name it with ?workspace=ID; the server
// decides what that may see.

let viewing = null; // a workspace id other than one's own, or null

/** Shows another workspace (read-only), or one's own again with null. */
export function setViewing(id) {
  viewing = id || null;
}

/** The workspace being looked into, if not one's own. */
export function viewingOther() {
  return viewing;
}

/** `path` with ?workspace=ID when looking into another workspace; a path that names a
 *  workspace already is left as it is, so scoping twice is scoping once. */
export function scoped(path) {
  if (!viewing || /[?&]workspace=/.test(path)) return path;
  return `${path}${path.includes('?') ? '&' : '?'}workspace=${encodeURIComponent(viewing)}`;
}

/** The reads that belong to the workspace shown (its engines, events, files and labs), as
 *  `api()` sends them: scoped. Everything else (one's own workspace, the class list,
 *  every change) is one's own. */
export function scopedRequest(method, path) {
  const shown = method === 'GET' && /^\/api\/(engines|events|files|labs)(\/|\?|$)/.test(path);
  return shown ? scoped(path) : path;
}

let epoch = ''; // the numbering's run the stream's hello named (a restart starts a new one)

/** Notes the epoch the stream's `hello` named. */
export function setEpoch(e) {
  epoch = e || '';
}

/** What a seq means here: the workspace shown and the run of its numbering. Caches of
 *  anything keyed by seq key by this too, so another workspace's or run's event N is never
 *  taken for this one's. */
export function seqSpace() {
  return `${viewing ?? ''}|${epoch}`;
}
