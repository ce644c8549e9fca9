//! A small client for the running server's admin API (`/_imgd/admin/...`), for the
//! commands that must go through the server because it owns the state (the variant
//! cache's memory tier and index). Hand-written over reqwest: two verbs and a bearer
//! token do not justify a generated client.

use crate::config::Config;
use anyhow::{Context, Result, bail};

pub(super) struct AdminClient {
    /// `http://host:port`, without a trailing `/`.
    base: String,
    token: String,
    http: reqwest::Client,
}

impl AdminClient {
    /// A client for `server` (a base URL), or for this configuration's `listen` address.
    pub(super) fn new(cfg: &Config, server: Option<&str>, token: String) -> Result<Self> {
        let base = match server {
            Some(s) => s.to_owned(),
            None => format!("http://{}", cfg.listen),
        };
        // No proxy: the admin API is the operator's own server, and its token must not
        // pass through whatever HTTP_PROXY names.
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .context("building an HTTP client")?;
        Ok(AdminClient {
            base: base.trim_end_matches('/').to_owned(),
            token,
            http,
        })
    }

    /// `GET /_imgd/admin/<path>`; the body of a 2xx answer.
    pub(super) async fn get(&self, path: &str) -> Result<String> {
        self.send(self.http.get(self.url(path))).await
    }

    /// `POST /_imgd/admin/<path>` with a JSON body; the body of a 2xx answer.
    pub(super) async fn post(&self, path: &str, body: &serde_json::Value) -> Result<String> {
        self.send(self.http.post(self.url(path)).body(body.to_string()))
            .await
    }

    fn url(&self, path: &str) -> String {
        format!("{}/_imgd/admin/{path}", self.base)
    }

    /// Any other status is an error carrying the server's answer, which names the
    /// problem (`{"error": code, "message": text}`).
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<String> {
        let resp = request
            .bearer_auth(&self.token)
            .send()
            .await
            .context("reaching the server's admin API")?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("the server answered {status}: {text}");
        }
        Ok(text)
    }
}
