/**
 * The CPU backend's worker pool against one thread, interleaved in one
 * process so that both see the same machine load: the training step of the
 * headline model (as `train_step.ts`: 2 layers × 64 hidden, 15 steps of 49
 * features, batch 100, Linear head, MSE, Adam) and the generation of 1000
 * images, alternating 1 thread and the pool step by step; medians, the loss
 * of each (they must agree to the bit) and the pool's counters.
 *
 * ```sh
 * deno run -A bench/cpu_threads.ts --cell lstm [--steps 30] [--json]
 * ```
 *
 * The pool's thread count is `WGRAD_CPU_THREADS` (default min(2, cores)).
 * On a machine whose cores are busy with other programs the pool backs off to
 * one thread (`skipped` counts those jobs).
 *
 * @module
 */
import { init } from "../mod.ts";
import { arenaBytes } from "../tensor/cpu/arena.ts";
import { cpuThreads, poolReady, poolStats, setCpuThreads } from "../tensor/cpu/pool.ts";
import { benchArgs, buildHeadline, GEN_IMAGES, median } from "./_headline.ts";

const HELP = `Usage: deno run -A bench/cpu_threads.ts [options]

  --cell lstm|gru   recurrent cell (default lstm)
  --steps N         timed training steps per side, at least 5 (default 30)
  --json            print one JSON object
  --help            this text`;

const { values: args, fail } = benchArgs("cpu_threads", HELP, {
  cell: { type: "string", default: "lstm" },
  steps: { type: "string", default: "30" },
  json: { type: "boolean", default: false },
});
const cell = args.cell;
if (cell !== "lstm" && cell !== "gru") throw fail("--cell must be lstm or gru");
const steps = Number(args.steps);
if (!Number.isInteger(steps) || steps < 5) throw fail("--steps must be an integer ≥ 5");

await init({ backend: "cpu", log: false });
const threads = cpuThreads();
const pooled = await poolReady();

const models = [buildHeadline(cell, "cpu"), buildHeadline(cell, "cpu")]; // [one thread, pool]
const modes = [1, threads];
const trainMs: number[][] = [[], []], genMs: number[][] = [[], []], loss = [NaN, NaN];
for (let i = 0; i < steps + 3; i++) {
  for (const m of [0, 1]) {
    setCpuThreads(modes[m]!);
    const t0 = performance.now();
    loss[m] = await models[m]!.train();
    if (i >= 3) trainMs[m]!.push(performance.now() - t0);
  }
}
for (let i = 0; i < 6; i++) {
  for (const m of [0, 1]) {
    setCpuThreads(modes[m]!);
    const t0 = performance.now();
    await models[m]!.generate();
    if (i >= 1) genMs[m]!.push(performance.now() - t0);
  }
}
setCpuThreads(null);
const result = {
  cell,
  threads,
  pooled,
  load: (await Deno.readTextFile("/proc/loadavg").catch(() => "")).split(" ")[0] ?? "",
  msPerStep: trainMs.map((t) => Number(median(t).toFixed(2))),
  generateImagesPerSecond: genMs.map((t) => Math.round(GEN_IMAGES / (median(t) / 1000))),
  loss: loss.map((l) => Number(l.toFixed(6))),
  sameLoss: Object.is(loss[0], loss[1]),
  pool: poolStats(),
  arenaMiB: Number((arenaBytes() / 2 ** 20).toFixed(1)),
};
if (args.json) console.log(JSON.stringify(result));
else {
  console.log(
    `${cell}: 1 thread ${result.msPerStep[0]} ms/step, ${result.generateImagesPerSecond[0]} ` +
      `generated images/s; ${threads} threads${pooled ? "" : " (pool off)"} ` +
      `${result.msPerStep[1]} ms/step, ${result.generateImagesPerSecond[1]} images/s; ` +
      `loss ${result.loss[0]} / ${result.loss[1]}; load ${result.load}; ` +
      `pool ${JSON.stringify(result.pool)}; shared arena ${result.arenaMiB} MiB`,
  );
}
