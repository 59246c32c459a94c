/**
 * One training step of the headline model, timed: a 2-layer LSTM or GRU
 * (64 hidden) over 15 time steps of 49 features, batch 100, a Linear 64→49
 * head, MSE loss and Adam (lr 1e-3), on synthetic random data of the real
 * shapes; then generation as `examples/complete.ts` does it: feed 8 patches
 * of 1000 images, predict the next 8 with `step()`.
 *
 * ```sh
 * deno run -A bench/train_step.ts --backend cpu --cell lstm --json
 * DENO_WEBGPU_BACKEND=vulkan deno run -A bench/train_step.ts --backend webgpu --cell gru --json
 * ```
 *
 * Flags: `--backend cpu|webgpu`, `--cell lstm|gru`, `--unfused` (the reference
 * composition of basic ops instead of the fused kernels), `--steps N` (timed
 * steps, at least 20, after 3 warm-up steps), `--json` (one JSON object:
 * backend, adapter, cell, fused, msPerStep (median), imagesPerSecond,
 * generateImagesPerSecond, dispatchesPerStep (WebGPU)). Every timed step
 * ends with a readback of the loss, so the time includes all device work.
 *
 * @module
 */
import { init } from "../mod.ts";
import { BATCH, benchArgs, buildHeadline, GEN_IMAGES, median, timeSteps } from "./_headline.ts";

const HELP = `Usage: deno run -A bench/train_step.ts [options]

  --backend cpu|webgpu   backend (default cpu)
  --cell lstm|gru        recurrent cell (default lstm)
  --unfused              use the unfused reference instead of the fused kernels
  --steps N              timed training steps, at least 20 (default 20)
  --json                 print one JSON object
  --help                 this text`;

const WARMUP = 3;

const { values: args, fail } = benchArgs("train_step", HELP, {
  backend: { type: "string", default: "cpu" },
  cell: { type: "string", default: "lstm" },
  unfused: { type: "boolean", default: false },
  steps: { type: "string", default: "20" },
  json: { type: "boolean", default: false },
});
const backend = args.backend;
if (backend !== "cpu" && backend !== "webgpu") throw fail(`--backend must be cpu or webgpu`);
const cell = args.cell;
if (cell !== "lstm" && cell !== "gru") throw fail(`--cell must be lstm or gru`);
const steps = Number(args.steps);
if (!Number.isInteger(steps) || steps < 20) throw fail(`--steps must be an integer ≥ 20`);
const fused = !args.unfused;

const chosen = await init({ backend, log: !args.json });
const model = buildHeadline(cell, backend, fused);

const { times, counts, loss: lastLoss } = await timeSteps(() => model.train(), {
  warmup: WARMUP,
  steps,
});
const msPerStep = median(times);

await model.generate();
const genTimes: number[] = [];
for (let i = 0; i < 3; i++) {
  const t0 = performance.now();
  await model.generate();
  genTimes.push(performance.now() - t0);
}

const result = {
  backend,
  adapter: chosen.adapter?.description || chosen.adapter?.device || null,
  cell,
  fused,
  msPerStep: Number(msPerStep.toFixed(2)),
  imagesPerSecond: Math.round(BATCH / (msPerStep / 1000)),
  generateImagesPerSecond: Math.round(GEN_IMAGES / (median(genTimes) / 1000)),
  dispatchesPerStep: backend === "webgpu" ? median(counts) : null,
  steps,
  loss: Number(lastLoss.toFixed(6)),
};
if (args.json) console.log(JSON.stringify(result));
else {
  console.log(
    `${cell} ${fused ? "fused" : "unfused"} on ${backend}${
      result.adapter ? ` (${result.adapter})` : ""
    }: ${result.msPerStep} ms/step (median of ${steps}), ${result.imagesPerSecond} images/s, ` +
      `generation ${result.generateImagesPerSecond} images/s` +
      (backend === "webgpu" ? `, ${result.dispatchesPerStep} dispatches/step` : ""),
  );
}
