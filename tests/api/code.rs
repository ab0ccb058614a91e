//! The program behind an engine: golden files per language and engine kind, compared byte
//! for byte (`UPDATE_GOLDEN=1` rewrites them after a deliberate change), and the route.

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::json;
use socketlab::code::{self, Lang, Program};
use socketlab::engine::Kind;
use socketlab::engine::behavior::Behavior;
use socketlab::engine::rules::RuleSpec;
use socketlab::engine::spec::allowed_behaviors;

use crate::helpers::*;

fn rules() -> Vec<RuleSpec> {
    let rule = |kind: &str, pattern: &str, reply: &str| RuleSpec {
        kind: kind.into(),
        pattern: pattern.into(),
        reply: reply.into(),
    };
    vec![
        rule("exact", "ping", "pong #{{counter}}"),
        rule("contains", "time", "it is {{time}}"),
        rule(
            "regex",
            "^HELLO (\\w+)$",
            "hi {{match}}, you are {{peer}}; it's \"$5\" [ok]",
        ),
    ]
}

/// Every program the golden files hold: each kind with each of its behaviors, and the
/// variants (rules, a saving client, IPv6).
fn cases() -> Vec<(String, Program)> {
    let mut out = cases_base();
    let with = |name: &str, f: &dyn Fn(&mut Program)| {
        let mut p = out.iter().find(|(n, _)| n == name).unwrap().1.clone();
        f(&mut p);
        p
    };
    let v6 = "[::1]:5000".parse().unwrap();
    let extra = vec![
        (
            "tcp-server-echo-rules",
            with("tcp-server-echo", &|p| p.rules = rules()),
        ),
        (
            "tcp-server-chat-rules",
            with("tcp-server-chat", &|p| p.rules = rules()),
        ),
        (
            "udp-server-uppercase-rules",
            with("udp-server-uppercase", &|p| p.rules = rules()),
        ),
        (
            "tcp-client-save",
            with("tcp-client-discard", &|p| p.save = true),
        ),
        (
            "tcp-client-echo-ipv6",
            with("tcp-client-echo", &|p| p.addr = v6),
        ),
        (
            "udp-server-echo-ipv6",
            with("udp-server-echo", &|p| p.addr = v6),
        ),
    ];
    out.extend(extra.into_iter().map(|(n, p)| (n.to_string(), p)));
    out
}

/// The base cases alone (each kind with each behavior), for the variants to start from.
fn cases_base() -> Vec<(String, Program)> {
    let mut out = Vec::new();
    for (kind, kname) in [
        (Kind::TcpServer, "tcp-server"),
        (Kind::UdpServer, "udp-server"),
        (Kind::TcpClient, "tcp-client"),
        (Kind::UdpClient, "udp-client"),
    ] {
        for b in allowed_behaviors(kind) {
            out.push((
                format!("{kname}-{}", b.name()),
                Program {
                    engine: "e1".into(),
                    kind,
                    behavior: b,
                    addr: "127.0.0.1:5000".parse().unwrap(),
                    recv_size: 1024,
                    backlog: 5,
                    max_clients: 10,
                    greeting: "Hello from the server! It's \"$HOME\" [1]\n".into(),
                    file_name: (b == Behavior::File).then(|| "lecture notes.txt".into()),
                    rules: Vec::new(),
                    save: false,
                },
            ));
        }
    }
    out
}

fn golden_dir(lang: Lang) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(lang.name())
}

#[test]
fn every_program_matches_its_golden_file_byte_for_byte() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut wrong = Vec::new();
    let mut seen = 0;
    for lang in Lang::ALL {
        let dir = golden_dir(lang);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
        }
        let mut expected_files = Vec::new();
        for (name, p) in cases() {
            let file = format!("{name}.{}", lang.extension());
            let path = dir.join(&file);
            let got = code::generate(lang, &p);
            expected_files.push(file.clone());
            if update {
                std::fs::write(&path, &got).unwrap();
                continue;
            }
            let want = std::fs::read_to_string(&path).unwrap_or_default();
            seen += 1;
            if got != want {
                wrong.push(format!("{}/{file}", lang.name()));
            }
        }
        // No stale golden file left over from a case that is gone.
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("__"))
            .collect();
        on_disk.sort();
        expected_files.sort();
        assert_eq!(on_disk, expected_files, "golden files of {}", lang.name());
    }
    assert!(update || seen >= 4 * 30, "{seen} programs compared");
    assert!(
        wrong.is_empty(),
        "generated programs differ from tests/golden/{wrong:?}; if the change is meant, run UPDATE_GOLDEN=1 cargo test --test api code:: and review the diff"
    );
}

#[test]
fn programs_carry_their_address_and_the_lecture_calls() {
    for (name, p) in cases() {
        let py = code::generate(Lang::Python, &p);
        assert!(py.contains("5000"), "{name}");
        let calls: &[&str] = match (p.kind, p.behavior) {
            (Kind::TcpServer, Behavior::Greet | Behavior::Daytime | Behavior::File) => &[
                "socket(", "bind(", "listen(", "accept(", "sendall(", "close(",
            ],
            (Kind::TcpServer, Behavior::Chat) => {
                &["bind(", "listen(", "accept(", "recv(", "sendall("]
            }
            (Kind::TcpServer, _) => &["socket(", "bind(", "listen(", "accept(", "recv(", "close("],
            (Kind::UdpServer, _) => &["socket(", "bind(", "recvfrom("],
            (Kind::TcpClient, _) => &["socket(", "connect(", "recv(", "close("],
            (Kind::UdpClient, _) => &["socket(", "recvfrom("],
            // The route refuses proxies; no case is one.
            (Kind::TcpProxy | Kind::UdpProxy, _) => unreachable!("{name}: no program for a proxy"),
        };
        for c in calls {
            assert!(py.contains(c), "{name}: no {c} in\n{py}");
        }
        let tcl = code::generate(Lang::Tcl, &p);
        if p.kind.is_tcp() {
            assert!(tcl.contains("socket"), "{name}");
        } else {
            assert!(tcl.contains("package require udp"), "{name}");
        }
        let ps = code::generate(Lang::Powershell, &p);
        assert!(ps.contains("System.Net"), "{name}");
        let sh = code::generate(Lang::Bash, &p);
        match p.kind {
            Kind::TcpServer | Kind::UdpServer => assert!(sh.contains("nc "), "{name}"),
            Kind::TcpClient => assert!(sh.contains("/dev/tcp/"), "{name}"),
            Kind::UdpClient => assert!(sh.contains("/dev/udp/"), "{name}"),
            Kind::TcpProxy | Kind::UdpProxy => unreachable!("{name}: no program for a proxy"),
        }
    }
}

#[tokio::test]
async fn the_code_route_lists_languages_and_writes_the_engines_real_address() {
    let app = spawn_app().await;
    let e = app
        .engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "uppercase"}))
        .await;
    let id = e["id"].as_str().unwrap();
    let port = local_of(&e).port();
    let (st, langs) = app.get(&format!("/api/engines/{id}/code")).await;
    assert_eq!(st, StatusCode::OK);
    let names: Vec<&str> = langs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["lang"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["python", "bash", "tcl", "powershell"]);
    assert!(langs[1]["note"].as_str().unwrap().contains("nc"));
    assert!(langs[2]["note"].as_str().unwrap().contains("tcl-udp"));
    assert_eq!(langs[0]["run"], format!("python3 {id}_uppercase_server.py"));
    for lang in ["python", "bash", "tcl", "powershell"] {
        let r = app
            .http
            .get(format!("{}/api/engines/{id}/code?lang={lang}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        let text = r.text().await.unwrap();
        assert!(text.contains(&port.to_string()), "{lang}: {text}");
        assert!(text.contains(&format!("socketlab engine {id}")), "{lang}");
    }
    let (st, v) = app.get(&format!("/api/engines/{id}/code?lang=cobol")).await;
    assert!(assert_error(st, &v, 400, "invalid_spec").contains("python, bash, tcl or powershell"));
    let (st, v) = app.get("/api/engines/e99/code?lang=python").await;
    assert_error(st, &v, 404, "not_found");
}
