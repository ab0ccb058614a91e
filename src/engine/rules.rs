//! Reply rules (`options.rules` on servers): an ordered list of `{match, pattern, reply}`
//! tried on each message before the behavior; the first that matches replies, and the
//! behavior does not. A reply may say `{{peer}}`, `{{time}}`, `{{counter}}` (how many times
//! this rule has replied, this one included) and `{{match}}` (a regex's first group, or the
//! whole match). Pure: bytes in, reply out.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Rules a server may have.
pub const MAX_RULES: usize = 32;
/// The longest pattern, in bytes.
pub const MAX_PATTERN: usize = 1024;
/// The longest reply, in bytes.
pub const MAX_REPLY: usize = 64 * 1024;

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
    pub fn compile(specs: &[RuleSpec]) -> Result<Self, String> {
        if specs.len() > MAX_RULES {
            return Err(format!(
                "field options.rules: at most {MAX_RULES} rules, not {}",
                specs.len()
            ));
        }
        let mut rules = Vec::with_capacity(specs.len());
        for (i, s) in specs.iter().enumerate() {
            let field = |f: &str| format!("field options.rules[{i}].{f}");
            if s.pattern.is_empty() {
                return Err(format!("{}: give something to look for", field("pattern")));
            }
            if s.pattern.len() > MAX_PATTERN {
                return Err(format!("{}: at most {MAX_PATTERN} bytes", field("pattern")));
            }
            if s.reply.len() > MAX_REPLY {
                return Err(format!("{}: at most {MAX_REPLY} bytes", field("reply")));
            }
            let matcher = match s.kind.as_str() {
                "exact" => Matcher::Exact,
                "contains" => Matcher::Contains,
                "regex" => Matcher::Regex(regex_lite::Regex::new(&s.pattern).map_err(|e| {
                    format!(
                        "{}: not a regular expression ({}); write one like ^HELLO (\\\\w+)$",
                        field("pattern"),
                        e.to_string().lines().last().unwrap_or("invalid")
                    )
                })?),
                other => {
                    return Err(format!(
                        "{}: \"{other}\" is not a kind of match; use exact, contains or regex",
                        field("match")
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

    /// The reply of the first rule matching `msg` from `peer`, if one does. A reply to a
    /// message that ended with a newline ends with one too.
    pub fn reply(&self, msg: &[u8], peer: SocketAddr) -> Option<Vec<u8>> {
        let body = trimmed(msg);
        for rule in &self.rules {
            let matched: Option<String> = match &rule.matcher {
                Matcher::Exact => (body == rule.pattern.as_bytes()).then(|| rule.pattern.clone()),
                Matcher::Contains => body
                    .windows(rule.pattern.len())
                    .any(|w| w == rule.pattern.as_bytes())
                    .then(|| rule.pattern.clone()),
                Matcher::Regex(re) => {
                    let text = String::from_utf8_lossy(body);
                    re.captures(&text).map(|c| {
                        c.get(1)
                            .or_else(|| c.get(0))
                            .map_or(String::new(), |m| m.as_str().to_string())
                    })
                }
            };
            let Some(matched) = matched else { continue };
            let n = rule.replies.fetch_add(1, Ordering::Relaxed) + 1;
            let mut out = rule
                .reply
                .replace("{{peer}}", &peer.to_string())
                .replace(
                    "{{time}}",
                    &humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
                )
                .replace("{{counter}}", &n.to_string())
                .replace("{{match}}", &matched)
                .into_bytes();
            if msg.ends_with(b"\n") && !out.ends_with(b"\n") {
                out.push(b'\n');
            }
            return Some(out);
        }
        None
    }
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
        assert!(e.starts_with("field options.rules[1].pattern"), "{e}");
        let e = Rules::compile(&[rule("glob", "*", "x")]).unwrap_err();
        assert!(e.starts_with("field options.rules[0].match"), "{e}");
        let e = Rules::compile(&[rule("exact", "", "x")]).unwrap_err();
        assert!(e.contains("rules[0].pattern"), "{e}");
        let many: Vec<RuleSpec> = (0..33).map(|_| rule("exact", "a", "b")).collect();
        assert!(Rules::compile(&many).unwrap_err().contains("at most 32"));
    }
}
