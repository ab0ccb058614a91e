//! Ids as the API writes them (`e7`, `c12`, `f3`, `l2`), parsed once, strictly, here: a
//! letter, then a number without sign, leading zero or anything after it. Everywhere else
//! holds the typed id, so no other code cuts a prefix off a string.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A string that is not an id of the kind asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadId {
    /// What kind of id was expected (`an engine id`).
    pub what: &'static str,
    /// An example of one (`e7`).
    pub example: &'static str,
}

impl fmt::Display for BadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not {} like {}", self.what, self.example)
    }
}

impl std::error::Error for BadId {}

/// The number after `prefix`: 1 or more, in decimal, no sign, no leading zero.
fn number(s: &str, prefix: char, max: u64) -> Option<u64> {
    let digits = s.strip_prefix(prefix)?;
    let well_formed = !digits.is_empty()
        && digits.len() <= 20
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    let n: u64 = digits.parse().ok().filter(|_| well_formed)?;
    (n <= max).then_some(n)
}

/// An id a request names: parsed strictly, and what to say when it names nothing.
pub trait Named: FromStr<Err = BadId> + Copy + Send + 'static {
    /// What a `404` says when `shown` (well formed or not) names none.
    fn missing(shown: &str) -> String;
}

/// What a `404` says of an id that names nothing: `no engine e9; GET /api/engines lists
/// the engines there are` (`shown` cut to 40 characters: it may be anything a client sent).
fn missing(noun: &str, shown: &str, list: &str) -> String {
    let shown: String = shown.chars().take(40).collect();
    format!("no {noun} {shown}; {list}")
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $int:ty, $what:literal, $example:literal,
     $noun:literal, $list:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name($int);

        impl $name {
            /// The id with this number (1 or more).
            pub fn new(n: $int) -> Self {
                Self(n)
            }

            /// Its number: the digits after the letter.
            pub fn number(self) -> $int {
                self.0
            }

        }

        impl Named for $name {
            fn missing(shown: &str) -> String {
                missing($noun, shown, $list)
            }
        }

        impl FromStr for $name {
            type Err = BadId;

            fn from_str(s: &str) -> Result<Self, BadId> {
                number(s, $prefix, <$int>::MAX as u64)
                    .map(|n| Self(n as $int))
                    .ok_or(BadId {
                        what: $what,
                        example: $example,
                    })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                id_schema($prefix, $example)
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

/// An id's schema in the API's document: its letter and digits.
fn id_schema(
    prefix: char,
    example: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(format!("^{prefix}[0-9]+$")))
        .examples([serde_json::Value::from(example)])
        .into()
}

id_type!(
    /// An engine: `e7`.
    EngineId, 'e', u32, "an engine id", "e7", "engine",
    "GET /api/engines lists the engines there are"
);
id_type!(
    /// A file kept in a workspace: `f3`.
    FileId, 'f', u64, "a file id", "f3", "file",
    "GET /api/files lists the files there are"
);
id_type!(
    /// A saved lab: `l2`.
    LabId, 'l', u64, "a lab id", "l2", "lab",
    "GET /api/labs lists the built-in ones and those saved here"
);

/// Which side of a proxied pair: the client's connection to the proxy, or the proxy's
/// connection to the server. Both are one connection id to a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Leg {
    /// The client's side.
    Client,
    /// The server's side.
    Server,
}

impl Leg {
    /// `client` or `server`, as events name it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Server => "server",
        }
    }
}

/// A connection: `c12`, and for a proxy's pair, which leg of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    num: u32,
    leg: Option<Leg>,
}

/// The highest connection number: the top bit of a [`ConnId::key`] is the server leg's.
pub const MAX_CONN: u32 = (1 << 31) - 1;
const SERVER_BIT: u32 = 1 << 31;

impl ConnId {
    /// Connection `num` (1 to [`MAX_CONN`]), not of a proxy.
    pub fn new(num: u32) -> Self {
        Self {
            num: num & MAX_CONN,
            leg: None,
        }
    }

    /// The same connection's `leg` (a proxy's pair).
    pub fn leg(self, leg: Leg) -> Self {
        Self {
            leg: Some(leg),
            ..self
        }
    }

    /// The pair it is a leg of (both legs are one connection to a reader).
    pub fn pair(self) -> Self {
        Self::new(self.num)
    }

    /// Its number: both legs of a pair have the same.
    pub fn number(self) -> u32 {
        self.num
    }

    /// Its leg, for a proxy's pair.
    pub fn which_leg(self) -> Option<Leg> {
        self.leg
    }

    /// One number for each leg's own addresses (the capture's connection table): the
    /// server leg's has the top bit.
    pub fn key(self) -> u32 {
        match self.leg {
            Some(Leg::Server) => self.num | SERVER_BIT,
            _ => self.num,
        }
    }

    /// The connection of a [`ConnId::key`], with the leg `leg` said apart (a client leg and
    /// a plain connection share a key).
    pub fn from_key(key: u32, leg: Option<Leg>) -> Self {
        Self {
            num: key & MAX_CONN,
            leg,
        }
    }
}

impl Named for ConnId {
    fn missing(shown: &str) -> String {
        missing(
            "connection",
            shown,
            "GET /api/engines/ID lists the engine's open connections",
        )
    }
}

impl FromStr for ConnId {
    type Err = BadId;

    /// `c12` (a reader names the pair, not a leg).
    fn from_str(s: &str) -> Result<Self, BadId> {
        number(s, 'c', u64::from(MAX_CONN))
            .map(|n| Self::new(n as u32))
            .ok_or(BadId {
                what: "a connection id",
                example: "c12",
            })
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.num)
    }
}

impl Serialize for ConnId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ConnId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for ConnId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        id_schema('c', "c12")
    }
}

impl utoipa::ToSchema for ConnId {}

/// Which connections of an engine a send goes to: one, or `*` for all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnPick {
    /// `*`.
    All,
    /// `c12`.
    One(ConnId),
}

impl<'de> Deserialize<'de> for ConnPick {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if s == "*" {
            return Ok(Self::All);
        }
        s.parse()
            .map(Self::One)
            .map_err(|e: BadId| serde::de::Error::custom(format!("{e}, or \"*\" for all")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_strictly_and_print_back() {
        assert_eq!("e7".parse::<EngineId>().unwrap().number(), 7);
        assert_eq!("f42".parse::<FileId>().unwrap().to_string(), "f42");
        assert_eq!("l1".parse::<LabId>().unwrap(), LabId::new(1));
        assert_eq!("c12".parse::<ConnId>().unwrap().number(), 12);
        for bad in [
            "",
            "e",
            "e0",
            "e07",
            "e+7",
            "e-7",
            "E7",
            " e7",
            "e7 ",
            "e7x",
            "f7",
            "e4294967296",
            "e1٣",
            "e99999999999999999999999",
        ] {
            assert!(bad.parse::<EngineId>().is_err(), "{bad:?}");
        }
        assert!("c2147483648".parse::<ConnId>().is_err(), "past the leg bit");
        let e = "x1".parse::<LabId>().unwrap_err();
        assert_eq!(e.to_string(), "not a lab id like l2");
        assert_eq!(
            EngineId::missing(&"x".repeat(100)),
            format!(
                "no engine {}; GET /api/engines lists the engines there are",
                "x".repeat(40)
            )
        );
    }

    #[test]
    fn a_pairs_legs_are_one_id_with_two_keys() {
        let c = ConnId::new(9);
        let (client, server) = (c.leg(Leg::Client), c.leg(Leg::Server));
        assert_eq!(
            (client.to_string(), server.to_string()),
            ("c9".into(), "c9".into())
        );
        assert_ne!(client.key(), server.key());
        assert_eq!(ConnId::from_key(server.key(), Some(Leg::Server)), server);
        assert_eq!(ConnId::from_key(c.key(), None), c);
    }

    #[test]
    fn ids_are_json_strings_both_ways() {
        let id: FileId = serde_json::from_str("\"f3\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"f3\"");
        assert!(serde_json::from_str::<FileId>("\"f03\"").is_err());
        assert!(serde_json::from_str::<FileId>("3").is_err());
    }
}
