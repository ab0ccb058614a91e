//! Tests of `behavior.rs`.

use super::*;

fn reply(s: &[u8]) -> String {
    String::from_utf8(add_reply(s)).unwrap()
}

#[test]
fn add_sums_like_the_lecture() {
    assert_eq!(reply(b"50,40"), "90");
    assert_eq!(reply(b"50,40\n"), "90\n");
    assert_eq!(reply(b" 50 , 40 \r\n"), "90\n");
    assert_eq!(reply(b"-5,3"), "-2");
    assert_eq!(reply(b"+5,-5"), "0");
    assert_eq!(reply(b"-0,0"), "0");
    assert_eq!(reply(b"007,3"), "10");
    assert_eq!(reply(b"1,2\n3,4\n"), "3\n7\n");
}

#[test]
fn add_handles_huge_numbers() {
    let a = "9".repeat(60);
    let msg = format!("{a},1");
    assert_eq!(reply(msg.as_bytes()), format!("1{}", "0".repeat(60)));
    assert_eq!(
        reply(b"-100000000000000000000000000000,1"),
        "-99999999999999999999999999999"
    );
    assert_eq!(
        reply(b"18446744073709551615,18446744073709551615"),
        "36893488147419103230"
    );
    assert_eq!(
        reply(b"1,-100000000000000000000000000000"),
        "-99999999999999999999999999999"
    );
}

#[test]
fn add_answers_junk_with_an_error_line() {
    for junk in [
        &b""[..],
        b"1",
        b"a,b",
        b"1,2,3",
        b",",
        b"1,",
        b"--1,2",
        b"1.5,2",
        b"\n",
    ] {
        let r = reply(junk);
        assert!(r.starts_with("error: "), "{junk:?} -> {r:?}");
        assert!(
            r.ends_with('\n') && r.matches('\n').count() == 1,
            "{junk:?} -> {r:?}"
        );
    }
    assert!(reply(b"1").contains("got 1 part"));
    assert!(reply(b"1,2,3").contains("got 3 parts"));
    assert!(reply(b"a,b").contains("\"a\" is not an integer"));
    assert!(reply(&[0xff, 0xfe, b',', b'1']).contains("not valid UTF-8"));
    assert_eq!(
        reply(b"1,2\nx\n"),
        "3\nerror: expected two integers separated by a comma, like 50,40; got 1 part\n"
    );
}

#[test]
fn a_response_is_never_larger_than_its_limit() {
    let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let none = Rules::default();
    let lines = b"\n".repeat(100_000);
    let r = Behavior::Add.respond(&none, &lines, "", peer, 1000);
    assert!(r.cut);
    assert_eq!(r.reply.unwrap().len(), 1000);
    let r = Behavior::Echo.respond(&none, b"hello", "", peer, 3);
    assert_eq!((r.reply.as_deref(), r.cut), (Some(&b"hel"[..]), true));
    let r = Behavior::Echo.respond(&none, b"hello", "", peer, 5);
    assert_eq!((r.reply.as_deref(), r.cut), (Some(&b"hello"[..]), false));
    let rules = Rules::compile(&[crate::engine::rules::RuleSpec {
        kind: "regex".into(),
        pattern: "^$".into(),
        reply: "x".repeat(65536),
    }])
    .unwrap();
    let r = Behavior::Echo.respond(&rules, &lines, "", peer, 1 << 20);
    assert!(r.cut);
    assert_eq!(r.reply.unwrap().len(), 1 << 20);
    let r = Behavior::Chat.respond(&rules, b"hi\n\n", "", peer, 1 << 20);
    assert_eq!(r.broadcast, vec![Cow::Borrowed(&b"hi\n"[..])]);
}

#[test]
fn rules_stop_at_their_time_budget() {
    let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let slow = Rules::compile(&[crate::engine::rules::RuleSpec {
        kind: "regex".into(),
        pattern: "(.*){3000}Q".into(),
        reply: "never".into(),
    }])
    .unwrap();
    let line = format!("{}\n", "a".repeat(8000));
    let data = line.repeat(40);
    let r = Behavior::Echo.respond(&slow, data.as_bytes(), "", peer, 1 << 20);
    let stopped_at = r.overtime.expect("the budget ran out");
    assert!(stopped_at < 40, "{stopped_at}");
}

#[test]
fn replies_per_behavior() {
    assert_eq!(Behavior::Echo.reply(b"hi", "").as_deref(), Some(&b"hi"[..]));
    assert_eq!(
        Behavior::Uppercase.reply(b"hi \xff!", "").as_deref(),
        Some(&b"HI \xff!"[..])
    );
    assert_eq!(Behavior::Discard.reply(b"hi", "").as_deref(), None);
    assert_eq!(Behavior::Manual.reply(b"hi", "").as_deref(), None);
    assert_eq!(
        Behavior::Greet.reply(b"x", "hey").as_deref(),
        Some(&b"hey"[..])
    );
    let t = String::from_utf8(Behavior::Daytime.reply(b"x", "").unwrap().into_owned()).unwrap();
    assert!(t.ends_with("Z\r\n") && t.starts_with("20"), "{t}");
    assert_eq!(Behavior::Greet.on_accept("hey"), Some(b"hey".to_vec()));
    assert_eq!(Behavior::Echo.on_accept("hey"), None);
    for b in Behavior::ALL {
        assert_eq!(Behavior::parse(b.name()), Some(b));
    }
    assert_eq!(Behavior::parse("nope"), None);
}
