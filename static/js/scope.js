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

/** `path` with ?workspace=ID when looking into another workspace. */
export function scoped(path) {
  if (!viewing) return path;
  return `${path}${path.includes('?') ? '&' : '?'}workspace=${encodeURIComponent(viewing)}`;
}
