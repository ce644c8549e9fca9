//! `s3bench`: measures PUT then GET throughput of an S3 endpoint at a fixed concurrency,
//! signing with SigV4 (`UNSIGNED-PAYLOAD`, as rclone does). Prints one JSON line.
//!
//! `--endpoint` may list several nodes of one cluster, comma-separated: worker `w` PUTs
//! through node `w % n` and GETs what it wrote through node `(w + 1) % n`, so every read
//! crosses nodes.

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rand::RngCore;
use signing::sigv4;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser, Clone)]
struct Args {
    /// `http://host:port`, or several, comma-separated (one cluster's nodes).
    #[arg(long)]
    endpoint: String,
    #[arg(long)]
    access_key: String,
    #[arg(long)]
    secret_key: String,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    #[arg(long)]
    bucket: String,
    /// Object size in bytes.
    #[arg(long)]
    size: usize,
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Seconds per phase.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    #[arg(long, default_value = "bench")]
    prefix: String,
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

struct Target {
    args: Args,
    /// (base URL, Host header) per node.
    nodes: Vec<(String, String)>,
    client: HttpClient,
}

impl Target {
    async fn request(
        &self,
        node: usize,
        method: &str,
        key: &str,
        body: Bytes,
    ) -> Result<(u16, usize)> {
        let (endpoint, host) = &self.nodes[node % self.nodes.len()];
        let path = format!("/{}/{}", self.args.bucket, sigv4::uri_encode(key, true));
        let now = time::OffsetDateTime::now_utc();
        let amz_date = format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        let headers = vec![
            ("host".to_string(), host.clone()),
            (
                "x-amz-content-sha256".to_string(),
                sigv4::UNSIGNED_PAYLOAD.to_string(),
            ),
            ("x-amz-date".to_string(), amz_date.clone()),
        ];
        let scope = sigv4::Scope {
            amz_date: &amz_date,
            region: &self.args.region,
            service: "s3",
        };
        let req = sigv4::Request {
            method,
            path: &path,
            query: &[],
            headers: &headers,
            payload_hash: sigv4::UNSIGNED_PAYLOAD,
        };
        let auth = sigv4::authorization(&self.args.access_key, &self.args.secret_key, &scope, &req);
        let mut builder = http::Request::builder()
            .method(method)
            .uri(format!("{endpoint}{path}"))
            .header("authorization", auth)
            .header("content-length", body.len());
        for (k, v) in &headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let resp = self.client.request(builder.body(Full::new(body))?).await?;
        let status = resp.status().as_u16();
        let got = resp.into_body().collect().await?.to_bytes().len();
        Ok((status, got))
    }
}

#[derive(Default)]
struct Counters {
    ops: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    /// What each failure was: an HTTP status, or "transport" when none came back.
    error_kinds: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

async fn phase(
    target: Arc<Target>,
    put: bool,
    body: Bytes,
    keys_per_worker: Arc<Vec<AtomicU64>>,
) -> Result<(f64, f64, u64, serde_json::Value)> {
    let counters = Arc::new(Counters::default());
    let deadline = Instant::now() + Duration::from_secs_f64(target.args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..target.args.concurrency {
        let (target, counters, body, keys) = (
            target.clone(),
            counters.clone(),
            body.clone(),
            keys_per_worker.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i: u64 = 0;
            while Instant::now() < deadline {
                let key = format!("{}/{w}-{i}", target.args.prefix);
                let result = if put {
                    target.request(w, "PUT", &key, body.clone()).await
                } else {
                    let written = keys[w].load(Ordering::Relaxed).max(1);
                    let key = format!("{}/{w}-{}", target.args.prefix, i % written);
                    target.request(w + 1, "GET", &key, Bytes::new()).await
                };
                match result {
                    Ok((200, got)) => {
                        counters.ops.fetch_add(1, Ordering::Relaxed);
                        counters.bytes.fetch_add(
                            if put { body.len() } else { got } as u64,
                            Ordering::Relaxed,
                        );
                        if put {
                            keys[w].store(i + 1, Ordering::Relaxed);
                        }
                    }
                    other => {
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                        let kind = match other {
                            Ok((status, _)) => status.to_string(),
                            Err(_) => "transport".to_owned(),
                        };
                        let mut kinds = counters
                            .error_kinds
                            .lock()
                            .unwrap_or_else(|p| p.into_inner());
                        *kinds.entry(kind).or_default() += 1;
                    }
                }
                i += 1;
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let secs = started.elapsed().as_secs_f64();
    let ops = counters.ops.load(Ordering::Relaxed) as f64;
    let mb = counters.bytes.load(Ordering::Relaxed) as f64 / 1e6;
    let kinds = counters
        .error_kinds
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Ok((
        ops / secs,
        mb / secs,
        counters.errors.load(Ordering::Relaxed),
        serde_json::json!(kinds),
    ))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let mut nodes = Vec::new();
    for endpoint in args.endpoint.split(',') {
        let uri: http::Uri = endpoint.parse().context("endpoint")?;
        let host = uri
            .authority()
            .context("endpoint needs host:port")?
            .to_string();
        nodes.push((endpoint.trim_end_matches('/').to_owned(), host));
    }
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(args.concurrency * 2)
        .build(connector);
    let target = Arc::new(Target {
        args: args.clone(),
        nodes,
        client,
    });
    let mut data = vec![0u8; args.size];
    rand::rng().fill_bytes(&mut data);
    let body = Bytes::from(data);
    let keys: Arc<Vec<AtomicU64>> =
        Arc::new((0..args.concurrency).map(|_| AtomicU64::new(0)).collect());
    let (put_ops, put_mbps, put_errors, put_error_kinds) =
        phase(target.clone(), true, body.clone(), keys.clone()).await?;
    let (get_ops, get_mbps, get_errors, get_error_kinds) = phase(target, false, body, keys).await?;
    if put_ops == 0.0 || get_ops == 0.0 {
        bail!("no successful requests (put errors {put_errors}, get errors {get_errors})");
    }
    println!(
        "{}",
        serde_json::json!({
            "size": args.size, "concurrency": args.concurrency,
            "put_ops": put_ops, "put_mbps": put_mbps, "put_errors": put_errors,
            "put_error_kinds": put_error_kinds,
            "get_ops": get_ops, "get_mbps": get_mbps, "get_errors": get_errors,
            "get_error_kinds": get_error_kinds,
        })
    );
    Ok(())
}
