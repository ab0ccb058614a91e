//! The benchmark's quick mode, so its harness does not rot. Its figures are not checked here
//! (timed tests would be flaky, and this build is a debug one); BENCHMARKS.md has the real run.

use std::time::Duration;

#[tokio::test]
async fn the_benchmark_quick_mode_runs_every_figure() {
    let out = std::env::temp_dir().join(format!("socketlab-bench-{}.json", std::process::id()));
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_socketlab-bench"))
        .args(["--quick", "--rounds", "1", "--json"])
        .arg(&out)
        .kill_on_drop(true)
        .output();
    let done = tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .expect("quick mode finishes")
        .unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let _ = std::fs::remove_file(&out);
    let figures = report["figures"].as_array().unwrap();
    let names: Vec<&str> = figures
        .iter()
        .map(|f| f["figure"].as_str().unwrap())
        .collect();
    for want in [
        "TCP ping-pong, 1 connection",
        "TCP ping-pong, 100 connections",
        "TCP bulk",
        "TCP ping-pong through a proxy, 1 connection",
        "TCP bulk through a proxy",
        "UDP echo, 1 socket",
        "UDP echo, 100 sockets",
        "idle TCP connections held",
        "accept rate",
        "event latency at 1k",
        "event latency at 10k",
        "event latency at max",
        "fan-out to 100 viewers",
        "stuck viewer",
        "workspaces' echo round trips",
        "every history full",
        "events kept after a",
        "bytes of history per 64-byte event",
        "1 mode=live viewer",
        "mode=all viewer at 5,000 events/s",
        "beside one flooding",
        "RSS per idle workspace",
    ] {
        assert!(
            names.iter().any(|n| n.contains(want)),
            "no figure {want:?} in {names:?}"
        );
    }
    for f in figures {
        let median = f["socketlab"]["median"].as_f64();
        assert!(median.is_some_and(|m| m.is_finite() && m >= 0.0), "{f}");
    }
    // The class's figures carry each server's CPU per round trip, the steadier measure.
    for f in figures.iter().filter(|f| {
        f["figure"]
            .as_str()
            .is_some_and(|n| n.contains("workspaces' echo round trips"))
    }) {
        for who in ["socketlab", "baseline"] {
            let cpu = f[who]["at_median"]["server_cpu_us_per_rt"].as_f64();
            assert!(
                cpu.is_some_and(|c| c > 0.0),
                "{who} CPU per round trip: {f}"
            );
        }
    }
    // The throughput figures have the viewer modes as columns.
    let pp = figures
        .iter()
        .find(|f| {
            f["figure"]
                .as_str()
                .is_some_and(|n| n.starts_with("TCP ping-pong, 100 connections"))
        })
        .unwrap();
    for col in ["socketlab_live_viewer", "socketlab_all_viewer", "baseline"] {
        assert!(pp[col]["median"].as_f64().is_some(), "{col}: {pp}");
    }
    let text = String::from_utf8_lossy(&done.stdout);
    assert!(
        text.contains("ratio") && text.contains("baseline"),
        "the table is printed: {text}"
    );
}
