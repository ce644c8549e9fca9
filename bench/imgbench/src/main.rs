//! `imgbench`: runs sharp's benchmark tasks through imgd's engine in this process with
//! N threads, prints ops/s as JSON lines, writes the outputs, and computes each output's
//! PSNR (imgd's and, when present, sharp's) against a reference made by a full-resolution
//! Lanczos3 resize.

use anyhow::{Context, Result, bail};
use clap::Parser;
use imaging::engine::{Limits, Rendered, render};
use imaging::{Pipeline, Process};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    corpus: PathBuf,
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Where outputs go (and where sharp's outputs are looked for).
    #[arg(long)]
    out: PathBuf,
    /// Run only this task (a name from `TASKS`).
    #[arg(long)]
    task: Option<String>,
    /// Render this file once with `--ops` and exit (for peak-memory measurements).
    #[arg(long)]
    once: Option<PathBuf>,
    #[arg(long, default_value = "image/resize,w_720/quality,Q_80/format,jpg")]
    ops: String,
}

struct Task {
    name: &'static str,
    file: &'static str,
    ops: &'static str,
    /// The same geometry, lossless and without decode-time shrinking: the reference.
    /// None where no reference applies (filters: imgd's and sharp's are compared).
    reference_ops: Option<&'static str>,
    ext: &'static str,
}

const TASKS: [Task; 7] = [
    Task {
        name: "jpeg",
        file: "2569067123_aca715a2ee_o.jpg",
        ops: "image/resize,m_fill,w_720,h_588/quality,Q_80/format,jpg",
        reference_ops: Some("image/rotate,0/resize,m_fill,w_720,h_588/format,png"),
        ext: "jpg",
    },
    Task {
        name: "webp",
        file: "2569067123_aca715a2ee_o.jpg",
        ops: "image/resize,m_fill,w_720,h_588/quality,Q_80/format,webp",
        reference_ops: Some("image/rotate,0/resize,m_fill,w_720,h_588/format,png"),
        ext: "webp",
    },
    Task {
        name: "avif",
        file: "2569067123_aca715a2ee_o.jpg",
        ops: "image/resize,m_fill,w_720,h_588/quality,Q_50/format,avif",
        reference_ops: Some("image/rotate,0/resize,m_fill,w_720,h_588/format,png"),
        ext: "avif",
    },
    Task {
        name: "png",
        file: "alpha-premultiply-2048x1536-paper.png",
        ops: "image/resize,m_fill,w_720,h_540/format,png",
        reference_ops: Some("image/rotate,0/resize,m_fill,w_720,h_540/format,png"),
        ext: "png",
    },
    Task {
        name: "photo4000",
        file: "photo4000.jpg",
        ops: "image/resize,w_720/quality,Q_80/format,jpg",
        reference_ops: Some("image/rotate,0/resize,w_720/format,png"),
        ext: "jpg",
    },
    Task {
        name: "phone",
        file: "iphone_photo.jpg",
        ops: "image/resize,w_720/quality,Q_80/format,jpg",
        reference_ops: Some("image/rotate,0/resize,w_720/format,png"),
        ext: "jpg",
    },
    // A wide Gaussian (σ 10, cut at 5σ) over a 12-megapixel photo: filter cost.
    Task {
        name: "blur",
        file: "photo4000.jpg",
        ops: "image/blur,r_50,s_10/quality,Q_80/format,jpg",
        reference_ops: None,
        ext: "jpg",
    },
];

fn pipeline(ops: &str) -> Result<Pipeline> {
    match imaging::oss::parse_process(ops)? {
        Process::Pipeline(p) => Ok(p),
        Process::Style(_) => bail!("no styles here"),
    }
}

fn image_bytes(r: Rendered) -> Result<Vec<u8>> {
    match r {
        Rendered::Image { bytes, .. } => Ok(bytes),
        Rendered::Json(_) => bail!("expected an image"),
    }
}

/// Decodes any output to RGBA through the engine (PNG out, then the png crate would do;
/// comparing in the engine's own RGBA avoids a second decoder's colour handling).
fn rgba(bytes: &[u8]) -> Result<(u32, u32, Vec<u8>)> {
    let png = image_bytes(render(
        bytes,
        &pipeline("image/format,png")?,
        None,
        &Limits::default(),
    )?)?;
    let info = imaging::engine::sniff::probe(&png)?;
    let frame = imaging::engine::png::decode(&png, 1 << 30)?.to_rgba();
    Ok((info.width, info.height, frame.data))
}

/// PSNR in dB; `f64::INFINITY` (reported as JSON null) for identical images.
fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mut se = 0f64;
    let mut n = 0f64;
    for (pa, pb) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
        for c in 0..3 {
            let d = f64::from(pa[c]) - f64::from(pb[c]);
            se += d * d;
            n += 1.0;
        }
    }
    10.0 * (255.0f64.powi(2) / (se / n)).log10()
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(file) = &args.once {
        let source = std::fs::read(file).with_context(|| file.display().to_string())?;
        let bytes = image_bytes(render(
            &source,
            &pipeline(&args.ops)?,
            None,
            &Limits::default(),
        )?)?;
        println!("{}", bytes.len());
        return Ok(());
    }
    std::fs::create_dir_all(&args.out)?;
    for task in TASKS
        .iter()
        .filter(|t| args.task.as_deref().is_none_or(|only| only == t.name))
    {
        let source =
            Arc::new(std::fs::read(args.corpus.join(task.file)).with_context(|| task.file)?);
        let p = Arc::new(pipeline(task.ops)?);
        let limits = Limits::default();
        let output = image_bytes(render(&source, &p, None, &limits)?)?;
        std::fs::write(
            args.out.join(format!("imgd-{}.{}", task.name, task.ext)),
            &output,
        )?;
        // The reference: `rotate,0` as first step disables decode-time shrinking, since
        // only a leading resize may shrink in the DCT domain.
        let ours = rgba(&output)?;
        let sharp_path = args.out.join(format!("sharp-{}.{}", task.name, task.ext));
        let sharp = std::fs::read(&sharp_path).ok();
        let sharp_bytes = sharp.as_ref().map(Vec::len);
        let reference = match task.reference_ops {
            Some(ops) => Some(rgba(&image_bytes(render(
                &source,
                &pipeline(ops)?,
                None,
                &limits,
            )?)?)?),
            None => None,
        };
        let (ours_psnr, sharp_psnr) = match &reference {
            Some(reference) => {
                let sharp_psnr = match &sharp {
                    Some(b) => {
                        let s = rgba(b)?;
                        (s.0 == reference.0 && s.1 == reference.1).then(|| psnr(&s.2, &reference.2))
                    }
                    None => None,
                };
                (Some(psnr(&ours.2, &reference.2)), sharp_psnr)
            }
            // No reference: how close imgd's and sharp's results are to each other.
            None => match &sharp {
                Some(b) => {
                    let s = rgba(b)?;
                    let same = s.0 == ours.0 && s.1 == ours.1;
                    (same.then(|| psnr(&ours.2, &s.2)), None)
                }
                None => (None, None),
            },
        };

        // Rate against distortion: the lowest quality at which imgd's output is at least
        // as close to the reference as sharp's, and what it then weighs.
        let matched = match (sharp_psnr, &reference) {
            (Some(target), Some(reference)) if task.ops.contains("/quality,Q_") => {
                matched_quality(&source, task.ops, &reference.2, target, &limits)?
            }
            _ => None,
        };

        for _ in 0..3 {
            render(&source, &p, None, &limits)?;
        }
        let done = Arc::new(AtomicU64::new(0));
        let latencies = Arc::new(std::sync::Mutex::new(Vec::<f64>::new()));
        let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
        let started = Instant::now();
        let workers: Vec<_> = (0..args.concurrency)
            .map(|_| {
                let (source, p, done, limits, latencies) = (
                    source.clone(),
                    p.clone(),
                    done.clone(),
                    limits.clone(),
                    latencies.clone(),
                );
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        if render(&source, &p, None, &limits).is_ok() {
                            done.fetch_add(1, Ordering::Relaxed);
                            mine.push(t.elapsed().as_secs_f64() * 1000.0);
                        }
                    }
                    if let Ok(mut all) = latencies.lock() {
                        all.extend(mine);
                    }
                })
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
        let ops = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
        let mut lat = latencies.lock().map(|l| l.clone()).unwrap_or_default();
        lat.sort_by(f64::total_cmp);
        let p99_ms = lat
            .get((lat.len() * 99 / 100).min(lat.len().saturating_sub(1)))
            .copied();
        println!(
            "{}",
            serde_json::json!({
                "engine": "imgd", "task": task.name, "concurrency": args.concurrency, "ops": ops,
                "bytes": output.len(), "psnr": ours_psnr, "sharp_psnr": sharp_psnr,
                "sharp_bytes": sharp_bytes, "p99_ms": p99_ms,
                "matched": matched.map(|(q, bytes, psnr)| serde_json::json!({
                    "quality": q, "bytes": bytes, "psnr": psnr,
                })),
            })
        );
    }
    Ok(())
}

/// The lowest quality from the task's own upwards (in steps of 2) at which imgd's output
/// reaches `target` dB against `reference`: (quality, bytes, PSNR). `None` if even 100
/// does not.
fn matched_quality(
    source: &[u8],
    ops: &str,
    reference: &[u8],
    target: f64,
    limits: &Limits,
) -> Result<Option<(u32, usize, f64)>> {
    let Some((head, tail)) = ops.split_once("/quality,Q_") else {
        return Ok(None);
    };
    let (q, rest) = tail.split_at(tail.find('/').unwrap_or(tail.len()));
    let start: u32 = q.parse()?;
    for quality in (start..=100).step_by(2) {
        let p = pipeline(&format!("{head}/quality,Q_{quality}{rest}"))?;
        let bytes = image_bytes(render(source, &p, None, limits)?)?;
        let got = psnr(&rgba(&bytes)?.2, reference);
        if got >= target {
            return Ok(Some((quality, bytes.len(), got)));
        }
    }
    Ok(None)
}
