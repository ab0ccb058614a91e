// What a call means, in the lecture's words: the caption under the scene in present mode, so
// a room reads what the step is, not only its name.

/** A caption for the event of a scene row, or '' for one with nothing to say. */
export function explain(row, scene) {
  const ev = row?.ev;
  if (!ev) return '';
  const udp = ev.call === 'sendto()' || ev.call === 'recvfrom()';
  switch (ev.kind) {
    case 'created': return 'socket() makes an endpoint: a socket, with no address yet.';
    case 'bound': return `bind() gives the socket its address: ${ev.local ?? 'an IP and a port'}.`;
    case 'listening': return waiting(row, scene)
      ? 'The server is blocked in accept() until a client connects.'
      : 'listen(): the server\'s socket waits for clients; the backlog queues them.';
    case 'connected': return 'connect(): the client\'s socket, on an ephemeral port the OS picked, reaches the server.';
    case 'accepted': return 'accept() returns a new socket for this client; the listening socket keeps listening.';
    case 'sent': return udp
      ? 'sendto() sends one datagram, to the address given with it.'
      : 'send() hands the bytes to TCP; they arrive as a stream, not as messages.';
    case 'received': return udp
      ? 'recvfrom() returns one datagram and who sent it.'
      : 'recv() returns what has arrived so far, up to its buffer size.';
    case 'eof': return 'recv() returned 0 bytes: the peer closed its side, so the loop ends.';
    case 'shutdown': return 'shutdown(SHUT_WR): no more bytes from this side (a FIN); it can still receive.';
    case 'closed': return /reset/i.test(ev.message ?? '')
      ? 'The connection was reset (RST): closed with bytes unread, or refused.'
      : 'close() ends the socket; TCP sends FIN to the other side.';
    case 'stopped': return 'close(): the socket is closed, and its port is free again.';
    case 'dropped': return 'This datagram was lost: UDP does not send it again.';
    case 'duplicated': return 'This datagram arrives twice: UDP does not notice.';
    case 'reordered': return 'This datagram arrives after a later one: UDP keeps no order.';
    case 'step': return ev.how === 'self'
      ? `Lab step ${(ev.step ?? 0) + 1} is done: the student saw what it shows.`
      : `Lab step ${(ev.step ?? 0) + 1} is done: socketlab saw the event it expects.`;
    case 'refused': return 'The server is full: the connection is accepted and closed at once.';
    default: return '';
  }
}

/** Whether the listening socket of this row is waiting in accept() at the row shown. */
function waiting(row, scene) {
  return (scene?.waits ?? []).some((w) => w.lane === row.lane?.column && w.from === row.row && w.open);
}
