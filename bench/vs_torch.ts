/**
 * Our CPU (or WebGPU) backend beside PyTorch on the same models, in one run:
 * the two sides alternate round by round (a few repetitions each) so that both
 * see the same machine load, and the medians and their ratio are printed.
 * PyTorch runs in a long-lived child process (`bench/reference/torch_worker.py`,
 * Debian's `python3-torch`, `OMP_WAIT_POLICY=PASSIVE`, its BLAS as it comes);
 * after each PyTorch round our side waits {@link SETTLE_MS} so that OpenBLAS's
 * idle threads, which spin for about 2^28 cycles after a call, have gone to
 * sleep and do not take a core from it; where it is missing the
 * table says so and shows our side alone.
 *
 * ```sh
 * deno run -A bench/vs_torch.ts                       # every case, CPU backend
 * deno run -A bench/vs_torch.ts --cases lstm,gen-lstm --rounds 9 --json
 * ```
 *
 * Cases: `lstm`, `gru` (one training step of the headline model, batch 100),
 * `gen-lstm`, `gen-gru` (completing 1,000 images: 8 patches in, 8 out, as
 * `examples/complete.ts` generates), `classify` (one step of the row
 * classifier, batch 128), `gan` (one GAN step, batch 128). Steps are compared
 * by time (ratio = ours / PyTorch's, lower is better), generation by images
 * per second (ratio = ours / PyTorch's, higher is better).
 *
 * @module
 */
import { init } from "../mod.ts";
import { benchArgs, buildHeadline, GEN_IMAGES, median } from "./_headline.ts";
import { buildClassifyStep, buildGanStep } from "./_models.ts";

const HELP = `Usage: deno run -A bench/vs_torch.ts [options]

  --cases a,b,...     cases to run (default lstm,gru,gen-lstm,gen-gru,classify,gan)
  --rounds N          alternating rounds per case (default 7)
  --reps N            repetitions per side per round (default 3)
  --backend cpu|webgpu  our backend (default cpu)
  --python PATH       Python with torch (default /usr/bin/python3)
  --torch-threads N   torch.set_num_threads(N) (default: PyTorch's own choice)
  --json              print one JSON object
  --help              this text`;

/**
 * Pause after each PyTorch round, ms: OpenBLAS's threads spin ≈ 2^28 cycles
 * (≈ 0.1 s) after a call, and while they do our side runs on one core (an
 * LSTM step measured 21.5 ms right after PyTorch's round against 18.5 ms
 * alone). Waiting instead of shortening their spin (OPENBLAS_THREAD_TIMEOUT)
 * leaves PyTorch as it runs for a user.
 */
const SETTLE_MS = 250;

const ALL = ["lstm", "gru", "gen-lstm", "gen-gru", "classify", "gan"] as const;
type Case = typeof ALL[number];

const { values: args, fail } = benchArgs("vs_torch", HELP, {
  cases: { type: "string", default: ALL.join(",") },
  rounds: { type: "string", default: "7" },
  reps: { type: "string", default: "3" },
  backend: { type: "string", default: "cpu" },
  python: { type: "string", default: "/usr/bin/python3" },
  torchThreads: { type: "string" },
  json: { type: "boolean", default: false },
});
const cases = args.cases.split(",").map((c) => c.trim()) as Case[];
for (const c of cases) if (!ALL.includes(c)) fail(`unknown case '${c}' (known: ${ALL.join(", ")})`);
const rounds = Number(args.rounds), reps = Number(args.reps);
if (!Number.isInteger(rounds) || rounds < 1) fail("--rounds must be a positive integer");
if (!Number.isInteger(reps) || reps < 1) fail("--reps must be a positive integer");
const backend = args.backend;
if (backend !== "cpu" && backend !== "webgpu") fail("--backend must be cpu or webgpu");

/** The PyTorch worker: one request per line, one answer per line. */
class Torch {
  #lines: AsyncIterator<string>;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #child: Deno.ChildProcess;
  readonly info: Record<string, unknown>;

  private constructor(child: Deno.ChildProcess, lines: AsyncIterator<string>, info: unknown) {
    this.#child = child;
    this.#lines = lines;
    this.#stdin = child.stdin.getWriter();
    this.info = info as Record<string, unknown>;
  }

  static async start(python: string, threads?: string): Promise<Torch | string> {
    const script = new URL("./reference/torch_worker.py", import.meta.url).pathname;
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(python, {
        args: [script],
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
        env: { OMP_WAIT_POLICY: "PASSIVE", ...(threads ? { TORCH_THREADS: threads } : {}) },
      }).spawn();
    } catch (e) {
      return `cannot start ${python}: ${e instanceof Error ? e.message : e}`;
    }
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
      new TransformStream<string, string>(
        {
          buf: "",
          transform(chunk, ctl) {
            const self = this as unknown as { buf: string };
            self.buf = (self.buf ?? "") + chunk;
            const parts = self.buf.split("\n");
            self.buf = parts.pop()!;
            for (const p of parts) if (p.trim()) ctl.enqueue(p);
          },
        } as Transformer<string, string> & { buf: string },
      ),
    )[Symbol.asyncIterator]();
    const first = await lines.next();
    if (first.done) {
      const status = await child.status;
      return `${python} ${script} exited with ${status.code} (is python3-torch installed?)`;
    }
    return new Torch(child, lines, JSON.parse(first.value));
  }

  async time(c: Case, n: number): Promise<number[]> {
    await this.#stdin.write(new TextEncoder().encode(JSON.stringify({ case: c, n }) + "\n"));
    const r = await this.#lines.next();
    if (r.done) throw new Error("the PyTorch worker stopped");
    return JSON.parse(r.value).ms;
  }

  async close(): Promise<void> {
    await this.#stdin.close();
    await this.#child.status;
  }
}

/** Our side of a case: one repetition, resolving once its result is read back. */
function ours(c: Case): () => Promise<unknown> {
  switch (c) {
    case "lstm":
    case "gru": {
      const m = buildHeadline(c, backend as "cpu" | "webgpu");
      return () => m.train();
    }
    case "gen-lstm":
    case "gen-gru": {
      const m = buildHeadline(c === "gen-lstm" ? "lstm" : "gru", backend as "cpu" | "webgpu");
      return () => m.generate();
    }
    case "classify":
      return buildClassifyStep(backend as "cpu" | "webgpu");
    case "gan":
      return buildGanStep(backend as "cpu" | "webgpu");
  }
}

const chosen = await init({ backend: backend as "cpu" | "webgpu", log: false });
const torch = await Torch.start(args.python, args.torchThreads);
const torchNote = typeof torch === "string" ? torch : null;

interface Row {
  case: Case;
  oursMs: number;
  torchMs: number | null;
  /** Steps: ours / PyTorch's time. Generation: ours / PyTorch's images per second. */
  ratio: number | null;
  oursImagesPerSecond?: number;
  torchImagesPerSecond?: number | null;
}
const rows: Row[] = [];
for (const c of cases) {
  const run = ours(c);
  // warm-up: at least 10 repetitions and 2 s (JIT tiers, the pool's first probes of each size)
  for (let i = 0, t0 = performance.now(); i < 10 || performance.now() - t0 < 2000; i++) await run();
  const mine: number[] = [], theirs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < reps; k++) {
      const t0 = performance.now();
      await run();
      mine.push(performance.now() - t0);
    }
    if (typeof torch !== "string") {
      theirs.push(...await torch.time(c, reps));
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      await run(); // untimed: after the pause our threads (and the core) start cold
    }
  }
  const a = median(mine), b = theirs.length ? median(theirs) : null;
  const gen = c.startsWith("gen-");
  const row: Row = {
    case: c,
    oursMs: Number(a.toFixed(2)),
    torchMs: b === null ? null : Number(b.toFixed(2)),
    ratio: b === null ? null : Number((gen ? b / a : a / b).toFixed(3)),
  };
  if (gen) {
    row.oursImagesPerSecond = Math.round(GEN_IMAGES / (a / 1000));
    row.torchImagesPerSecond = b === null ? null : Math.round(GEN_IMAGES / (b / 1000));
  }
  rows.push(row);
  if (!args.json) {
    console.log(
      `${c.padEnd(9)} ours ${row.oursMs.toFixed(1).padStart(7)} ms   PyTorch ${
        row.torchMs === null ? "      —" : row.torchMs.toFixed(1).padStart(7)
      } ms   ${
        row.ratio === null
          ? ""
          : gen
          ? `${row.oursImagesPerSecond} vs ${row.torchImagesPerSecond} images/s: ${row.ratio}× PyTorch's rate`
          : `${row.ratio}× PyTorch's time`
      }`,
    );
  }
}
if (typeof torch !== "string") await torch.close();

const result = {
  backend,
  adapter: chosen.adapter?.description || null,
  torch: torchNote ?? (torch as Torch).info,
  rounds,
  reps,
  rows,
};
if (args.json) console.log(JSON.stringify(result));
else {
  if (torchNote) console.log(`PyTorch not measured: ${torchNote}`);
  else {
    const t = (torch as Torch).info;
    console.log(
      `PyTorch ${t.torch}, ${t.threads} thread(s), BLAS ${
        (t.blas as { libblas: string }).libblas
      } (OPENBLAS_NUM_THREADS=${t.openblas_threads ?? "unset"}, OPENBLAS_THREAD_TIMEOUT=${
        t.openblas_timeout ?? "unset"
      })`,
    );
  }
}
