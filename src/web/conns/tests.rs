//! Tests of `mod.rs`.

use super::*;

#[test]
fn at_the_cap_the_oldest_idle_connection_makes_room() {
    let t = Table::new(3);
    let a = t.admit().unwrap();
    let b = t.admit().unwrap();
    let c = t.admit().unwrap();
    // a is in a request, b is a WebSocket: c, the oldest with neither, goes.
    a.in_flight.fetch_add(1, Relaxed);
    b.upgraded.store(true, Relaxed);
    let d = t.admit().unwrap();
    assert!(c.kill.is_cancelled());
    assert!(!a.kill.is_cancelled() && !b.kill.is_cancelled());
    d.in_flight.fetch_add(1, Relaxed);
    assert!(
        t.admit().is_none(),
        "every connection busy: the new one is refused"
    );
    assert_eq!(t.len(), 3);
}
