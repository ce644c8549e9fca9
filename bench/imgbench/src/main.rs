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
    /// Run only this task (`jpeg` or `png`).
    #[arg(long)]
    task: Option<String>,
}

struct Task {
    name: &'static str,
    file: &'static str,
    ops: &'static str,
    /// The same geometry, lossless and without decode-time shrinking: the reference.
    reference_ops: &'static str,
    ext: &'static str,
}

const TASKS: [Task; 2] = [
    Task {
        name: "jpeg",
        file: "2569067123_aca715a2ee_o.jpg",
        ops: "image/resize,m_fill,w_720,h_588/quality,Q_80/format,jpg",
        reference_ops: "image/rotate,0/resize,m_fill,w_720,h_588/format,png",
        ext: "jpg",
    },
    Task {
        name: "png",
        file: "alpha-premultiply-2048x1536-paper.png",
        ops: "image/resize,m_fill,w_720,h_540/format,png",
        reference_ops: "image/rotate,0/resize,m_fill,w_720,h_540/format,png",
        ext: "png",
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
        let reference = rgba(&image_bytes(render(
            &source,
            &pipeline(task.reference_ops)?,
            None,
            &limits,
        )?)?)?;
        let ours = rgba(&output)?;
        let sharp_path = args.out.join(format!("sharp-{}.{}", task.name, task.ext));
        let sharp_psnr = match std::fs::read(&sharp_path) {
            Ok(b) => {
                let s = rgba(&b)?;
                (s.0 == reference.0 && s.1 == reference.1).then(|| psnr(&s.2, &reference.2))
            }
            Err(_) => None,
        };

        for _ in 0..3 {
            render(&source, &p, None, &limits)?;
        }
        let done = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
        let started = Instant::now();
        let workers: Vec<_> = (0..args.concurrency)
            .map(|_| {
                let (source, p, done, limits) =
                    (source.clone(), p.clone(), done.clone(), limits.clone());
                std::thread::spawn(move || {
                    while Instant::now() < deadline {
                        if render(&source, &p, None, &limits).is_ok() {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
        let ops = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
        println!(
            "{}",
            serde_json::json!({
                "engine": "imgd", "task": task.name, "concurrency": args.concurrency, "ops": ops,
                "bytes": output.len(), "psnr": psnr(&ours.2, &reference.2), "sharp_psnr": sharp_psnr,
            })
        );
    }
    Ok(())
}
