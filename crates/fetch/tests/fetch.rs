//! End-to-end fetches against tiny HTTP/1.1 responders on loopback that count every
//! connection they accept, so "refused" can be checked as "never connected".

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fetch::{FetchError, FetchPolicy, FetchRequest, Fetcher, ImageKind};
use futures::StreamExt;
use http::{HeaderValue, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

/// What the responder does with one request.
#[derive(Clone)]
enum Reply {
    /// Status line and headers (no trailing blank line), then the body with Content-Length.
    Full(&'static str, Vec<u8>),
    /// 200 with a chunked body, each part written (and flushed) separately.
    Chunked(Vec<Vec<u8>>),
    Redirect(String),
    /// Reads the request and never answers.
    Silent,
    /// Sends a head promising `len` bytes and part of the body, then stalls.
    Stall {
        len: usize,
        sent: Vec<u8>,
    },
    /// Chunked body, one small chunk every `every` forever.
    Dribble {
        every: Duration,
    },
}

struct Server {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Server {
    async fn start(bind: &str, handler: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind(bind).await.expect("bind test listener");
        let addr = listener.local_addr().expect("local addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(handler);
        let (count, log) = (Arc::clone(&accepted), Arc::clone(&heads));
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let (handler, log) = (Arc::clone(&handler), Arc::clone(&log));
                tokio::spawn(async move {
                    let _ = respond(conn, handler.as_ref(), &log).await;
                });
            }
        });
        Server {
            addr,
            accepted,
            heads,
        }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().expect("heads lock").clone()
    }
}

async fn respond(
    mut conn: TcpStream,
    handler: &(dyn Fn(&str) -> Reply + Send + Sync),
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
    log.lock()
        .expect("heads lock")
        .push(head.to_ascii_lowercase());
    match handler(&path) {
        Reply::Full(status_and_headers, body) => {
            let head = format!(
                "{status_and_headers}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            conn.write_all(head.as_bytes()).await?;
            conn.write_all(&body).await?;
        }
        Reply::Chunked(parts) => {
            conn.write_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            )
            .await?;
            for part in parts {
                conn.write_all(format!("{:x}\r\n", part.len()).as_bytes())
                    .await?;
                conn.write_all(&part).await?;
                conn.write_all(b"\r\n").await?;
                conn.flush().await?;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            conn.write_all(b"0\r\n\r\n").await?;
        }
        Reply::Redirect(location) => {
            let head = format!(
                "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            conn.write_all(head.as_bytes()).await?;
        }
        Reply::Silent => tokio::time::sleep(Duration::from_secs(3600)).await,
        Reply::Stall { len, sent } => {
            conn.write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n").as_bytes())
                .await?;
            conn.write_all(&sent).await?;
            conn.flush().await?;
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Reply::Dribble { every } => {
            conn.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                .await?;
            loop {
                conn.write_all(b"1\r\nx\r\n").await?;
                conn.flush().await?;
                tokio::time::sleep(every).await;
            }
        }
    }
    conn.shutdown().await
}

fn html() -> Reply {
    Reply::Full(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html",
        b"<!DOCTYPE html><html>hi</html>".to_vec(),
    )
}

fn allow_loopback() -> FetchPolicy {
    FetchPolicy {
        allow: vec!["127.0.0.1/32".parse().expect("rule")],
        ..FetchPolicy::default()
    }
}

fn fetcher(policy: FetchPolicy) -> Fetcher {
    Fetcher::new(policy).expect("fetcher builds")
}

async fn get(fetcher: &Fetcher, url: &str) -> Result<fetch::FetchResponse, FetchError> {
    fetcher.get(url, FetchRequest::default()).await
}

#[tokio::test]
async fn default_policy_never_connects_to_loopback_in_any_spelling() {
    let server = Server::start("127.0.0.1:0", |_| html()).await;
    let fetcher = fetcher(FetchPolicy::default());
    let port = server.port();
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://LocalHost:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://0177.0.0.1:{port}/"),
        format!("http://0x7f.0.0.1:{port}/"),
        format!("http://0x7f000001:{port}/"),
        format!("http://127.1:{port}/"),
        format!("http://127.0.1:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://[::ffff:7f00:1]:{port}/"),
        format!("http://[::127.0.0.1]:{port}/"),
        format!("http://[64:ff9b::7f00:1]:{port}/"),
        format!("http://[2002:7f00:1::]:{port}/"),
        format!("http://[::1]:{port}/"),
        format!("http://0.0.0.0:{port}/"),
        format!("http://0:{port}/"),
        format!("https://127.0.0.1:{port}/"),
        format!("http://user:pw@127.0.0.1:{port}/"),
    ] {
        let err = get(&fetcher, &url).await.expect_err(&url);
        assert!(err.is_denied(), "{url}: {err:?}");
        assert_eq!(err.short_reason(), "denied");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.accepted(), 0, "a denied fetch reached the listener");
}

#[tokio::test]
async fn denied_names_do_not_reveal_addresses() {
    let fetcher = fetcher(FetchPolicy::default());
    let err = get(&fetcher, "http://localhost:9/")
        .await
        .expect_err("denied");
    let FetchError::Denied { host, reason } = &err else {
        panic!("expected Denied, got {err:?}");
    };
    assert_eq!(host, "localhost");
    assert_eq!(*reason, "loopback");
    assert_eq!(
        err.to_string(),
        "destination not allowed: localhost (loopback address)"
    );
}

#[tokio::test]
async fn allowed_network_fetch_streams_the_body() {
    let parts: Vec<Vec<u8>> = vec![
        b"hello ".to_vec(),
        b"streaming ".to_vec(),
        b"world".to_vec(),
    ];
    let server = Server::start("127.0.0.1:0", move |_| Reply::Chunked(parts.clone())).await;
    let fetcher = fetcher(allow_loopback());
    let response = get(&fetcher, &server.url("/img"))
        .await
        .expect("allowed fetch");
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.url, server.url("/img"));
    assert_eq!(response.content_length, None);
    assert_eq!(response.image, None);
    let chunks: Vec<_> = response.into_stream().collect().await;
    let body: Vec<u8> = chunks
        .into_iter()
        .flat_map(|c| c.expect("chunk").to_vec())
        .collect();
    assert_eq!(body, b"hello streaming world");
    let head = &server.heads()[0];
    assert!(head.starts_with("get /img http/1.1"), "{head}");
    assert!(
        head.contains(&format!("user-agent: imgd/{}", env!("CARGO_PKG_VERSION"))),
        "{head}"
    );
}

#[tokio::test]
async fn allowed_host_name_reaches_whatever_it_resolves_to() {
    let server = Server::start("127.0.0.1:0", |_| html()).await;
    let policy = FetchPolicy {
        allow: vec!["localhost".parse().expect("rule")],
        ..FetchPolicy::default()
    };
    let fetcher = fetcher(policy);
    let url = format!("http://localhost:{}/", server.port());
    let body = get(&fetcher, &url)
        .await
        .expect("allowed host")
        .bytes()
        .await
        .expect("body");
    assert_eq!(&body[..], b"<!DOCTYPE html><html>hi</html>");
    // The host rule is about names: the same address by literal is still denied.
    let err = get(&fetcher, &server.url("/")).await.expect_err("literal");
    assert!(err.is_denied(), "{err:?}");
}

#[tokio::test]
async fn redirect_to_a_denied_address_is_refused_before_connecting() {
    let target = Server::start("127.0.0.2:0", |_| html()).await;
    let target_port = target.port();
    let origin = Server::start("127.0.0.1:0", move |path| match path {
        "/to-127.0.0.2" => Reply::Redirect(format!("http://127.0.0.2:{target_port}/")),
        "/to-v6-loopback" => Reply::Redirect(format!("http://[::1]:{target_port}/")),
        "/to-mapped" => Reply::Redirect(format!("http://[::ffff:127.0.0.2]:{target_port}/")),
        _ => Reply::Redirect(format!("http://2130706434:{target_port}/")),
    })
    .await;
    let fetcher = fetcher(allow_loopback());
    for path in ["/to-127.0.0.2", "/to-v6-loopback", "/to-mapped", "/decimal"] {
        let err = get(&fetcher, &origin.url(path)).await.expect_err(path);
        assert!(err.is_denied(), "{path}: {err:?}");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(origin.accepted(), 4);
    assert_eq!(
        target.accepted(),
        0,
        "the redirect target must never be contacted"
    );
}

#[tokio::test]
async fn redirect_loops_stop_at_the_limit() {
    let server = Server::start("127.0.0.1:0", |_| Reply::Redirect("/loop".to_owned())).await;
    let policy = FetchPolicy {
        max_redirects: 3,
        ..allow_loopback()
    };
    let err = get(&fetcher(policy), &server.url("/loop"))
        .await
        .expect_err("loop");
    assert!(matches!(err, FetchError::TooManyRedirects(3)), "{err:?}");
    assert_eq!(err.short_reason(), "redirects");
    assert_eq!(
        server.heads().len(),
        4,
        "the first request and three redirects"
    );
}

#[tokio::test]
async fn relative_redirects_resolve_against_the_current_url() {
    let server = Server::start("127.0.0.1:0", |path| match path {
        "/dir/a" => Reply::Redirect("b?x=1".to_owned()),
        "/dir/b?x=1" => Reply::Redirect("/final".to_owned()),
        "/final" => html(),
        _ => Reply::Full("HTTP/1.1 404 Not Found", b"nope".to_vec()),
    })
    .await;
    let response = get(&fetcher(allow_loopback()), &server.url("/dir/a"))
        .await
        .expect("redirected");
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.url, server.url("/final"));
}

#[tokio::test]
async fn credentials_are_dropped_when_a_redirect_leaves_the_origin() {
    let other = Server::start("127.0.0.1:0", |_| html()).await;
    let other_port = other.port();
    let origin = Server::start("127.0.0.1:0", move |path| match path {
        "/start" => Reply::Redirect("/same-origin".to_owned()),
        "/same-origin" => Reply::Redirect(format!("http://127.0.0.1:{other_port}/elsewhere")),
        _ => html(),
    })
    .await;
    let mut request = FetchRequest::default();
    request
        .headers
        .insert("authorization", HeaderValue::from_static("Bearer secret"));
    request
        .headers
        .insert("cookie", HeaderValue::from_static("session=secret"));
    request
        .headers
        .insert("x-trace", HeaderValue::from_static("kept"));
    let response = fetcher(allow_loopback())
        .get(&origin.url("/start"), request)
        .await
        .expect("fetch");
    assert_eq!(response.url, other.url("/elsewhere"));
    let origin_heads = origin.heads();
    assert_eq!(origin_heads.len(), 2);
    for head in &origin_heads {
        assert!(head.contains("authorization: bearer secret"), "{head}");
        assert!(head.contains("cookie: session=secret"), "{head}");
    }
    let other_head = &other.heads()[0];
    assert!(!other_head.contains("authorization"), "{other_head}");
    assert!(!other_head.contains("cookie"), "{other_head}");
    assert!(other_head.contains("x-trace: kept"), "{other_head}");
}

#[tokio::test]
async fn max_bytes_refuses_an_honest_content_length_early() {
    let server = Server::start("127.0.0.1:0", |_| {
        Reply::Full("HTTP/1.1 200 OK", vec![b'a'; 2000])
    })
    .await;
    let policy = FetchPolicy {
        max_bytes: 1000,
        ..allow_loopback()
    };
    let err = get(&fetcher(policy), &server.url("/"))
        .await
        .expect_err("too large");
    assert!(
        matches!(err, FetchError::TooLarge { limit: 1000 }),
        "{err:?}"
    );
    assert_eq!(err.short_reason(), "too_large");
}

#[tokio::test]
async fn max_bytes_is_enforced_while_streaming_a_chunked_body() {
    let server = Server::start("127.0.0.1:0", |path| {
        let parts = if path == "/exact" { 2 } else { 10 };
        Reply::Chunked(vec![vec![b'a'; 500]; parts])
    })
    .await;
    let policy = FetchPolicy {
        max_bytes: 1000,
        ..allow_loopback()
    };
    let fetcher = fetcher(policy);
    let response = get(&fetcher, &server.url("/big"))
        .await
        .expect("head is fine");
    assert_eq!(response.content_length, None);
    let err = response.bytes().await.expect_err("body too large");
    assert!(
        matches!(err, FetchError::TooLarge { limit: 1000 }),
        "{err:?}"
    );

    let mut stream = get(&fetcher, &server.url("/big"))
        .await
        .expect("head")
        .into_stream();
    let mut received = 0;
    let err = loop {
        match stream
            .next()
            .await
            .expect("stream ends with an error, not silently")
        {
            Ok(chunk) => received += chunk.len(),
            Err(err) => break err,
        }
    };
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err:?}");
    assert!(received <= 1000, "{received}");
    assert!(stream.next().await.is_none(), "nothing after the error");

    let exact = get(&fetcher, &server.url("/exact"))
        .await
        .expect("head")
        .bytes()
        .await;
    assert_eq!(exact.expect("exactly at the limit").len(), 1000);
}

#[tokio::test]
async fn require_image_refuses_html_and_sniffs_png() {
    let server = Server::start("127.0.0.1:0", |path| match path {
        "/page" => html(),
        // PNG in 3-byte chunks, so sniffing needs several reads that must be replayed.
        "/png" => Reply::Chunked(PNG.chunks(3).map(<[u8]>::to_vec).collect()),
        "/missing" => Reply::Full(
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/html",
            b"<html>no</html>".to_vec(),
        ),
        _ => Reply::Full("HTTP/1.1 200 OK", Vec::new()),
    })
    .await;
    let fetcher = fetcher(allow_loopback());
    let image = FetchRequest {
        require_image: true,
        ..FetchRequest::default()
    };

    let err = fetcher
        .get(&server.url("/page"), image.clone())
        .await
        .expect_err("html");
    assert!(matches!(err, FetchError::NotAnImage), "{err:?}");
    let err = fetcher
        .get(&server.url("/empty"), image.clone())
        .await
        .expect_err("empty");
    assert!(matches!(err, FetchError::NotAnImage), "{err:?}");

    let response = fetcher
        .get(&server.url("/png"), image.clone())
        .await
        .expect("png");
    assert_eq!(response.image, Some(ImageKind::Png));
    assert_eq!(&response.bytes().await.expect("body")[..], PNG);

    // Error statuses are the caller's business: no sniffing, no error.
    let response = fetcher
        .get(&server.url("/missing"), image)
        .await
        .expect("404 is returned");
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert_eq!(response.image, None);
    assert_eq!(
        &response.bytes().await.expect("body")[..],
        b"<html>no</html>"
    );
}

#[tokio::test]
async fn non_success_statuses_and_bare_redirects_are_returned() {
    let server = Server::start("127.0.0.1:0", |path| match path {
        "/error" => Reply::Full("HTTP/1.1 500 Internal Server Error", b"boom".to_vec()),
        "/not-modified" => Reply::Full("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"", Vec::new()),
        _ => Reply::Full("HTTP/1.1 302 Found", Vec::new()),
    })
    .await;
    let fetcher = fetcher(allow_loopback());
    assert_eq!(
        get(&fetcher, &server.url("/error"))
            .await
            .expect("500")
            .status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let not_modified = get(&fetcher, &server.url("/not-modified"))
        .await
        .expect("304");
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    assert_eq!(not_modified.headers["etag"], "\"v1\"");
    assert_eq!(not_modified.content_length, None);
    assert_eq!(
        get(&fetcher, &server.url("/no-location"))
            .await
            .expect("302")
            .status,
        StatusCode::FOUND
    );
}

#[tokio::test]
async fn a_silent_server_times_out_within_read_timeout() {
    let server = Server::start("127.0.0.1:0", |_| Reply::Silent).await;
    let policy = FetchPolicy {
        read_timeout: Duration::from_millis(300),
        ..allow_loopback()
    };
    let started = Instant::now();
    let err = get(&fetcher(policy), &server.url("/"))
        .await
        .expect_err("silent");
    assert!(matches!(err, FetchError::Timeout), "{err:?}");
    assert_eq!(err.short_reason(), "timeout");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_stalled_body_times_out() {
    let server = Server::start("127.0.0.1:0", |_| Reply::Stall {
        len: 100,
        sent: vec![b'a'; 10],
    })
    .await;
    let policy = FetchPolicy {
        read_timeout: Duration::from_millis(300),
        ..allow_loopback()
    };
    let response = get(&fetcher(policy), &server.url("/"))
        .await
        .expect("head arrives");
    assert_eq!(response.content_length, Some(100));
    let started = Instant::now();
    let err = response.bytes().await.expect_err("stalls");
    assert!(matches!(err, FetchError::Timeout), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn the_deadline_bounds_a_body_that_never_stalls() {
    let server = Server::start("127.0.0.1:0", |_| Reply::Dribble {
        every: Duration::from_millis(50),
    })
    .await;
    let policy = FetchPolicy {
        read_timeout: Duration::from_secs(5),
        deadline: Duration::from_millis(600),
        ..allow_loopback()
    };
    let started = Instant::now();
    let response = get(&fetcher(policy), &server.url("/"))
        .await
        .expect("head arrives");
    let err = response.bytes().await.expect_err("deadline");
    assert!(matches!(err, FetchError::Timeout), "{err:?}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test]
async fn only_http_and_https_are_fetched() {
    let fetcher = fetcher(FetchPolicy::default());
    for url in [
        "ftp://example.com/a.png",
        "file:///etc/passwd",
        "gopher://example.com/",
        "data:image/png;base64,AAAA",
    ] {
        let err = get(&fetcher, url).await.expect_err(url);
        assert!(
            matches!(err, FetchError::SchemeNotAllowed(_)),
            "{url}: {err:?}"
        );
    }
    for url in [
        "not a url",
        "http://",
        "/relative/path",
        "http://exa mple.com/",
    ] {
        let err = get(&fetcher, url).await.expect_err(url);
        assert!(matches!(err, FetchError::BadUrl(_)), "{url}: {err:?}");
    }
}

#[tokio::test]
async fn redirect_to_another_scheme_is_refused() {
    let server = Server::start("127.0.0.1:0", |_| {
        Reply::Redirect("file:///etc/passwd".to_owned())
    })
    .await;
    let err = get(&fetcher(allow_loopback()), &server.url("/"))
        .await
        .expect_err("file redirect");
    assert!(
        matches!(err, FetchError::SchemeNotAllowed(ref s) if s == "file"),
        "{err:?}"
    );
}

#[tokio::test]
async fn unresolvable_names_fail_cleanly() {
    let err = get(
        &fetcher(FetchPolicy::default()),
        "http://does-not-exist.invalid/",
    )
    .await
    .expect_err("no such name");
    assert!(
        matches!(err, FetchError::Resolve(ref host) if host == "does-not-exist.invalid"),
        "{err:?}"
    );
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    // Bind then drop to get a port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let err = get(
        &fetcher(allow_loopback()),
        &format!("http://127.0.0.1:{port}/"),
    )
    .await
    .expect_err("refused");
    assert!(matches!(err, FetchError::Connect(_)), "{err:?}");
    assert!(!err.to_string().contains("127.0.0.1"), "{err}");
}

#[tokio::test]
async fn a_slow_connect_gets_connect_timeout_not_read_timeout() {
    // A TLS handshake that never completes keeps the request in its connect phase, which
    // is bounded by connect_timeout; read_timeout only starts once connected.
    let server = Server::start("127.0.0.1:0", |_| Reply::Silent).await;
    let policy = FetchPolicy {
        connect_timeout: Duration::from_millis(800),
        read_timeout: Duration::from_millis(200),
        ..allow_loopback()
    };
    let started = Instant::now();
    let err = get(
        &fetcher(policy),
        &format!("https://127.0.0.1:{}/", server.port()),
    )
    .await
    .expect_err("handshake stalls");
    assert!(matches!(err, FetchError::Timeout), "{err:?}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(3),
        "{took:?}"
    );
}
