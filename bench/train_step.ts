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
import { parseArgs } from "node:util";
import { init, manualSeed, memory, noGrad, rand, type Tensor, tidy } from "../mod.ts";
import { GRU } from "../nn/gru.ts";
import { Linear } from "../nn/linear.ts";
import { mseLoss } from "../nn/losses.ts";
import { LSTM } from "../nn/lstm.ts";
import { Adam } from "../nn/optim.ts";

const HELP = `Usage: deno run -A bench/train_step.ts [options]

  --backend cpu|webgpu   backend (default cpu)
  --cell lstm|gru        recurrent cell (default lstm)
  --unfused              use the unfused reference instead of the fused kernels
  --steps N              timed training steps, at least 20 (default 20)
  --json                 print one JSON object
  --help                 this text`;

const BATCH = 100, T = 15, FEATURES = 49, HIDDEN = 64, LAYERS = 2, WARMUP = 3;
const GEN_IMAGES = 1000, GEN_FEED = 8, GEN_PREDICT = 8;

function fail(msg: string): never {
  console.error(`train_step: ${msg}\n\n${HELP}`);
  Deno.exit(2);
}

const { values: args } = (() => {
  try {
    return parseArgs({
      args: Deno.args,
      options: {
        backend: { type: "string", default: "cpu" },
        cell: { type: "string", default: "lstm" },
        unfused: { type: "boolean", default: false },
        steps: { type: "string", default: "20" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
    });
  } catch (e) {
    fail(e instanceof Error ? e.message : String(e));
  }
})();
if (args.help) {
  console.log(HELP);
  Deno.exit(0);
}
const backend = args.backend;
if (backend !== "cpu" && backend !== "webgpu") fail(`--backend must be cpu or webgpu`);
const cell = args.cell;
if (cell !== "lstm" && cell !== "gru") fail(`--cell must be lstm or gru`);
const steps = Number(args.steps);
if (!Number.isInteger(steps) || steps < 20) fail(`--steps must be an integer ≥ 20`);
const fused = !args.unfused;

const chosen = await init({ backend, log: !args.json });
manualSeed(0);
const opts = { numLayers: LAYERS, backend, fused } as const;
const rnn = cell === "lstm" ? new LSTM(FEATURES, HIDDEN, opts) : new GRU(FEATURES, HIDDEN, opts);
const head = new Linear(HIDDEN, FEATURES, { backend });
const opt = new Adam([...rnn.parameters(), ...head.parameters()], { lr: 1e-3 });
const x = rand([BATCH, T, FEATURES], { backend });
const target = rand([BATCH, T, FEATURES], { backend });

const dispatches = (): number => {
  const s = memory().backends.webgpu as { dispatches?: number } | undefined;
  return s?.dispatches ?? 0;
};

async function trainStep(): Promise<number> {
  const loss = tidy(() => {
    const { output } = rnn.forward(x);
    const l = mseLoss(head.forward(output), target);
    l.backward();
    return l;
  });
  opt.step();
  opt.zeroGrad();
  const v = await loss.item();
  loss.dispose();
  return v;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

for (let i = 0; i < WARMUP; i++) await trainStep();
const times: number[] = [], counts: number[] = [];
let lastLoss = NaN;
for (let i = 0; i < steps; i++) {
  const d0 = dispatches(), t0 = performance.now();
  lastLoss = await trainStep();
  times.push(performance.now() - t0);
  counts.push(dispatches() - d0);
}
const msPerStep = median(times);

/** Feed 8 patches of 1000 images, then predict 8 more, feeding each back with step(). */
async function generate(images: Tensor): Promise<void> {
  const last = noGrad(() =>
    tidy(() => {
      const r = rnn.forward(images);
      let state: Record<string, Tensor> = { ...r.state };
      let h = r.output.slice([0, GEN_FEED - 1, 0], [GEN_IMAGES, 1, HIDDEN])
        .reshape([GEN_IMAGES, HIDDEN]);
      let pred = head.forward(h);
      for (let k = 1; k < GEN_PREDICT; k++) {
        const s = rnn instanceof LSTM
          ? rnn.step(pred, state as { h: Tensor; c: Tensor })
          : rnn.step(pred, state as { h: Tensor });
        state = { ...s.state };
        h = s.output;
        pred = head.forward(h);
      }
      return pred;
    })
  );
  await last.data();
  last.dispose();
}
const images = rand([GEN_IMAGES, GEN_FEED, FEATURES], { backend });
await generate(images);
const genTimes: number[] = [];
for (let i = 0; i < 3; i++) {
  const t0 = performance.now();
  await generate(images);
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
