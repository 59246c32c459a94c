/**
 * One training step of the row classifier of `examples/classify.ts`, timed:
 * LSTM(28 → 128) over 28 rows, Linear(128 → 10) on the last step,
 * cross-entropy, RMSprop (lr 1e-3, rho 0.9, eps 1e-7), batch 128, on random
 * data of the real shapes (the step of `bench/_models.ts`, which
 * `bench/vs_torch.ts --cases classify` times beside PyTorch).
 *
 * ```sh
 * deno run -A bench/classify_step.ts --backend cpu --json
 * DENO_WEBGPU_BACKEND=vulkan deno run -A bench/classify_step.ts --backend webgpu --json
 * ```
 *
 * Flags: `--backend cpu|webgpu`, `--steps N` (timed steps, at least 20, after
 * 3 warm-up steps), `--json` (one JSON object: backend, adapter, msPerStep
 * (median), imagesPerSecond, dispatchesPerStep (WebGPU), steps, loss). Every
 * timed step ends with a readback of the loss, so the time includes all
 * device work.
 *
 * @module
 */
import { init } from "../mod.ts";
import { benchArgs, median, timeSteps } from "./_headline.ts";
import { buildClassifyStep } from "./_models.ts";

const HELP = `Usage: deno run -A bench/classify_step.ts [options]

  --backend cpu|webgpu   backend (default cpu)
  --steps N              timed training steps, at least 20 (default 20)
  --json                 print one JSON object
  --help                 this text`;

const WARMUP = 3;
const BATCH = 128;

const { values: args, fail } = benchArgs("classify_step", HELP, {
  backend: { type: "string", default: "cpu" },
  steps: { type: "string", default: "20" },
  json: { type: "boolean", default: false },
});
const backend = args.backend;
if (backend !== "cpu" && backend !== "webgpu") throw fail(`--backend must be cpu or webgpu`);
const steps = Number(args.steps);
if (!Number.isInteger(steps) || steps < 20) throw fail(`--steps must be an integer ≥ 20`);

const chosen = await init({ backend, log: !args.json });
const { times, counts, loss } = await timeSteps(buildClassifyStep(backend), {
  warmup: WARMUP,
  steps,
});
const msPerStep = median(times);
const result = {
  backend,
  adapter: chosen.adapter?.description || chosen.adapter?.device || null,
  msPerStep: Number(msPerStep.toFixed(2)),
  imagesPerSecond: Math.round(BATCH / (msPerStep / 1000)),
  dispatchesPerStep: backend === "webgpu" ? median(counts) : null,
  steps,
  loss: Number(loss.toFixed(6)),
};
if (args.json) console.log(JSON.stringify(result));
else {
  console.log(
    `row classifier step on ${backend}${result.adapter ? ` (${result.adapter})` : ""}: ` +
      `${result.msPerStep} ms/step (median of ${steps}), ${result.imagesPerSecond} images/s` +
      (backend === "webgpu" ? `, ${result.dispatchesPerStep} dispatches/step` : ""),
  );
}
