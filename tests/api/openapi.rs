//! The described API: the document covers every route the server has (a route added outside
//! it fails here), and each operation, called as a careless client would (no body, unknown
//! ids), answers with a status the document declares and, for an error, the body it says.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

/// The routes that are pages, assets or the stream, not operations of the document.
const NOT_OPERATIONS: [&str; 8] = [
    "/",
    "/join/{code}",
    "/watch/{id}",
    "/favicon.ico",
    "/ws",
    "/static/{*path}",
    "/docs",
    "/healthz",
];

#[tokio::test]
async fn the_document_covers_every_route_and_every_answer_matches_it() {
    let (app, teacher) = spawn_class((19_500, 19_999), |_| {}).await;
    let (st, doc) = teacher.get("/api/openapi.json").await;
    assert_eq!(st, StatusCode::OK, "{doc}");
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    // Every route registered outside the described ones is a page or the stream: the router
    // is read from its source, so a new `.route(` fails here until it is described.
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/web/mod.rs")).unwrap();
    for part in source.split(".route(\"").skip(1) {
        let path = part.split('"').next().unwrap();
        assert!(
            NOT_OPERATIONS.contains(&path),
            "{path} is routed without a description: register it with routes!(...) and #[utoipa::path]"
        );
    }
    assert!(paths.contains_key("/healthz"));
    let codes: Vec<&str> = doc["components"]["schemas"]["ErrorKind"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(codes.contains(&"invalid_spec") && codes.contains(&"not_saved"));
    let mut operations = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let Some(responses) = op["responses"].as_object() else {
                continue;
            };
            operations += 1;
            let concrete = path
                .replace("{id}", "e999")
                .replace("{conn}", "c999")
                .replace("{seq}", "999999")
                .replace("{n}", "0");
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let mut req = teacher
                .http
                .request(m, format!("{}{concrete}", teacher.base))
                .bearer_auth(&teacher.cred);
            if op.get("requestBody").is_some() {
                req = req.header("content-type", "application/json").body("{}");
            }
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let body = res.bytes().await.unwrap();
            let at = format!("{method} {path} -> {status}");
            assert!(
                status < 500 || responses.contains_key(&status.to_string()),
                "{at}: a 5xx the document does not declare"
            );
            assert!(
                responses.contains_key(&status.to_string()) || responses.contains_key("default"),
                "{at}: not declared"
            );
            if status >= 400 {
                let v: Value =
                    serde_json::from_slice(&body).unwrap_or_else(|_| panic!("{at}: not JSON"));
                let code = v["error"]["code"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{at}: {v}"));
                assert!(codes.contains(&code), "{at}: {code} is not in ErrorKind");
                assert!(v["error"]["message"].is_string(), "{at}: {v}");
                let extra: Vec<&String> = v["error"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| !["code", "message", "field", "suggestion"].contains(&k.as_str()))
                    .collect();
                assert!(
                    extra.is_empty(),
                    "{at}: members the document does not have: {extra:?}"
                );
            }
        }
    }
    assert!(operations >= 38, "{operations} operations");
    // The page that draws it comes from the binary.
    let r = teacher
        .http
        .get(format!("{}/api/docs", teacher.base))
        .bearer_auth(&teacher.cred)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("/static/js/apidocs.js"));
    // A method no route has is 405, whatever workspace it names.
    let r = teacher
        .http
        .request(
            reqwest::Method::TRACE,
            format!("{}/api/workspace?workspace=", teacher.base),
        )
        .bearer_auth(&teacher.cred)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    app.shutdown().await;
}
