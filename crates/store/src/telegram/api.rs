//! The few Bot API methods the Telegram blob backend uses, and how their failures are
//! classified.
//!
//! Every URL here contains the bot token, so no URL ever leaves this file: reqwest errors
//! are stripped of theirs (`without_url`), and the messages built here name the method,
//! never the address. Telegram's own `description` carries no token and is kept, since it
//! says what was wrong ("chat not found", "file is too big").

use super::TelegramConfig;
use bytes::Bytes;
use futures::Stream;
use serde::Deserialize;
use std::time::Duration;

/// What one Bot API call can end in, sorted by what the caller does next.
#[derive(Debug)]
pub(crate) enum ApiFailure {
    /// 429: wait this long, then try again.
    RateLimited(Duration),
    /// A 5xx, a refused or dropped connection, a timeout: worth retrying with backoff.
    Transient(String),
    /// Any other refusal (bad token, unknown chat, a file over the limit): retrying the
    /// same request cannot help.
    Refused { code: u16, description: String },
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiFailure::RateLimited(wait) => write!(f, "rate limited, retry after {wait:?}"),
            ApiFailure::Transient(m) => write!(f, "{m}"),
            ApiFailure::Refused { code, description } => write!(f, "{code}: {description}"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SentDocument {
    pub message_id: i64,
    pub document: Document,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Document {
    pub file_id: String,
    pub file_unique_id: String,
    pub file_size: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct FileInfo {
    file_path: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Envelope<T> {
    ok: bool,
    result: Option<T>,
    error_code: Option<u16>,
    description: Option<String>,
    parameters: Option<Parameters>,
}

#[derive(Debug, Deserialize)]
struct Parameters {
    retry_after: Option<u64>,
}

pub(crate) struct BotApi {
    client: reqwest::Client,
    /// `<api_base>/bot<token>/`: secret, never logged.
    method_base: String,
    /// `<api_base>/file/bot<token>/`: secret, never logged.
    file_base: String,
    chat_id: String,
}

impl BotApi {
    pub fn new(config: &TelegramConfig) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("building the Telegram HTTP client: {}", e.without_url()))?;
        let base = config.api_base.trim_end_matches('/');
        Ok(BotApi {
            client,
            method_base: format!("{base}/bot{}/", config.bot_token),
            file_base: format!("{base}/file/bot{}/", config.bot_token),
            chat_id: config.chat_id.clone(),
        })
    }

    /// Sends one chunk as a document. `sendDocument` (never `sendPhoto`, which
    /// recompresses) with content-type detection off, so the bytes come back as sent.
    pub async fn send_document(
        &self,
        file_name: &str,
        body: futures::stream::BoxStream<'static, std::io::Result<Bytes>>,
        len: u64,
        timeout: Duration,
    ) -> Result<SentDocument, ApiFailure> {
        let boundary = format!("imgd-{}", uuid::Uuid::new_v4().simple());
        let mut head = String::new();
        for (name, value) in [
            ("chat_id", self.chat_id.as_str()),
            ("disable_notification", "true"),
            ("disable_content_type_detection", "true"),
        ] {
            head.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        head.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"document\"; filename=\"{file_name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        ));
        let tail = format!("\r\n--{boundary}--\r\n");
        let total = head.len() as u64 + len + tail.len() as u64;
        let body = multipart_body(Bytes::from(head), body, Bytes::from(tail));
        let request = self
            .client
            .post(format!("{}sendDocument", self.method_base))
            .header(
                http::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header(http::header::CONTENT_LENGTH, total)
            .timeout(timeout)
            .body(body);
        let sent: SentDocument = self.call("sendDocument", request).await?;
        if let Some(size) = sent.document.file_size
            && size != len
        {
            return Err(ApiFailure::Transient(format!(
                "sendDocument stored {size} bytes of a {len}-byte chunk"
            )));
        }
        Ok(sent)
    }

    /// The download path of a file, valid for at least an hour.
    pub async fn get_file(&self, file_id: &str, timeout: Duration) -> Result<String, ApiFailure> {
        let request = self
            .client
            .post(format!("{}getFile", self.method_base))
            .form(&[("file_id", file_id)])
            .timeout(timeout);
        let info: FileInfo = self.call("getFile", request).await?;
        info.file_path.ok_or_else(|| ApiFailure::Refused {
            code: 400,
            description: "getFile returned no file_path".into(),
        })
    }

    pub async fn delete_message(
        &self,
        message_id: i64,
        timeout: Duration,
    ) -> Result<(), ApiFailure> {
        let request = self
            .client
            .post(format!("{}deleteMessage", self.method_base))
            .form(&[
                ("chat_id", self.chat_id.as_str()),
                ("message_id", &message_id.to_string()),
            ])
            .timeout(timeout);
        let _: serde_json::Value = self.call("deleteMessage", request).await?;
        Ok(())
    }

    /// Whether the API answers and the token is valid.
    pub async fn get_me(&self, timeout: Duration) -> Result<(), ApiFailure> {
        let request = self
            .client
            .post(format!("{}getMe", self.method_base))
            .timeout(timeout);
        let _: serde_json::Value = self.call("getMe", request).await?;
        Ok(())
    }

    /// Starts the download of `file_path` (as `getFile` returned it). With a local Bot
    /// API server (`--local`) the path is absolute and names a file on that server's disk,
    /// which it does not serve over HTTP; imgd reads it directly, so such a server must
    /// share its working directory with imgd.
    pub async fn download(
        &self,
        file_path: &str,
        timeout: Duration,
    ) -> Result<
        std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send + Sync>>,
        ApiFailure,
    > {
        use futures::TryStreamExt;
        if file_path.starts_with('/') {
            let file = tokio::fs::File::open(file_path)
                .await
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => ApiFailure::Refused {
                        code: 404,
                        description: "the local Bot API server's file is gone".into(),
                    },
                    _ => ApiFailure::Transient(format!("reading the local Bot API file: {e}")),
                })?;
            let stream = tokio_util::io::ReaderStream::new(file);
            return Ok(Box::pin(sync_wrapper::SyncStream::new(stream)));
        }
        let response = self
            .client
            .get(format!("{}{file_path}", self.file_base))
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| transport("file download", e))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(ApiFailure::Transient(format!(
                "file download answered {status}"
            )));
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(ApiFailure::RateLimited(Duration::from_secs(1)));
        }
        if !status.is_success() {
            return Err(ApiFailure::Refused {
                code: status.as_u16(),
                description: format!("file download answered {status}"),
            });
        }
        let stream = response
            .bytes_stream()
            .map_err(|e| std::io::Error::other(format!("file download: {}", e.without_url())));
        Ok(Box::pin(sync_wrapper::SyncStream::new(stream)))
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ApiFailure> {
        let response = request.send().await.map_err(|e| transport(method, e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| transport(method, e))?;
        let envelope: Envelope<T> = match serde_json::from_slice(&body) {
            Ok(envelope) => envelope,
            Err(_) if status.is_server_error() => {
                return Err(ApiFailure::Transient(format!("{method} answered {status}")));
            }
            Err(e) => {
                return Err(ApiFailure::Transient(format!(
                    "{method} answered {status} with a body that is not the Bot API's JSON: {e}"
                )));
            }
        };
        if envelope.ok
            && let Some(result) = envelope.result
        {
            return Ok(result);
        }
        let code = envelope.error_code.unwrap_or(status.as_u16());
        let description = envelope
            .description
            .unwrap_or_else(|| format!("{method} failed"));
        if code == 429 || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let wait = envelope.parameters.and_then(|p| p.retry_after).unwrap_or(1);
            return Err(ApiFailure::RateLimited(Duration::from_secs(wait.max(1))));
        }
        if status.is_server_error() || code >= 500 {
            return Err(ApiFailure::Transient(format!(
                "{method}: {code} {description}"
            )));
        }
        Err(ApiFailure::Refused {
            code,
            description: format!("{method}: {description}"),
        })
    }
}

fn transport(method: &str, e: reqwest::Error) -> ApiFailure {
    ApiFailure::Transient(format!("{method}: {}", e.without_url()))
}

/// A multipart body made of a head, the document's bytes and a tail, without copying
/// the document.
fn multipart_body(
    head: Bytes,
    document: futures::stream::BoxStream<'static, std::io::Result<Bytes>>,
    tail: Bytes,
) -> reqwest::Body {
    use futures::StreamExt;
    let stream = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(head) })
        .chain(document)
        .chain(futures::stream::once(async move { Ok(tail) }));
    reqwest::Body::wrap_stream(stream)
}
