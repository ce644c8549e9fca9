// sharp's side of the imaging benchmark: the same tasks as imgd's engine, measured in
// this process with the given number of operations in flight. Prints one JSON line per task.
// usage: node sharp_bench.js CORPUS_DIR SECONDS CONCURRENCY OUT_DIR
const path = require("path");
const fs = require("fs");
const sharp = require(path.join(process.env.SHARP_MODULES, "sharp"));

const [corpus, seconds, concurrency, outDir] = process.argv.slice(2);
const tasks = {
  jpeg: {
    input: fs.readFileSync(path.join(corpus, "2569067123_aca715a2ee_o.jpg")),
    run: (input) =>
      sharp(input).resize(720, 588, { fit: "cover", kernel: "lanczos3" }).jpeg({ quality: 80 }).toBuffer(),
    out: "sharp-jpeg.jpg",
  },
  png: {
    input: fs.readFileSync(path.join(corpus, "alpha-premultiply-2048x1536-paper.png")),
    run: (input) => sharp(input).resize(720, 540, { fit: "cover", kernel: "lanczos3" }).png().toBuffer(),
    out: "sharp-png.png",
  },
};

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
  console.log(JSON.stringify({ engine: "sharp", task: name, concurrency: Number(concurrency), ops: done / secs, vips: sharp.versions.vips }));
}

(async () => {
  for (const name of Object.keys(tasks)) await measure(name);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
