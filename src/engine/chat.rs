//! The chat room of a `chat` server: who is in it, and broadcast between them, a message at a
//! time (see [`super::behavior::messages`]). No sockets here: members are reached through
//! their connection's command queue.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};

use axum::body::Bytes;

use super::Outbox;
use crate::ids::ConnId;

struct Member {
    peer: SocketAddr,
    out: Outbox,
}

/// The members of one chat server, by connection.
#[derive(Default)]
pub struct Room {
    // std Mutex: held only to copy out the member list, never across an `.await`.
    members: Mutex<BTreeMap<ConnId, Member>>,
}

/// A line that could not be queued for a member whose outbox is full (it is not reading).
#[derive(Debug, PartialEq, Eq)]
pub struct Dropped {
    /// The member's connection id.
    pub conn: ConnId,
}

impl Room {
    /// An empty room.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<ConnId, Member>> {
        self.members.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many are in the room.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the room is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a member, welcomes it, and announces it to the others.
    pub fn join(&self, num: ConnId, peer: SocketAddr, out: Outbox) -> Vec<Dropped> {
        let n = {
            let mut m = self.lock();
            m.insert(num, Member { peer, out });
            m.len()
        };
        let mut dropped = self.send_to(
            |k| k == num,
            format!("*** welcome {peer}; {n} online\n").into_bytes(),
        );
        dropped.extend(self.send_to(
            |k| k != num,
            format!("*** {peer} joined ({n} online)\n").into_bytes(),
        ));
        dropped
    }

    /// Removes a member and announces it to the others.
    pub fn leave(&self, num: ConnId) -> Vec<Dropped> {
        let (peer, n) = {
            let mut m = self.lock();
            let Some(gone) = m.remove(&num) else {
                return Vec::new();
            };
            (gone.peer, m.len())
        };
        self.send_to(
            |_| true,
            format!("*** {peer} left ({n} online)\n").into_bytes(),
        )
    }

    /// Sends one member's message to every other member, prefixed with its `ip:port` and
    /// ended with a newline (a message sent without one, as the lecture's client does, still
    /// reaches the others as a line).
    pub fn say(&self, from: ConnId, line: &[u8]) -> Vec<Dropped> {
        let Some(peer) = self.lock().get(&from).map(|m| m.peer) else {
            return Vec::new();
        };
        let mut msg = format!("{peer}: ").into_bytes();
        msg.extend_from_slice(line);
        if !msg.ends_with(b"\n") {
            msg.push(b'\n');
        }
        self.send_to(|k| k != from, msg)
    }

    fn send_to(&self, pick: impl Fn(ConnId) -> bool, msg: Vec<u8>) -> Vec<Dropped> {
        let data = Bytes::from(msg);
        let targets: Vec<(ConnId, Outbox)> = self
            .lock()
            .iter()
            .filter(|(k, _)| pick(**k))
            .map(|(k, m)| (*k, m.out.clone()))
            .collect();
        let mut dropped = Vec::new();
        for (id, out) in targets {
            // try_send: one member that does not read must not stall the room.
            if !out.try_send(data.clone()) {
                dropped.push(Dropped { conn: id });
            }
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ConnCmd;
    use tokio::sync::mpsc;

    fn channel(commands: usize) -> (Outbox, mpsc::Receiver<ConnCmd>) {
        Outbox::new(commands, 1 << 20)
    }

    fn text(cmd: ConnCmd) -> String {
        let ConnCmd::Send { data, .. } = cmd;
        String::from_utf8(data.to_vec()).unwrap()
    }

    #[test]
    fn a_message_without_a_newline_reaches_the_others_as_a_line() {
        let room = Room::new();
        let (t1, _r1) = channel(8);
        let (t2, mut r2) = channel(8);
        let p1: SocketAddr = "127.0.0.1:1001".parse().unwrap();
        room.join(ConnId::new(1), p1, t1);
        room.join(ConnId::new(2), "127.0.0.1:1002".parse().unwrap(), t2);
        while r2.try_recv().is_ok() {}
        room.say(ConnId::new(1), b"hello");
        assert_eq!(text(r2.try_recv().unwrap()), "127.0.0.1:1001: hello\n");
    }

    #[test]
    fn room_broadcasts_to_others_only() {
        let room = Room::new();
        let (t1, mut r1) = channel(8);
        let (t2, mut r2) = channel(8);
        let p1: SocketAddr = "127.0.0.1:1001".parse().unwrap();
        let p2: SocketAddr = "127.0.0.1:1002".parse().unwrap();
        room.join(ConnId::new(1), p1, t1);
        assert_eq!(
            text(r1.try_recv().unwrap()),
            "*** welcome 127.0.0.1:1001; 1 online\n"
        );
        room.join(ConnId::new(2), p2, t2);
        assert_eq!(
            text(r2.try_recv().unwrap()),
            "*** welcome 127.0.0.1:1002; 2 online\n"
        );
        assert_eq!(
            text(r1.try_recv().unwrap()),
            "*** 127.0.0.1:1002 joined (2 online)\n"
        );
        room.say(ConnId::new(1), b"hi\n");
        assert_eq!(text(r2.try_recv().unwrap()), "127.0.0.1:1001: hi\n");
        assert!(r1.try_recv().is_err(), "the sender gets no copy");
        room.leave(ConnId::new(2));
        assert_eq!(
            text(r1.try_recv().unwrap()),
            "*** 127.0.0.1:1002 left (1 online)\n"
        );
        assert_eq!(room.len(), 1);
    }

    #[test]
    fn an_outbox_holds_so_many_bytes_and_no_more() {
        let room = Room::new();
        let (t1, mut r1) = Outbox::new(256, 100);
        let (t2, mut r2) = channel(8);
        room.join(ConnId::new(1), "127.0.0.1:1".parse().unwrap(), t1);
        room.join(ConnId::new(2), "127.0.0.1:2".parse().unwrap(), t2);
        // The welcome and the join notice are written (dropped here), giving back their place.
        while r1.try_recv().is_ok() {}
        while r2.try_recv().is_ok() {}
        // A line of 84 bytes ("127.0.0.1:2: ", 70, "\n") fits in 100; a second does not,
        // until the first is written.
        assert!(room.say(ConnId::new(2), &[b'x'; 70]).is_empty());
        assert_eq!(
            room.say(ConnId::new(2), &[b'y'; 70]),
            vec![Dropped {
                conn: ConnId::new(1)
            }]
        );
        let first = r1.try_recv().unwrap();
        drop(first);
        assert!(
            room.say(ConnId::new(2), &[b'z'; 70]).is_empty(),
            "its place came back"
        );
        assert_eq!(
            room.say(ConnId::new(2), &[b'w'; 200]),
            vec![Dropped {
                conn: ConnId::new(1)
            }],
            "larger than the whole outbox"
        );
    }

    #[test]
    fn a_full_queue_drops_for_that_member_only() {
        let room = Room::new();
        let (t1, _r1) = channel(1);
        let (t2, mut r2) = channel(8);
        room.join(ConnId::new(1), "127.0.0.1:1".parse().unwrap(), t1);
        room.join(ConnId::new(2), "127.0.0.1:2".parse().unwrap(), t2);
        while r2.try_recv().is_ok() {}
        let dropped = room.say(ConnId::new(2), b"x\n");
        assert_eq!(
            dropped,
            vec![Dropped {
                conn: ConnId::new(1)
            }]
        );
        let dropped = room.say(ConnId::new(1), b"y\n");
        assert!(dropped.is_empty());
        assert_eq!(text(r2.try_recv().unwrap()), "127.0.0.1:1: y\n");
    }
}
