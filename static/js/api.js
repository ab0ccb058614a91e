// The REST API, as API.md defines it. Errors carry the API's code and message.

import { scopedRequest } from './scope.js';

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/** Calls the API; resolves to the parsed JSON (or null), rejects with ApiError. Reads of
 *  engines, events, files and labs go to the workspace being looked into, if any. */
export async function api(method, path, body) {
  path = scopedRequest(method, path);
  const init = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network', `cannot reach socketlab (${e.message}); is the server still running?`);
  }
  const text = await res.text();
  let json = null;
  if (text) {
    try { json = JSON.parse(text); } catch { json = null; }
  }
  if (!res.ok) {
    const err = json && json.error;
    // The change was made but not written to disk: the page says so until a save succeeds,
    // and an answer that also carries what was made (an engine, a loaded lab) is a success.
    if (res.status === 507 && err && err.code === 'not_saved') {
      window.dispatchEvent(new CustomEvent('socketlab:unsaved', { detail: err.message }));
      if (json.result !== undefined) return json.result;
    }
    throw new ApiError(res.status, err ? err.code : 'http_' + res.status, err ? err.message : text || res.statusText, json);
  }
  return json;
}
