// sharp's side of the imaging benchmark: the same tasks as imgd's engine, measured in
// this process with the given number of operations in flight. Prints one JSON line per task.
// usage: node sharp_bench.js CORPUS_DIR SECONDS CONCURRENCY OUT_DIR
const path = require("path");
const fs = require("fs");
const sharp = require(path.join(process.env.SHARP_MODULES, "sharp"));

const [corpus, seconds, concurrency, outDir] = process.argv.slice(2);
const photo = fs.readFileSync(path.join(corpus, "2569067123_aca715a2ee_o.jpg"));
const photo4000 = fs.readFileSync(path.join(corpus, "photo4000.jpg"));
const fill720 = (input) => sharp(input).resize(720, 588, { fit: "cover", kernel: "lanczos3" });
const width720 = (input) => sharp(input).resize(720, null, { kernel: "lanczos3" });
const tasks = {
  jpeg: { input: photo, run: (i) => fill720(i).jpeg({ quality: 80 }).toBuffer(), out: "sharp-jpeg.jpg" },
  webp: { input: photo, run: (i) => fill720(i).webp({ quality: 80 }).toBuffer(), out: "sharp-webp.webp" },
  // sharp's AVIF defaults: quality 50, effort 4.
  avif: { input: photo, run: (i) => fill720(i).avif({ quality: 50, effort: 4 }).toBuffer(), out: "sharp-avif.avif" },
  png: {
    input: fs.readFileSync(path.join(corpus, "alpha-premultiply-2048x1536-paper.png")),
    run: (input) => sharp(input).resize(720, 540, { fit: "cover", kernel: "lanczos3" }).png().toBuffer(),
    out: "sharp-png.png",
  },
  photo4000: { input: photo4000, run: (i) => width720(i).jpeg({ quality: 80 }).toBuffer(), out: "sharp-photo4000.jpg" },
  phone: {
    input: fs.readFileSync(path.join(corpus, "iphone_photo.jpg")),
    run: (i) => width720(i).jpeg({ quality: 80 }).toBuffer(),
    out: "sharp-phone.jpg",
  },
  blur: { input: photo4000, run: (i) => sharp(i).blur(10).jpeg({ quality: 80 }).toBuffer(), out: "sharp-blur.jpg" },
};
const only = process.env.TASK;

async function measure(name) {
  const task = tasks[name];
  fs.writeFileSync(path.join(outDir, task.out), await task.run(task.input));
  for (let i = 0; i < 3; i++) await task.run(task.input); // warm-up
  const deadline = Date.now() + Number(seconds) * 1000;
  let done = 0;
  const start = process.hrtime.bigint();
  async function worker() {
    while (Date.now() < deadline) {
      await task.run(task.input);
      done++;
    }
  }
  await Promise.all(Array.from({ length: Number(concurrency) }, worker));
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(JSON.stringify({ engine: "sharp", task: name, concurrency: Number(concurrency), ops: done / secs, bytes: (await task.run(task.input)).length, vips: sharp.versions.vips }));
}

(async () => {
  for (const name of Object.keys(tasks)) if (!only || only === name) await measure(name);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
