//! Reply rules (`options.rules` on servers): an ordered list of `{match, pattern, reply}`
//! tried on each message before the behavior; the first that matches replies, and the
//! behavior does not. A reply may say `{{peer}}`, `{{time}}`, `{{counter}}` (how many times
//! this rule has replied, this one included) and `{{match}}` (a regex's first group, or the
//! whole match). Pure: bytes in, reply out.
//!
//! Bounds, so no rule can cost the class its server: a pattern is at most [`MAX_PATTERN`]
//! bytes and compiles to at most [`MAX_COMPILED`] (the `regex-lite` engine matches in time
//! linear in the text, times the compiled size); a regex sees at most the first
//! [`MAX_MATCHED`] bytes of a message; a reply is expanded only up to the limit its caller
//! gives (a `{{match}}` of 256 KiB repeated a thousand times stops at the limit, it is never
//! built whole). Rules with a regex run off the async workers (see `engine::pool`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Rules a server may have.
pub const MAX_RULES: usize = 32;
/// The longest pattern, in bytes.
pub const MAX_PATTERN: usize = 1024;
/// The longest reply, in bytes.
pub const MAX_REPLY: usize = 64 * 1024;
/// The most one compiled regex may take (the `regex-lite` size limit).
pub const MAX_COMPILED: usize = 1 << 20;
/// How deep a regex's groups may nest.
const MAX_NEST: u32 = 64;
/// How much of a message a regex looks at: its first 8 KiB. Rules are for the short text
/// messages of the lecture's protocols; this keeps the worst match of the largest regex
/// to a fraction of a second.
pub const MAX_MATCHED: usize = 8 * 1024;

/// One rule as the user writes it (and as the engine shows it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// `exact`, `contains` or `regex`.
    #[serde(rename = "match")]
    pub kind: String,
    /// What to look for.
    pub pattern: String,
    /// What to send back.
    pub reply: String,
}

#[derive(Debug)]
enum Matcher {
    Exact,
    Contains,
    Regex(regex_lite::Regex),
}

#[derive(Debug)]
struct Rule {
    matcher: Matcher,
    pattern: String,
    reply: String,
    replies: AtomicU64,
}

/// A server's rules, checked and compiled.
#[derive(Debug, Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

/// A message without its line ending, so `nc`'s `ping⏎` matches the pattern `ping`.
fn trimmed(msg: &[u8]) -> &[u8] {
    let msg = msg.strip_suffix(b"\n").unwrap_or(msg);
    msg.strip_suffix(b"\r").unwrap_or(msg)
}

impl Rules {
    /// Checks and compiles rules; an error names the rule and field (`options.rules[2].pattern`).
    pub fn compile(specs: &[RuleSpec]) -> Result<Self, ApiError> {
        if specs.len() > MAX_RULES {
            return Err(ApiError::bad_field(
                "options.rules",
                format!("at most {MAX_RULES} rules, not {}", specs.len()),
            ));
        }
        let mut rules = Vec::with_capacity(specs.len());
        for (i, s) in specs.iter().enumerate() {
            let field = |f: &str| format!("options.rules[{i}].{f}");
            if s.pattern.is_empty() {
                return Err(ApiError::bad_field(
                    field("pattern"),
                    "give something to look for",
                ));
            }
            if s.pattern.len() > MAX_PATTERN {
                return Err(ApiError::bad_field(
                    field("pattern"),
                    format!("at most {MAX_PATTERN} bytes"),
                ));
            }
            if s.reply.len() > MAX_REPLY {
                return Err(ApiError::bad_field(
                    field("reply"),
                    format!("at most {MAX_REPLY} bytes"),
                ));
            }
            let matcher = match s.kind.as_str() {
                "exact" => Matcher::Exact,
                "contains" => Matcher::Contains,
                "regex" => Matcher::Regex(
                    regex_lite::RegexBuilder::new(&s.pattern)
                        .size_limit(MAX_COMPILED)
                        .nest_limit(MAX_NEST)
                        .build()
                        .map_err(|e| {
                            let why = e.to_string();
                            let why = if why.contains("size limit") {
                                format!(
                                    "this regular expression compiles to more than {MAX_COMPILED} bytes (a repetition like {{1000}} of a group multiplies it); write a smaller one"
                                )
                            } else {
                                format!(
                                    "not a regular expression ({}); write one like ^HELLO (\\\\w+)$",
                                    why.lines().last().unwrap_or("invalid")
                                )
                            };
                            ApiError::bad_field(field("pattern"), why)
                        })?,
                ),
                other => {
                    return Err(ApiError::bad_field(
                        field("match"),
                        format!("\"{other}\" is not a kind of match; use exact, contains or regex"),
                    ));
                }
            };
            rules.push(Rule {
                matcher,
                pattern: s.pattern.clone(),
                reply: s.reply.clone(),
                replies: AtomicU64::new(0),
            });
        }
        Ok(Self { rules })
    }

    /// Whether there are any.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether any rule is a regex: those run off the async workers.
    pub fn has_regex(&self) -> bool {
        self.rules
            .iter()
            .any(|r| matches!(r.matcher, Matcher::Regex(_)))
    }

    /// The reply of the first rule matching `msg` from `peer`, if one does. A reply to a
    /// message that ended with a newline ends with one too.
    pub fn reply(&self, msg: &[u8], peer: SocketAddr) -> Option<Vec<u8>> {
        self.reply_within(msg, peer, usize::MAX, None)
            .ok()
            .flatten()
            .map(|(r, _)| r)
    }

    /// [`Rules::reply`], at most `limit` bytes of it: the reply, and whether it was cut. Past
    /// `deadline` (checked before each rule) it gives up: `Err(OutOfTime)`.
    pub fn reply_within(
        &self,
        msg: &[u8],
        peer: SocketAddr,
        limit: usize,
        deadline: Option<Instant>,
    ) -> Result<Option<(Vec<u8>, bool)>, OutOfTime> {
        let body = trimmed(msg);
        for rule in &self.rules {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(OutOfTime);
            }
            let matched: Option<String> = match &rule.matcher {
                Matcher::Exact => (body == rule.pattern.as_bytes()).then(|| rule.pattern.clone()),
                Matcher::Contains => memchr::memmem::find(body, rule.pattern.as_bytes())
                    .map(|_| rule.pattern.clone()),
                Matcher::Regex(re) => {
                    let seen = &body[..body.len().min(MAX_MATCHED)];
                    let text = String::from_utf8_lossy(seen);
                    re.captures(&text).map(|c| {
                        c.get(1)
                            .or_else(|| c.get(0))
                            .map_or(String::new(), |m| m.as_str().to_string())
                    })
                }
            };
            let Some(matched) = matched else { continue };
            let n = rule.replies.fetch_add(1, Ordering::Relaxed) + 1;
            let vars = Vars {
                peer: &peer.to_string(),
                time: &humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
                counter: &n.to_string(),
                matched: &matched,
            };
            let (mut out, mut cut) = expand(&rule.reply, &vars, limit);
            if msg.ends_with(b"\n") && !out.ends_with(b"\n") {
                if out.len() < limit {
                    out.push(b'\n');
                } else {
                    cut = true;
                }
            }
            return Ok(Some((out, cut)));
        }
        Ok(None)
    }
}

/// The rules' time budget ran out before every rule was tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfTime;

/// What a reply's placeholders stand for.
struct Vars<'a> {
    peer: &'a str,
    time: &'a str,
    counter: &'a str,
    matched: &'a str,
}

/// `template` with its `{{peer}}`, `{{time}}`, `{{counter}}` and `{{match}}` filled in, in
/// one pass (what is filled in is never expanded again), at most `limit` bytes of it; and
/// whether it was cut there.
fn expand(template: &str, vars: &Vars<'_>, limit: usize) -> (Vec<u8>, bool) {
    let mut out: Vec<u8> = Vec::with_capacity(template.len().min(limit));
    let push = |piece: &str, out: &mut Vec<u8>| -> bool {
        let room = limit - out.len();
        if piece.len() > room {
            out.extend_from_slice(&piece.as_bytes()[..room]);
            return false;
        }
        out.extend_from_slice(piece.as_bytes());
        true
    };
    let mut rest = template;
    while let Some(at) = rest.find("{{") {
        if !push(&rest[..at], &mut out) {
            return (out, true);
        }
        let after = &rest[at..];
        let (value, len) = [
            ("{{peer}}", vars.peer),
            ("{{time}}", vars.time),
            ("{{counter}}", vars.counter),
            ("{{match}}", vars.matched),
        ]
        .iter()
        .find(|(name, _)| after.starts_with(name))
        .map_or(("{{", 2), |(name, value)| (*value, name.len()));
        if !push(value, &mut out) {
            return (out, true);
        }
        rest = &after[len..];
    }
    let whole = push(rest, &mut out);
    (out, !whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(kind: &str, pattern: &str, reply: &str) -> RuleSpec {
        RuleSpec {
            kind: kind.into(),
            pattern: pattern.into(),
            reply: reply.into(),
        }
    }

    fn peer() -> SocketAddr {
        "127.0.0.1:5555".parse().unwrap()
    }

    #[test]
    fn each_kind_matches_and_the_first_wins() {
        let r = Rules::compile(&[
            rule("exact", "ping", "pong #{{counter}}"),
            rule("regex", r"^HELLO (\w+)$", "hi {{match}}, you are {{peer}}"),
            rule("contains", "help", "try ping"),
            rule("contains", "ping", "never: the exact rule is first"),
        ])
        .unwrap();
        assert_eq!(r.reply(b"ping", peer()).unwrap(), b"pong #1");
        assert_eq!(r.reply(b"ping\r\n", peer()).unwrap(), b"pong #2\n");
        assert_eq!(
            r.reply(b"HELLO ada", peer()).unwrap(),
            b"hi ada, you are 127.0.0.1:5555"
        );
        assert_eq!(
            r.reply(b"can you help me\n", peer()).unwrap(),
            b"try ping\n"
        );
        assert_eq!(
            r.reply(b"pingpong", peer()).unwrap(),
            b"never: the exact rule is first"
        );
        assert!(r.reply(b"nothing", peer()).is_none());
        let t = Rules::compile(&[rule("contains", "time", "it is {{time}}")]).unwrap();
        let said = String::from_utf8(t.reply(b"time?", peer()).unwrap()).unwrap();
        assert!(
            said.starts_with("it is 20") && said.ends_with('Z'),
            "{said}"
        );
        let whole = Rules::compile(&[rule("regex", r"\d+", "number {{match}}")]).unwrap();
        assert_eq!(whole.reply(b"abc 42 def", peer()).unwrap(), b"number 42");
    }

    #[test]
    fn bad_rules_are_named_by_their_index() {
        let e = Rules::compile(&[rule("exact", "a", "b"), rule("regex", "(unclosed", "x")])
            .unwrap_err();
        assert_eq!(e.field(), Some("options.rules[1].pattern"), "{e}");
        assert!(
            e.message().starts_with("field options.rules[1].pattern"),
            "{e}"
        );
        let e = Rules::compile(&[rule("glob", "*", "x")]).unwrap_err();
        assert_eq!(e.field(), Some("options.rules[0].match"), "{e}");
        let e = Rules::compile(&[rule("exact", "", "x")]).unwrap_err();
        assert_eq!(e.field(), Some("options.rules[0].pattern"), "{e}");
        let many: Vec<RuleSpec> = (0..33).map(|_| rule("exact", "a", "b")).collect();
        assert!(
            Rules::compile(&many)
                .unwrap_err()
                .message()
                .contains("at most 32")
        );
        // A small pattern that compiles to something huge is refused by its compiled size.
        let e = Rules::compile(&[rule("regex", "(.*){10000}Q", "x")]).unwrap_err();
        assert!(
            e.field() == Some("options.rules[0].pattern")
                && e.message().contains("compiles to more"),
            "{e}"
        );
        let e = Rules::compile(&[rule("regex", &"(".repeat(100), "x")]).unwrap_err();
        assert_eq!(e.field(), Some("options.rules[0].pattern"), "{e}");
    }

    #[test]
    fn a_reply_is_never_built_past_its_limit() {
        let r = Rules::compile(&[rule("regex", "(.*)", &"{{match}}".repeat(7000))]).unwrap();
        assert!(r.has_regex());
        let msg = vec![b'a'; 200_000];
        let (out, cut) = r
            .reply_within(&msg, peer(), 100_000, None)
            .unwrap()
            .unwrap();
        assert!(cut);
        assert_eq!(out.len(), 100_000);
        // Only the first 8 KiB of a message is matched.
        assert!(out.iter().all(|&b| b == b'a'));
        let (one, cut) = Rules::compile(&[rule("regex", "(.*)", "<{{match}}>")])
            .unwrap()
            .reply_within(&msg, peer(), usize::MAX, None)
            .unwrap()
            .unwrap();
        assert!(!cut);
        assert_eq!(one.len(), MAX_MATCHED + 2);
        // Placeholders are filled in once: a match that spells one is not expanded again.
        let r = Rules::compile(&[rule("regex", "(.*)", "{{match}} {{ {{counter}}")]).unwrap();
        assert_eq!(r.reply(b"{{peer}}", peer()).unwrap(), b"{{peer}} {{ 1");
        let (cut_line, cut) = Rules::compile(&[rule("exact", "x", "abc")])
            .unwrap()
            .reply_within(b"x\n", peer(), 3, None)
            .unwrap()
            .unwrap();
        assert_eq!((cut_line.as_slice(), cut), (&b"abc"[..], true));
    }
}
