/**
 * The headline model as the benchmarks time it: a 2-layer recurrent network
 * of 64 hidden units over 15 steps of 49 features, batch 100, a Linear head,
 * MSE and Adam on random data; and the generation of 1000 images (8 patches
 * fed, 8 predicted one at a time through `step()`, each fed back).
 *
 * @module
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { manualSeed, memory, noGrad, rand, type Tensor, tidy } from "../mod.ts";
import { GRU } from "../nn/gru.ts";
import { Linear } from "../nn/linear.ts";
import { mseLoss } from "../nn/losses.ts";
import { LSTM } from "../nn/lstm.ts";
import { Adam } from "../nn/optim.ts";

/** Images per training step. */
export const BATCH = 100;
/** Images per generation run. */
export const GEN_IMAGES = 1000;
const T = 15, FEATURES = 49, HIDDEN = 64, LAYERS = 2, GEN_FEED = 8, GEN_PREDICT = 8;

/** A built headline model: one training step, one generation run. */
export interface Headline {
  /** One training step (forward, backward, Adam); resolves to its loss. */
  train(): Promise<number>;
  /** Complete {@link GEN_IMAGES} images; resolves once the result is read back. */
  generate(): Promise<void>;
}

/**
 * Build the model, its optimizer and its data from seed 0 (two calls give the
 * same weights and data).
 *
 * @param cell recurrent cell
 * @param backend where the tensors live
 * @param fused fused recurrent kernels (false: the reference composition of basic ops)
 */
export function buildHeadline(
  cell: "lstm" | "gru",
  backend: "cpu" | "webgpu",
  fused = true,
): Headline {
  manualSeed(0);
  const opts = { numLayers: LAYERS, backend, fused } as const;
  const rnn = cell === "lstm" ? new LSTM(FEATURES, HIDDEN, opts) : new GRU(FEATURES, HIDDEN, opts);
  const head = new Linear(HIDDEN, FEATURES, { backend });
  const opt = new Adam([...rnn.parameters(), ...head.parameters()], { lr: 1e-3 });
  const x = rand([BATCH, T, FEATURES], { backend });
  const target = rand([BATCH, T, FEATURES], { backend });
  const images = rand([GEN_IMAGES, GEN_FEED, FEATURES], { backend });
  return {
    async train(): Promise<number> {
      const loss = tidy(() => {
        const l = mseLoss(head.forward(rnn.forward(x).output), target);
        l.backward();
        return l;
      });
      opt.step();
      opt.zeroGrad();
      const v = await loss.item();
      loss.dispose();
      return v;
    },
    async generate(): Promise<void> {
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
    },
  };
}

/**
 * The median of `xs` (the mean of the middle two for an even count).
 *
 * @param xs the values (not modified)
 */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** WebGPU dispatches recorded so far in this process (0 on the CPU backend). */
function dispatches(): number {
  const s = memory().backends.webgpu as { dispatches?: number } | undefined;
  return s?.dispatches ?? 0;
}

/**
 * Time a training step: `warmup` untimed repetitions, then `steps` timed ones,
 * each ending with the readback its promise waits for.
 *
 * @param rep one repetition, resolving to its loss once it is read back
 * @param opts untimed and timed repetitions
 * @returns milliseconds and WebGPU dispatches of each timed step, and the last loss
 */
export async function timeSteps(
  rep: () => Promise<number>,
  opts: { warmup: number; steps: number },
): Promise<{ times: number[]; counts: number[]; loss: number }> {
  for (let i = 0; i < opts.warmup; i++) await rep();
  const times: number[] = [], counts: number[] = [];
  let loss = NaN;
  for (let i = 0; i < opts.steps; i++) {
    const d0 = dispatches(), t0 = performance.now();
    loss = await rep();
    times.push(performance.now() - t0);
    counts.push(dispatches() - d0);
  }
  return { times, counts, loss };
}

/**
 * Parse a benchmark's flags (all strings or booleans, `--help` added): print
 * `help` and exit 0 on `--help`; on a bad flag print the error and `help` and
 * exit 2.
 *
 * @param name the program's name, for errors
 * @param help its usage text
 * @param options its flags, as for `parseArgs`
 */
export function benchArgs<O extends ParseArgsOptionsConfig>(
  name: string,
  help: string,
  options: O,
) {
  const fail = (msg: string): never => {
    console.error(`${name}: ${msg}\n\n${help}`);
    Deno.exit(2);
  };
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(help);
    Deno.exit(0);
  }
  try {
    return { values: parseArgs({ args: Deno.args, options }).values, fail };
  } catch (e) {
    return fail(e instanceof Error ? e.message : String(e));
  }
}
