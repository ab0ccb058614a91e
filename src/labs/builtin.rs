//! The built-in labs, one per program of the lecture, from `builtin.json`.

use std::sync::OnceLock;

use serde_json::Value;

use super::Lab;

/// Every built-in lab, in the lecture's order.
pub fn all() -> &'static [Lab] {
    static LABS: OnceLock<Vec<Lab>> = OnceLock::new();
    LABS.get_or_init(|| {
        let list: Vec<Value> = serde_json::from_str(include_str!("builtin.json"))
            .expect("builtin.json is a JSON list (checked by the tests)");
        list.into_iter()
            .filter_map(|v| {
                let id = v.get("id")?.as_str()?.to_string();
                match Lab::from_value(v, usize::MAX) {
                    Ok(mut lab) => {
                        lab.id = id;
                        lab.builtin = true;
                        Some(lab)
                    }
                    Err(e) => {
                        tracing::error!("built-in lab {id} is malformed: {e}");
                        None
                    }
                }
            })
            .collect()
    })
}

/// Every built-in lab as JSON array items (no brackets), made once.
pub fn json_items() -> axum::body::Bytes {
    static JSON: OnceLock<axum::body::Bytes> = OnceLock::new();
    JSON.get_or_init(|| super::shelf::json_items(all())).clone()
}

/// One built-in lab.
pub fn get(id: &str) -> Option<&'static Lab> {
    all().iter().find(|l| l.id == id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_built_in_lab_is_well_formed() {
        let raw: Vec<serde_json::Value> =
            serde_json::from_str(include_str!("builtin.json")).unwrap();
        assert_eq!(
            super::all().len(),
            raw.len(),
            "a built-in lab failed its checks"
        );
        let ids: Vec<&str> = super::all().iter().map(|l| l.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "echo",
                "add",
                "udp-uppercase",
                "greeting",
                "udp-print",
                "chat",
                "file-transfer",
                "many-clients"
            ]
        );
        // A student who follows a built-in lab sees every step ticked: each has an
        // `expect` the server can check.
        for lab in super::all() {
            for (i, s) in lab.steps.iter().enumerate() {
                assert!(
                    s.expect
                        .as_ref()
                        .is_some_and(crate::labs::Expect::is_checked),
                    "{} step {i} has no expect the server can check",
                    lab.id
                );
            }
        }
    }
}
