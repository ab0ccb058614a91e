//! Tests of `store.rs`.

use super::*;

static TMP_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn temp_root(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "socketlab-store-{tag}-{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&d);
    d
}

fn ws(id: &str) -> SavedWorkspace {
    SavedWorkspace {
        version: VERSION,
        id: id.into(),
        name: format!("name of {id}"),
        kind: "student".into(),
        created: "2026-11-25T10:00:00.000000Z".into(),
        last_active: "2026-11-25T10:00:00.000000Z".into(),
        secrets_sha256: vec!["00".repeat(32)],
        invite_sha256: None,
        watch: "w".repeat(32),
        block: Some(3),
        next_engine: 2,
        engines: vec![SavedEngine {
            id: "e1".into(),
            created: "2026-11-25T10:00:00.000000Z".into(),
            spec: serde_json::json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo"}),
            local: Some("127.0.0.1:20042".into()),
        }],
        labs: Vec::new(),
        next_lab: 1,
        run: None,
        runs: Vec::new(),
    }
}

#[test]
fn saves_load_back_and_a_corrupt_file_is_named() {
    let root = temp_root("roundtrip");
    let store = Store::open(&root, "class").unwrap();
    store.save(&ws("wa")).unwrap();
    store.save(&ws("wb")).unwrap();
    let bad = store.workspaces.join("wc.json");
    fs::write(&bad, b"{\"version\":1,\"id\":").unwrap();
    fs::write(store.workspaces.join(".wa.json.tmp-1-1"), b"half a wri").unwrap();
    let (loaded, broken, problems) = store.load();
    assert_eq!(loaded, vec![ws("wa"), ws("wb")]);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains(&bad.display().to_string()),
        "{problems:?}"
    );
    // Moved aside, byte for byte, never overwritten; its name says where.
    assert!(!bad.exists());
    assert_eq!(broken.len(), 1);
    assert_eq!(broken[0].id, "wc");
    assert_eq!(
        fs::read(&broken[0].moved_to).unwrap(),
        b"{\"version\":1,\"id\":"
    );
    assert!(problems[0].contains(&broken[0].moved_to.display().to_string()));
    assert!(!store.workspaces.join(".wa.json.tmp-1-1").exists());
    store.remove("wa").unwrap();
    store.remove("wa").unwrap();
    let (loaded, again, _) = store.load();
    assert_eq!(loaded, vec![ws("wb")]);
    // Still listed next time (its block kept), never loaded, until dismissed.
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].id.as_str(), &again[0].moved_to),
        ("wc", &broken[0].moved_to)
    );
    store.dismiss(&again[0]).unwrap();
    assert!(
        store.load().1.is_empty(),
        "dismissed, it is no longer listed"
    );
    drop(store);
    let _ = fs::remove_dir_all(&root);
}

#[test]
fn a_port_block_is_read_from_bytes_that_do_not_parse() {
    assert_eq!(
        block_in(br#"{"id":"w1","block" : 17, "engines": [[[[cut"#),
        Some(17)
    );
    assert_eq!(block_in(br#"{"id":"w1","block":"#), None);
    assert_eq!(block_in(b"no block here"), None);
}

#[cfg(unix)]
#[test]
fn files_and_directories_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let root = temp_root("modes");
    fs::create_dir_all(root.join("class/workspaces")).unwrap();
    fs::set_permissions(root.join("class"), fs::Permissions::from_mode(0o755)).unwrap();
    let store = Store::open(&root, "class").unwrap();
    store.save(&ws("wm")).unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for d in [root.join("class"), root.join("class/workspaces")] {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
    }
    assert_eq!(mode(&root.join("class/workspaces/wm.json")), 0o600);
    assert_eq!(mode(&root.join("class/lock")), 0o600);
    drop(store);
    let _ = fs::remove_dir_all(&root);
}

#[test]
fn a_second_store_on_the_same_directory_is_refused() {
    let root = temp_root("lock");
    let first = Store::open(&root, "personal").unwrap();
    assert!(matches!(
        Store::open(&root, "personal"),
        Err(OpenError::Locked(_))
    ));
    // Another mode is another directory.
    let _class = Store::open(&root, "class").unwrap();
    drop(first);
    Store::open(&root, "personal").unwrap();
    let _ = fs::remove_dir_all(&root);
}

#[test]
fn class_file_round_trips() {
    let root = temp_root("class");
    let store = Store::open(&root, "class").unwrap();
    assert_eq!(store.load_class(), Ok(None));
    let c = SavedClass {
        code: "abcd-efgh".into(),
        token: Some("t".repeat(48)),
        handout: None,
    };
    store.save_class(&c).unwrap();
    assert_eq!(store.load_class(), Ok(Some(c)));
    fs::write(store.dir().join("class.json"), b"nope").unwrap();
    assert!(store.load_class().unwrap_err().contains("class.json"));
    let _ = fs::remove_dir_all(&root);
}
