//! Tests of `files.rs`.

use super::*;
use crate::error::ErrorKind;

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("socketlab-files-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[tokio::test]
async fn a_file_is_written_hashed_and_listed_only_when_whole() {
    let d = dir("whole");
    let files = Files::open(d.clone(), 1000, Quota::new(100, 1 << 20));
    let mut w = files.create("a.txt".into(), None).await.unwrap();
    w.write(b"hello ").await.unwrap();
    w.write(b"world").await.unwrap();
    assert!(files.list().is_empty(), "not listed while written");
    let meta = w.finish(&files).await.unwrap();
    assert_eq!((meta.id.to_string(), meta.bytes), ("f1".to_string(), 11));
    // sha256("hello world")
    assert_eq!(
        meta.sha256,
        "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    );
    assert_eq!(std::fs::read(files.path(&meta)).unwrap(), b"hello world");
    assert_eq!(sha256_of(&files.path(&meta)).await.unwrap(), meta.sha256);
    std::fs::write(d.join(".f9.part"), b"half").unwrap();
    let again = Files::open(d.clone(), 1000, Quota::new(100, 1 << 20));
    assert_eq!(again.list(), vec![meta]);
    assert!(!d.join(".f9.part").exists(), "a half-written file is swept");
    assert_eq!(
        again
            .create("b".into(), None)
            .await
            .unwrap()
            .id()
            .to_string(),
        "f2"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn past_the_limit_nothing_is_kept() {
    let d = dir("limit");
    let files = Files::open(d.clone(), 10, Quota::new(100, 1 << 20));
    let mut w = files.create("big".into(), None).await.unwrap();
    w.write(b"0123456789").await.unwrap();
    assert!(matches!(w.write(b"x").await, Err(e) if e.kind() == ErrorKind::TooLarge));
    drop(w);
    assert_eq!(
        std::fs::read_dir(&d).unwrap().count(),
        0,
        "nothing left behind"
    );
    let mut w = files.create("ok".into(), None).await.unwrap();
    w.write(b"0123").await.unwrap();
    let meta = w.finish(&files).await.unwrap();
    files.remove(meta.id).await.unwrap();
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0, "removed whole");
    assert!(files.list().is_empty());
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn a_quota_counts_files_and_bytes_and_gives_back_what_is_removed() {
    let d = dir("quota");
    let files = Files::open(d.clone(), 100, Quota::new(2, 10));
    let mut a = files.create("a".into(), None).await.unwrap();
    a.write(b"123456").await.unwrap();
    let mut b = files.create("b".into(), None).await.unwrap();
    assert!(matches!(
        files.create("c".into(), None).await,
        Err(e) if e.kind() == ErrorKind::QuotaExceeded
    ));
    assert!(matches!(
        b.write(b"12345").await,
        Err(e) if e.kind() == ErrorKind::QuotaExceeded
    ));
    b.write(b"1234").await.unwrap();
    drop(b);
    assert_eq!(
        files.quota().used(),
        (1, 6),
        "an unfinished file gives its place back"
    );
    let a = a.finish(&files).await.unwrap();
    assert_eq!(files.quota().used(), (1, 6));
    assert!(matches!(
        files.check_room(5),
        Err(e) if e.kind() == ErrorKind::QuotaExceeded
    ));
    files.check_room(4).unwrap();
    files.remove(a.id).await.unwrap();
    assert_eq!(files.quota().used(), (0, 0));
    let again = Files::open(d.clone(), 100, Quota::new(2, 10));
    assert_eq!(again.quota().used(), (0, 0));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn names_are_checked() {
    assert_eq!(check_file_name(" report.pdf ").unwrap(), "report.pdf");
    for bad in ["", "..", "a/b", "a\\b", "a\u{7}"] {
        assert!(check_file_name(bad).is_err(), "{bad:?}");
    }
}
