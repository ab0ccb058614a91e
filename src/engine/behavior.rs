//! What a server does with what it receives: pure functions from bytes to replies, so they are
//! tested without sockets. The engines do the I/O.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use super::rules::Rules;

/// How long the rules may work on one `recv()` (or datagram). Checked between messages and
/// rules, so one regex call past it still finishes (the compiled-size and matched-prefix
/// bounds of `rules` keep that under two seconds); then the rest is left unanswered.
pub const MATCH_BUDGET: Duration = Duration::from_secs(1);

/// What a server does with one `recv()` (or datagram): what it sends back, and, for a chat
/// room, the messages it passes on to the others.
#[derive(Debug, Default)]
pub struct Response<'a> {
    /// The reply, if any; never longer than the limit [`Behavior::respond`] was given.
    pub reply: Option<Cow<'a, [u8]>>,
    /// Messages for the room.
    pub broadcast: Vec<Cow<'a, [u8]>>,
    /// The reply would have been longer than the limit and was cut there.
    pub cut: bool,
    /// The rules ran out of [`MATCH_BUDGET`]: messages from this many on got no answer.
    pub overtime: Option<usize>,
}

impl Response<'_> {
    /// The same response owning its bytes, to travel back from another thread.
    pub fn into_owned(self) -> Response<'static> {
        Response {
            reply: self.reply.map(|r| Cow::Owned(r.into_owned())),
            broadcast: self
                .broadcast
                .into_iter()
                .map(|b| Cow::Owned(b.into_owned()))
                .collect(),
            cut: self.cut,
            overtime: self.overtime,
        }
    }
}

/// `reply` cut to `limit` bytes, and whether it was cut.
fn within(reply: Option<Cow<'_, [u8]>>, limit: usize) -> (Option<Cow<'_, [u8]>>, bool) {
    match reply {
        Some(Cow::Borrowed(b)) if b.len() > limit => (Some(Cow::Borrowed(&b[..limit])), true),
        Some(Cow::Owned(mut b)) if b.len() > limit => {
            b.truncate(limit);
            (Some(Cow::Owned(b)), true)
        }
        r => (r, false),
    }
}

/// A server behavior from API.md's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Behavior {
    /// Nothing automatic; the user replies with `send`.
    Manual,
    /// Sends every received chunk (datagram) back.
    Echo,
    /// Sends back the received bytes upper-cased (ASCII).
    Uppercase,
    /// Replies the sum of `A,B`.
    Add,
    /// Sends a greeting on accept then closes (TCP); replies it to any datagram (UDP).
    Greet,
    /// Broadcasts each line to the other clients (TCP only).
    Chat,
    /// Receives and shows, never replies.
    Discard,
    /// Sends the time on accept then closes (TCP); replies it to any datagram (UDP).
    Daytime,
    /// Sends a file (`options.file`) to each client that connects, then closes (TCP).
    File,
    /// Keeps each connection's bytes as a file when its peer closes its side (TCP).
    Receive,
}

impl Behavior {
    /// Every behavior, in the order the docs list them.
    pub const ALL: [Behavior; 10] = [
        Self::Manual,
        Self::Echo,
        Self::Uppercase,
        Self::Add,
        Self::Greet,
        Self::Chat,
        Self::Discard,
        Self::Daytime,
        Self::File,
        Self::Receive,
    ];

    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Echo => "echo",
            Self::Uppercase => "uppercase",
            Self::Add => "add",
            Self::Greet => "greet",
            Self::Chat => "chat",
            Self::Discard => "discard",
            Self::Daytime => "daytime",
            Self::File => "file",
            Self::Receive => "receive",
        }
    }

    /// Parses a behavior name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.name() == s)
    }

    /// The reply to one received chunk or datagram, if any. `greeting` is for `greet`.
    ///
    /// `greet` and `daytime` reply here only over UDP: over TCP they speak on accept and
    /// close, see [`Behavior::on_accept`]. An echo borrows the data: no copy per message.
    pub fn reply<'a>(self, data: &'a [u8], greeting: &'a str) -> Option<Cow<'a, [u8]>> {
        match self {
            Self::Manual | Self::Discard | Self::Chat | Self::File | Self::Receive => None,
            Self::Echo => Some(Cow::Borrowed(data)),
            Self::Uppercase => Some(Cow::Owned(data.to_ascii_uppercase())),
            Self::Add => Some(Cow::Owned(add_reply(data))),
            Self::Greet => Some(Cow::Borrowed(greeting.as_bytes())),
            Self::Daytime => Some(Cow::Owned(daytime_line(SystemTime::now()).into_bytes())),
        }
    }

    /// [`Behavior::reply`], at most `limit` bytes of it (an `add` of many lines stops
    /// building there), and whether it was cut.
    pub fn reply_within<'a>(
        self,
        data: &'a [u8],
        greeting: &'a str,
        limit: usize,
    ) -> (Option<Cow<'a, [u8]>>, bool) {
        let reply = match self {
            Self::Add => Some(Cow::Owned(add_reply_within(data, limit))),
            _ => self.reply(data, greeting),
        };
        within(reply, limit)
    }

    /// What a server does with `data` from `peer`: reply rules first, message by message
    /// (the first matching rule answers and the behavior does not), then the behavior; a
    /// chat room broadcasts what no rule answered. The reply is at most `limit` bytes, and
    /// rules work on it for at most [`MATCH_BUDGET`].
    pub fn respond<'a>(
        self,
        rules: &Rules,
        data: &'a [u8],
        greeting: &'a str,
        peer: SocketAddr,
        limit: usize,
    ) -> Response<'a> {
        if rules.is_empty() {
            return match self {
                Self::Chat => Response {
                    broadcast: messages(data).map(Cow::Borrowed).collect(),
                    ..Response::default()
                },
                _ => {
                    let (reply, cut) = self.reply_within(data, greeting, limit);
                    Response {
                        reply,
                        cut,
                        ..Response::default()
                    }
                }
            };
        }
        let deadline = rules.has_regex().then(|| Instant::now() + MATCH_BUDGET);
        let mut reply: Vec<u8> = Vec::new();
        let mut out = Response::default();
        for (i, msg) in messages(data).enumerate() {
            let room = limit.saturating_sub(reply.len());
            let Ok(matched) = rules.reply_within(msg, peer, room, deadline) else {
                out.overtime = Some(i);
                break;
            };
            let cut = if let Some((r, cut)) = matched {
                reply.extend_from_slice(&r);
                cut
            } else if self == Self::Chat {
                out.broadcast.push(Cow::Borrowed(msg));
                false
            } else if let (Some(r), cut) = self.reply_within(msg, greeting, room) {
                reply.extend_from_slice(&r);
                cut
            } else {
                false
            };
            if cut {
                out.cut = true;
                break;
            }
        }
        out.reply = (!reply.is_empty()).then_some(Cow::Owned(reply));
        out
    }

    /// What a TCP server sends on accept, and whether it then closes the connection.
    pub fn on_accept(self, greeting: &str) -> Option<Vec<u8>> {
        match self {
            Self::Greet => Some(greeting.as_bytes().to_vec()),
            Self::Daytime => Some(daytime_line(SystemTime::now()).into_bytes()),
            _ => None,
        }
    }
}

/// The daytime protocol's line (RFC 867 leaves the format free): RFC 3339 UTC, CRLF.
pub fn daytime_line(now: SystemTime) -> String {
    format!("{}\r\n", humantime::format_rfc3339_seconds(now))
}

/// The messages in what one `recv()` returned, as the lecture's servers read them: the whole
/// chunk is one message, or, when it holds several newline-terminated lines, each line is
/// one. So the lecture's client (`sendall("hello")`, no newline) and `nc` (a line at a time)
/// both work. Every server behavior that acts per message (`add`, `chat`, reply rules) splits
/// here, and nowhere else.
pub fn messages(chunk: &[u8]) -> impl Iterator<Item = &[u8]> {
    chunk.split_inclusive(|&b| b == b'\n')
}

/// The `add` server's reply to what one `recv()` returned: the sum for `A,B`, or one line per
/// message when the chunk holds several newline-terminated lines; `error: ...` lines for junk.
///
/// A reply ends with a newline when its message did, so `50,40` gets `90` (as the lecture's
/// client expects) and `nc` users typing `50,40⏎` get `90⏎`.
pub fn add_reply(data: &[u8]) -> Vec<u8> {
    add_reply_within(data, usize::MAX)
}

/// [`add_reply`], built only until it reaches `limit` bytes (it may pass it by one line,
/// which the caller cuts): 256 KiB of empty lines would otherwise make 15 MB of errors.
pub fn add_reply_within(data: &[u8], limit: usize) -> Vec<u8> {
    let lines: Vec<&[u8]> = messages(data).collect();
    let mut out = Vec::new();
    for line in lines.iter().copied() {
        if out.len() > limit {
            break;
        }
        let terminated = line.ends_with(b"\n");
        match add_message(line) {
            Ok(sum) => {
                out.extend_from_slice(sum.as_bytes());
                if terminated {
                    out.push(b'\n');
                }
            }
            Err(why) => {
                out.extend_from_slice(b"error: ");
                out.extend_from_slice(why.as_bytes());
                out.push(b'\n');
            }
        }
    }
    if lines.is_empty() {
        out.extend_from_slice(b"error: empty message; send two integers like 50,40\n");
    }
    out
}

/// Sums one `A,B` message (surrounding whitespace allowed), or says what is wrong with it.
/// Integers may be arbitrarily large, as in Python.
pub fn add_message(msg: &[u8]) -> Result<String, String> {
    let Ok(text) = std::str::from_utf8(msg) else {
        return Err("message is not text (not valid UTF-8); send two integers like 50,40".into());
    };
    let text = text.trim();
    if text.is_empty() {
        return Err("empty message; send two integers like 50,40".into());
    }
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if parts.len() != 2 {
        return Err(format!(
            "expected two integers separated by a comma, like 50,40; got {} part{}",
            parts.len(),
            if parts.len() == 1 { "" } else { "s" }
        ));
    }
    let a = parse_int(parts[0])?;
    let b = parse_int(parts[1])?;
    Ok(add_signed(&a, &b).to_string())
}

/// A signed integer as decimal digits, most significant first, without leading zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BigInt {
    negative: bool,
    digits: Vec<u8>,
}

impl std::fmt::Display for BigInt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        for d in &self.digits {
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

fn parse_int(s: &str) -> Result<BigInt, String> {
    let shown: String = s.chars().take(40).collect();
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        let what = if s.is_empty() {
            "an empty part".to_string()
        } else {
            format!("\"{shown}\"")
        };
        return Err(format!(
            "{what} is not an integer; send two integers like 50,40"
        ));
    }
    let digits: Vec<u8> = body
        .bytes()
        .skip_while(|&b| b == b'0')
        .map(|b| b - b'0')
        .collect();
    let digits = if digits.is_empty() { vec![0] } else { digits };
    let negative = negative && digits != [0];
    Ok(BigInt { negative, digits })
}

fn cmp_mag(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn add_mag(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
    let (mut i, mut j, mut carry) = (a.len(), b.len(), 0u8);
    while i > 0 || j > 0 || carry > 0 {
        let mut s = carry;
        if i > 0 {
            i -= 1;
            s += a[i];
        }
        if j > 0 {
            j -= 1;
            s += b[j];
        }
        out.push(s % 10);
        carry = s / 10;
    }
    out.reverse();
    out
}

/// `a - b` for magnitudes with `a >= b`.
fn sub_mag(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len());
    let (mut i, mut j, mut borrow) = (a.len(), b.len(), 0i8);
    while i > 0 {
        i -= 1;
        let mut d = a[i] as i8 - borrow;
        if j > 0 {
            j -= 1;
            d -= b[j] as i8;
        }
        borrow = if d < 0 { 1 } else { 0 };
        out.push((d + 10 * borrow) as u8);
    }
    while out.len() > 1 && out.last() == Some(&0) {
        out.pop();
    }
    out.reverse();
    out
}

fn add_signed(a: &BigInt, b: &BigInt) -> BigInt {
    if a.negative == b.negative {
        return BigInt {
            negative: a.negative,
            digits: add_mag(&a.digits, &b.digits),
        };
    }
    let (big, small) = if cmp_mag(&a.digits, &b.digits).is_lt() {
        (b, a)
    } else {
        (a, b)
    };
    let digits = sub_mag(&big.digits, &small.digits);
    let negative = big.negative && digits != [0];
    BigInt { negative, digits }
}

#[cfg(test)]
#[path = "behavior_tests.rs"]
mod tests;
