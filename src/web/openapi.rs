//! The API described: `GET /api/openapi.json`, the OpenAPI 3.1 document made from the
//! handlers' own annotations as the router is built (see [`super::app`]), and `GET
//! /api/docs`, a page that renders it from the binary's own script (no CDN, works offline).

use std::sync::Arc;

use axum::Extension;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{InfoBuilder, OpenApi, PathsBuilder};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The document, rendered once.
#[derive(Clone)]
pub struct Document(pub Arc<String>);

/// What the document says before its paths: the streams, the credentials, the errors.
const DESCRIPTION: &str = "socketlab drives real TCP and UDP sockets; every socket call is an \
event. The contract in prose is API.md; this document is made from the code.\n\n\
**Credentials**: the token (or a student's credential) as `Authorization: Bearer`, or the \
`socketlab_token` / `socketlab_ws` / `socketlab_watch` cookies the page sets. The instructor \
reads a student's workspace with `?workspace=ID` on the read routes.\n\n\
**Errors**: every error, on every route, is `{\"error\": {\"code\", \"message\", \"field\"?}}` \
(the `ErrorBody` schema); `429` carries `Retry-After`.\n\n\
**The event stream** is a WebSocket at `GET /ws?engine=&since=&epoch=&mode=all|live&rate=` \
(not an operation here: OpenAPI has no WebSocket). Each text frame is one JSON object. The \
first is `{\"kind\": \"hello\", \"epoch\", \"first_seq\", \"next_seq\", \"restarted\"?}`; then \
events (`{\"seq\", \"time\", \"engine\", \"kind\", \"call\", \"conn\"?, \"local\"?, \"peer\"?, \
\"bytes\"?, \"data\"? (base64), \"text\"?, \"truncated\"?, \"message\"?}` and the kinds' own \
members: `step` has `lab`, `step`, `how`); `{\"kind\": \"summary\"}` frames stand for many \
data events in `mode=live` above `rate`; `{\"kind\": \"lagged\", \"missed\"}` says events were \
skipped for a slow reader. Pass the last `seq` and the `epoch` as `since` and `epoch` to go on \
where a stream ended. A client offering the subprotocol `socketlab.batch.v1` gets each text \
frame as a JSON array of those objects (at most 5 ms or 64 KiB of them). Closes follow RFC 6455: \
a client's Close is echoed; 1002, 1007 or 1009 answer a frame it got wrong; 1001 is shutdown; \
1008 `revoked` or `lagged` is socketlab ending the stream.\n\n\
The pages (`/`, `/join/{code}`, `/watch/{id}`) and `/static/*` are for browsers.";

/// The finished document: the `/api` paths, `/healthz`, the credentials and the prose.
pub fn finish(api: OpenApi) -> Document {
    let (_, root) = OpenApiRouter::<()>::new()
        .routes(routes!(healthz))
        .split_for_parts();
    let mut doc = OpenApi::new(
        InfoBuilder::new()
            .title("socketlab")
            .version(env!("CARGO_PKG_VERSION"))
            .description(Some(DESCRIPTION))
            .build(),
        PathsBuilder::new(),
    );
    for (path, item) in api.paths.paths {
        doc.paths.paths.insert(format!("/api{path}"), item);
    }
    doc.paths.paths.extend(root.paths.paths);
    doc.components = api.components;
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "token",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    components.add_security_scheme(
        "cookie",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("socketlab_token"))),
    );
    doc.security = Some(vec![
        utoipa::openapi::security::SecurityRequirement::new("token", Vec::<String>::new()),
        utoipa::openapi::security::SecurityRequirement::new("cookie", Vec::<String>::new()),
    ]);
    let mut doc = serde_json::to_value(&doc).unwrap_or_default();
    super::schemas::describe(&mut doc);
    Document(Arc::new(
        serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into()),
    ))
}

/// `GET /api/openapi.json`: this API, as OpenAPI 3.1.
#[utoipa::path(get, path = "/openapi.json", tag = "API", responses((status = 200, description = "the OpenAPI 3.1 document of every route", body = serde_json::Value), (status = "default", description = "an error", body = crate::error::ErrorBody)))]
pub async fn document(Extension(doc): Extension<Document>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.0.as_str().to_owned(),
    )
        .into_response()
}

/// `GET /healthz`: whether the server answers.
#[utoipa::path(get, path = "/healthz", tag = "API", security(()), responses((status = 200, description = "ok", body = String, content_type = "text/plain")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /api/docs`: the document as a page, drawn by the binary's own script.
pub async fn page() -> Html<&'static str> {
    Html(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>socketlab API</title><link rel=\"stylesheet\" href=\"/static/app.css\">\
         <script type=\"module\" src=\"/static/js/apidocs.js\"></script></head>\
         <body class=\"api-docs\"><main id=\"api-docs\"><h1>socketlab API</h1>\
         <p>Loading <a href=\"/api/openapi.json\">/api/openapi.json</a>…</p></main></body></html>",
    )
}
