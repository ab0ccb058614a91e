//! Property tests of everything that parses what users or peers send: EngineSpec JSON,
//! `host:port`, hex, base64, the `add` protocol, chat line splitting, and Host headers.
//! None may panic, whatever the input; the ones with an inverse must round-trip.

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::addr::parse_host_port;
use crate::codec::{decode, decode_base64, decode_hex};
use crate::engine::behavior::{add_message, add_reply};
use crate::engine::spec::EngineSpec;
use crate::error::ErrorKind;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
        prop::sample::select(vec![
            "tcp-server",
            "tcp-client",
            "udp-server",
            "udp-client",
            "echo",
            "chat",
            "greet",
            "127.0.0.1:0",
            "[::1]:0",
            "localhost:1",
            "127.0.0.1:99999"
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "kind",
                    "bind",
                    "target",
                    "behavior",
                    "name",
                    "options",
                    "recv_size",
                    "backlog",
                    "max_clients",
                    "greeting",
                    "x"
                ])
                .prop_map(String::from),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn spec_like() -> impl Strategy<Value = Value> {
    (json_value(), json_value(), json_value(), json_value(), json_value()).prop_map(|(k, b, t, beh, o)| {
        json!({"kind": k, "bind": b, "target": t, "behavior": beh, "options": o})
    })
}

proptest! {
    #[test]
    fn engine_spec_never_panics_on_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = EngineSpec::from_json(&body);
    }

    #[test]
    fn engine_spec_never_panics_on_json(v in prop_oneof![json_value(), spec_like()]) {
        let body = serde_json::to_vec(&v).unwrap();
        match EngineSpec::from_json(&body) {
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::InvalidSpec | ErrorKind::InvalidAddress) => {}
            Err(other) => prop_assert!(false, "unexpected error kind {other:?}"),
        }
    }

    #[test]
    fn host_port_never_panics(s in ".{0,64}") {
        let _ = parse_host_port("bind", &s);
    }

    #[test]
    fn host_port_round_trips(ip in any::<std::net::IpAddr>(), port in any::<u16>()) {
        let text = std::net::SocketAddr::new(ip, port).to_string();
        let hp = parse_host_port("bind", &text).unwrap();
        prop_assert_eq!(hp.port, port);
        prop_assert_eq!(hp.host.parse::<std::net::IpAddr>().unwrap(), ip);
    }

    #[test]
    fn hex_never_panics(s in ".{0,64}") {
        let _ = decode_hex(&s);
        let _ = decode(Some("hex"), &s);
    }

    #[test]
    fn hex_round_trips_with_any_separators(bytes in prop::collection::vec(any::<u8>(), 0..64), sep in prop::sample::select(vec!["", " ", ":", ",", "-", "\n", " 0x"])) {
        let text: Vec<String> = bytes.iter().map(|b| format!("{b:02X}")).collect();
        let joined = if sep == " 0x" { text.iter().map(|t| format!("0x{t}")).collect::<Vec<_>>().join(" ") } else { text.join(sep) };
        prop_assert_eq!(decode_hex(&joined).unwrap(), bytes);
    }

    #[test]
    fn base64_never_panics_and_round_trips(s in ".{0,64}", bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode_base64(&s);
        use base64::Engine as _;
        let enc = base64::engine::general_purpose::STANDARD.encode(&bytes);
        prop_assert_eq!(decode_base64(&enc).unwrap(), bytes);
    }

    #[test]
    fn add_never_panics_and_answers_every_line(data in prop::collection::vec(any::<u8>(), 0..256)) {
        let reply = add_reply(&data);
        prop_assert!(!reply.is_empty());
        let lines = data.split_inclusive(|&b| b == b'\n').count().max(1);
        let errors = reply.windows(7).filter(|w| w == b"error: ").count();
        prop_assert!(errors <= lines);
    }

    #[test]
    fn add_sums_like_integers(a in any::<i64>(), b in any::<i64>(), pad in "[ \t]{0,2}") {
        let msg = format!("{pad}{a}{pad},{pad}{b}{pad}\r\n");
        prop_assert_eq!(add_message(msg.as_bytes()).unwrap(), (i128::from(a) + i128::from(b)).to_string());
    }

    #[test]
    fn add_of_huge_numbers_commutes_and_cancels(a in "-?[1-9][0-9]{0,80}", b in "-?[1-9][0-9]{0,80}") {
        let ab = add_message(format!("{a},{b}").as_bytes()).unwrap();
        let ba = add_message(format!("{b},{a}").as_bytes()).unwrap();
        prop_assert_eq!(&ab, &ba);
        let neg = a.strip_prefix('-').map(String::from).unwrap_or_else(|| format!("-{a}"));
        prop_assert_eq!(add_message(format!("{a},{neg}").as_bytes()).unwrap(), "0");
        prop_assert_eq!(add_message(format!("{a},0").as_bytes()).unwrap(), a);
    }

    #[test]
    fn messages_lose_nothing_and_split_only_after_newlines(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let msgs: Vec<&[u8]> = crate::engine::behavior::messages(&data).collect();
        prop_assert_eq!(msgs.concat(), data.clone());
        if let Some((last, rest)) = msgs.split_last() {
            prop_assert!(rest.iter().all(|m| m.ends_with(b"\n")));
            prop_assert!(!last.is_empty());
        }
        prop_assert_eq!(msgs.len(), data.split_inclusive(|&b| b == b'\n').count());
    }

    #[test]
    fn host_header_check_never_panics(s in ".{0,64}") {
        let g = crate::web::guard::Guard::new(None, &[], None);
        let mut headers = axum::http::HeaderMap::new();
        if let Ok(v) = s.parse() {
            headers.insert(axum::http::header::COOKIE, v);
        }
        let _ = crate::web::caller::cookie(&headers, crate::web::caller::SESSION_COOKIE);
        let _ = crate::web::guard::check_host_for_tests(&g, &s);
    }
}
