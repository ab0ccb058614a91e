// The event kinds of API.md, in the groups the panels and the scene read them by: one list
// of each, so a kind added to the server is added here once.

/** Bytes that moved: a recv() or a send(). */
export const DATA = new Set(['received', 'sent']);

/** What leaves a socket, on purpose or not: sent, or impairment's copies, reorders and losses. */
export const SENDS = new Set(['sent', 'duplicated', 'reordered', 'dropped']);

/** What changes an engine's view (its state, its connections): the page asks for the view
 *  again when one arrives. */
export const LIFECYCLE = new Set(['created', 'bound', 'listening', 'connected', 'accepted', 'closed', 'refused', 'stopped', 'shutdown', 'error']);

/** What ends a lane in the scene. */
export const ENDS = new Set(['closed', 'stopped']);

/** The log's filter: each choice and the kinds it shows (`null`: all). */
export const FILTERS = {
  all: null,
  data: [...DATA, 'summary'],
  received: ['received'],
  sent: ['sent'],
  connections: ['accepted', 'connected', 'closed', 'refused', 'shutdown'],
  problems: ['error', 'refused', 'lagged', 'stopped'],
};

/** Whether an event moved bytes. */
export const isData = (ev) => DATA.has(ev.kind);
