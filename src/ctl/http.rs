//! A small HTTP/1.1 client for `socketlab ctl`: one request per connection, on hyper (already
//! built for the server), with the token as `Authorization: Bearer`.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// Where socketlab is and who is asking.
#[derive(Debug, Clone)]
pub struct Remote {
    /// `host:port`, as the URL gave it.
    pub authority: String,
    /// The URL's path prefix (empty, or `/socketlab` behind a proxy), without a trailing `/`.
    pub prefix: String,
    /// The token or student credential.
    pub token: Option<String>,
}

/// What went wrong, as the user is to read it.
pub type Failure = String;

impl Remote {
    /// From `http://host:port[/prefix]`.
    pub fn new(url: &str, token: Option<String>) -> Result<Self, Failure> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("--url {url}: {e}; give http://HOST:PORT"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!(
                "--url {url}: only http:// is spoken here (behind a TLS proxy, point ctl at socketlab itself)"
            ));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("--url {url}: no host; give http://HOST:PORT"))?
            .to_string();
        Ok(Self {
            authority,
            prefix: uri.path().trim_end_matches('/').to_string(),
            token,
        })
    }

    /// `method path`, with a JSON body if any: the status and the body's bytes.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Bytes), Failure> {
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|e| {
                format!(
                    "cannot reach socketlab at {}: {e}; is it running?",
                    self.authority
                )
            })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("talking to {}: {e}", self.authority))?;
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.prefix))
            .header("host", &self.authority)
            .header("connection", "close");
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let bytes = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Bytes::from(serde_json::to_vec(v).unwrap_or_default())
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(bytes))
            .map_err(|e| format!("a request to {path}: {e}"))?;
        let exchange = async move {
            let res = sender
                .send_request(req)
                .await
                .map_err(|e| format!("{path}: {e}"))?;
            let status = res.status().as_u16();
            let body = res
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("{path}: {e}"))?
                .to_bytes();
            Ok::<_, Failure>((status, body))
        };
        // The connection is driven beside the request; it ends once the answer is read.
        let (out, _) = tokio::join!(exchange, conn);
        out
    }

    /// A JSON answer, or the API's message for an error status.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        let (status, bytes) = self.call(method, path, body).await?;
        if !(200..300).contains(&status) {
            return Err(api_message(status, &bytes));
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| format!("{path}: the answer is not JSON: {e}"))
    }
}

/// The API's `{"error": {"code", "message"}}` as one line, else the status and body.
pub fn api_message(status: u16, body: &[u8]) -> Failure {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if v["error"]["message"].is_string() => format!(
            "{} ({status} {})",
            v["error"]["message"].as_str().unwrap_or_default(),
            v["error"]["code"].as_str().unwrap_or_default()
        ),
        _ => format!(
            "{status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(500)])
        ),
    }
}
