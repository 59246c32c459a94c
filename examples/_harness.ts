/**
 * The run harness of the example programs. A program holds its data, its
 * model, its step and its pictures; the harness owns everything around them:
 *
 * - the output folder: created and checked writable before any training,
 *   stale `*.tmp-*` files of a killed run removed;
 * - the epoch loop: a progress bar (step, loss, images/s, elapsed<remaining),
 *   per-step metrics summed on the device and read back every `logEvery`
 *   steps, the divergence check, early stopping on a monitored metric, Ctrl-C;
 * - `metrics.jsonl` (one object per epoch), charts of any metric series,
 *   other files of the run (all written through a temporary file and a rename);
 * - the model checkpoint (safetensors, PyTorch state-dict names; the best or
 *   the last weights) and the resume state `resume.safetensors` (weights,
 *   optimizer moments, RNG state, epoch, best value and epoch, early-stopping
 *   counter, the settings and every metrics record).
 *
 * **One commit point.** At the end of an epoch the per-epoch pictures, the
 * model and the metrics line are written first and `resume.safetensors` last.
 * The resume state is the truth: `--resume` rewrites `metrics.jsonl` and the
 * model file from it and runs the next epoch again, so a run killed at any
 * moment and resumed gives the same metrics (timing fields aside) and the
 * same final model, byte for byte on the CPU backend, as a run that was never
 * interrupted.
 *
 * Test hook: with `WGRAD_TEST_PAUSE=<ms>` the harness prints
 * `harness: wrote <file> (epoch N)` on stderr after every file it writes and
 * waits that long after the one named by `WGRAD_TEST_PAUSE_AT` (or after
 * every one), so that a test can kill the process at exactly that point.
 *
 * @example
 * ```ts ignore
 * const run = await Run.open({ program: "demo", command: "deno run -A demo.ts", out: "out/demo",
 *   resume: false, config: { lr: 1e-3, seed: 1 }, explicit: new Set(), flags: FLAGS });
 * manualSeed(run.config.seed);
 * const model = new nn.Linear(4, 1), opt = new optim.Adam(model.parameters(), { lr: run.config.lr });
 * await run.track({ modules: { "": model }, optimizers: { adam: opt }, keep: "last" });
 * await run.fit({ epochs: 3, batches: (e) => data.batches(n, 32, { seed: 1, epoch: e }),
 *   step: (idx) => { ...; return { trainLoss: loss }; } });
 * await run.finish();
 * ```
 *
 * @module
 */
import { join } from "node:path";
import {
  data,
  type GeneratorState,
  getGeneratorState,
  keep,
  memory,
  nn,
  noGrad,
  type optim,
  setGeneratorState,
  stack,
  type Tensor,
  tidy,
} from "../mod.ts";
import {
  type FlagSpecs,
  fmt,
  formatDuration,
  kebab,
  oneLine,
  Progress,
  Stopwatch,
  valueProblem,
} from "./_cli.ts";

type SafetensorsTensor = nn.SafetensorsTensor;
type HostTensors = Record<string, SafetensorsTensor>;

/** The name of the resume state in the output folder. */
export const RESUME_FILE = "resume.safetensors";
/** The name of the metrics log in the output folder. */
export const METRICS_FILE = "metrics.jsonl";
/** Largest checkpoint file read (bytes): anything bigger is refused before it is read. */
export const MAX_CHECKPOINT_BYTES = 1 << 30;
/** Exit code after Ctrl-C (128 + SIGINT), as shells report it. */
export const EXIT_INTERRUPTED = 130;

const RESUME_FORMAT = "wgrad-run-resume";
const RESUME_VERSION = 1;
/** Fields of a metrics record that measure time: they differ between runs. */
export const TIMING_FIELDS = ["seconds", "trainSeconds", "imagesPerSecond"] as const;

// ---- files ----------------------------------------------------------------------

/**
 * Read and decode a safetensors file. The size is checked before the file is
 * read; errors name the file (`what` says what it is for: "the checkpoint").
 *
 * @param path the file
 * @param what what the file is, for the error message
 * @param hint text appended to the not-found error (e.g. how to make one)
 * @returns the tensors and the metadata
 */
export async function readSafetensorsFile(
  path: string,
  what: string,
  hint = "",
): Promise<nn.DecodedSafetensors> {
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new Error(`Cannot read ${what} '${path}': it is not a file`);
    if (info.size > MAX_CHECKPOINT_BYTES) {
      throw new Error(
        `Cannot read ${what} '${path}': it is ${info.size} bytes, more than the ` +
          `${MAX_CHECKPOINT_BYTES} bytes any checkpoint of these programs needs`,
      );
    }
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`Cannot find ${what} '${path}'${hint}`);
    throw e;
  }
  return nn.decodeSafetensors(bytes, path);
}

/**
 * Fail unless every value of every tensor is finite.
 *
 * @param tensors the tensors by name
 * @param source the file they came from, for the message
 * @throws Error naming the file, the tensor, the index and the value
 */
export function checkFinite(
  tensors: Record<string, { data: Float32Array | Float64Array }>,
  source: string,
): void {
  for (const [name, t] of Object.entries(tensors)) {
    const d = t.data;
    for (let i = 0; i < d.length; i++) {
      if (!Number.isFinite(d[i]!)) {
        throw new Error(
          `Cannot use '${source}': tensor '${name}' holds a non-finite value ` +
            `(${d[i]} at index ${i}); the run that wrote it had diverged`,
        );
      }
    }
  }
}

/**
 * A 28×28 PNG digit as 784 values in [0, 1], white digit on black as in
 * MNIST: a dark digit on a light background is inverted (and said so). The
 * size is checked in the PNG header before anything is decoded.
 *
 * @param path the PNG file
 * @param program the program's name, for the note about inverting
 * @returns 784 pixels, row-major
 */
export async function readDigitPng(path: string, program: string): Promise<Float32Array> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`Cannot find image '${path}'`);
    throw e;
  }
  let img: data.GrayImage;
  try {
    img = data.decodePngGray(bytes, { background: "black", expect: { width: 28, height: 28 } });
  } catch (e) {
    throw new Error(`Cannot read image '${path}': ${e instanceof Error ? e.message : String(e)}`);
  }
  const px = img.pixels.slice();
  const mean = px.reduce((a, b) => a + b, 0) / px.length;
  if (mean > 0.5) {
    for (let i = 0; i < px.length; i++) px[i] = 1 - px[i]!;
    console.error(`${program}: '${path}' looks like a dark digit on white; inverted it`);
  }
  return px;
}

/** Copy tensors to the host as F32 safetensors entries (one readback per tensor). */
export async function hostTensors(entries: Record<string, Tensor>): Promise<HostTensors> {
  const out: HostTensors = {};
  for (const [k, t] of Object.entries(entries)) {
    out[k] = { dtype: "F32", shape: [...t.shape], data: Float32Array.from(await t.data()) };
  }
  return out;
}

function prefixed<T>(rec: Record<string, T>, prefix: string): Record<string, T> {
  return Object.fromEntries(Object.entries(rec).map(([k, x]) => [prefix + k, x]));
}

function withPrefix<T>(all: Record<string, T>, prefix: string): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [k, v] of Object.entries(all)) {
    if (k.startsWith(prefix)) out[k.slice(prefix.length)] = v;
  }
  return out;
}

/** `valLoss` → `val_loss`. */
function snake(name: string): string {
  return kebab(name).replace(/-/g, "_");
}

// ---- the resume state -------------------------------------------------------------

/** A metrics record: one per epoch. */
export type MetricsRecord = Record<string, unknown> & { epoch: number };

/** The JSON part of the resume state. */
interface SavedState {
  version: number;
  program: string;
  /** Epochs finished. */
  epoch: number;
  /** The planned number of epochs. */
  epochs: number;
  /** Best value of the monitored metric (null before the first epoch). */
  best: number | null;
  bestEpoch: number;
  /** Epochs since the last improvement. */
  badEpochs: number;
  rng: GeneratorState;
  optimizers: Record<string, Omit<optim.OptimizerStateDict, "state">>;
  config: Record<string, unknown>;
  metrics: MetricsRecord[];
}

/** Weights and optimizer state on the host, as the resume state stores them. */
interface Snapshot {
  weights: HostTensors;
  optimJson: SavedState["optimizers"];
  optimTensors: HostTensors;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Check the fields of a saved state; every problem names the field. */
function checkState(s: unknown, program: string, fail: (why: string) => Error): SavedState {
  if (!isRecord(s)) throw fail("its state is not a JSON object");
  const int = (name: string, v: unknown, lo: number, hi: number, what = "") => {
    if (!Number.isSafeInteger(v) || (v as number) < lo || (v as number) > hi) {
      throw fail(
        `field '${name}' is ${JSON.stringify(v)} (expected an integer from ${lo} to ${hi}${what})`,
      );
    }
    return v as number;
  };
  if (s.version !== RESUME_VERSION) {
    throw fail(`field 'version' is ${JSON.stringify(s.version)} (this program reads version 1)`);
  }
  if (s.program !== program) {
    throw fail(`it is the resume state of '${String(s.program)}', not of ${program}`);
  }
  const epoch = int("epoch", s.epoch, 0, 1e6);
  int("epochs", s.epochs, 1, 1e6);
  int("bestEpoch", s.bestEpoch, 0, epoch, ", at most 'epoch'");
  int("badEpochs", s.badEpochs, 0, epoch, ", at most 'epoch'");
  if (s.best !== null && typeof s.best !== "number") {
    throw fail(`field 'best' is ${JSON.stringify(s.best)} (expected a number or null)`);
  }
  const rng = s.rng as GeneratorState;
  if (!isRecord(rng)) throw fail(`field 'rng' is ${JSON.stringify(rng)} (expected an object)`);
  try {
    const before = getGeneratorState();
    setGeneratorState(rng);
    setGeneratorState(before);
  } catch (e) {
    throw fail(`field 'rng': ${(e as Error).message}`);
  }
  if (!isRecord(s.optimizers)) throw fail("field 'optimizers' is not an object");
  for (const [name, o] of Object.entries(s.optimizers)) {
    if (!isRecord(o)) throw fail(`field 'optimizers.${name}' is not an object`);
    int(`optimizers.${name}.step`, o.step, 0, Number.MAX_SAFE_INTEGER);
  }
  if (!isRecord(s.config)) throw fail("field 'config' is not an object");
  if (!Array.isArray(s.metrics) || s.metrics.length !== epoch) {
    throw fail(`field 'metrics' does not hold one record for each of the ${epoch} epochs`);
  }
  s.metrics.forEach((r, i) => {
    if (!isRecord(r) || r.epoch !== i + 1) {
      throw fail(`field 'metrics' record ${i} is not the record of epoch ${i + 1}`);
    }
  });
  return s as unknown as SavedState;
}

// ---- the run ----------------------------------------------------------------------

/** Options of {@link Run.open}. */
export interface RunOptions<C extends Record<string, unknown>> {
  /** The program's name, used in messages and stored in the resume state ("complete"). */
  program: string;
  /** How to run the program again, for the "continue with" hint ("deno task complete"). */
  command: string;
  /** The output folder. */
  out: string;
  /** Continue the run saved in `out`. */
  resume: boolean;
  /** The run's settings as the flags give them (stored in the resume state). */
  config: C;
  /** The settings given on the command line: on resume, the others come from the saved run. */
  explicit: ReadonlySet<string>;
  /** The program's flags: saved settings that are flags are checked against them. */
  flags: FlagSpecs;
  /** Settings that a resumed run cannot change (the architecture): asking for another value fails. */
  fixed?: readonly (keyof C & string)[];
  /** The planned number of epochs when `--epochs` is not given (on resume: the saved plan). */
  epochs: number;
  /** Describe a (saved) configuration for messages, e.g. "lstm 2×64". */
  describe?: (config: Record<string, unknown>) => string;
}

/** What {@link Run.track} needs: the modules and optimizers of the run and what to keep. */
export interface TrackOptions {
  /** Modules by state-dict prefix (`""` for one model, `"generator."` …). */
  modules: Record<string, nn.Module>;
  /** Optimizers by name. */
  optimizers: Record<string, optim.Optimizer>;
  /** The model file in the output folder (default "model.safetensors"). */
  modelFile?: string;
  /** Which weights the model file holds: those of the best epoch (by `monitor`) or the last. */
  keep: "best" | "last";
  /** The metric that decides the best epoch, and early stopping (patience 0: off). */
  monitor?: { metric: string; mode: "min" | "max"; patience: number };
  /** Metadata of the model file (the architecture); the epoch and the monitored value are added. */
  metadata?: Record<string, string>;
}

/** What {@link Run.fit} needs: the epoch's batches, the step, the evaluation. */
export interface FitOptions {
  /** The batches of an epoch (1-based), as item indices. */
  batches(epoch: number): Iterable<Int32Array> & { length: number };
  /**
   * One training step on a batch, run inside `tidy`. Returns the step's metrics
   * as 0-d tensors holding batch means (e.g. `{ trainLoss: loss }`): they are
   * summed on the device, weighted by the batch size, and read back every
   * `logEvery` steps. Non-finite values stop the run (divergence).
   */
  step(batch: Int32Array, epoch: number): Record<string, Tensor>;
  /** Evaluation after an epoch's training; its numbers join the metrics record. */
  evaluate?(epoch: number): Promise<Record<string, number>>;
  /** Files of the epoch (pictures), written before the commit through {@link Run.write}. */
  afterEpoch?(epoch: number, record: MetricsRecord): Promise<void>;
  /** Extra fields of every metrics record (constant settings: lr, batch, backend). */
  extra?: Record<string, unknown>;
  /** The columns of the line printed per epoch: [label, metric]. */
  columns: [string, string][];
  /** Read the step metrics back every this many steps (default 10). */
  logEvery?: number;
  /** Unit of the progress bar's throughput (default "img/s"). */
  unit?: string;
}

/**
 * One training run in an output folder. Use it in this order: {@link Run.open}
 * (before loading data: it checks everything that can fail first), seed and
 * build the model, {@link Run.track}, {@link Run.fit}, then the final files
 * (through {@link Run.write}) and {@link Run.finish}.
 */
export class Run<C extends Record<string, unknown>> {
  /** The settings: the flags, or on resume the saved ones overridden by the flags given. */
  readonly config: C;
  /** The output folder. */
  readonly out: string;
  /** The program's name. */
  readonly program: string;
  /** Whether this run continues a saved one. */
  readonly resumed: boolean;
  /** The planned number of epochs. */
  readonly epochs: number;
  /** One record per finished epoch (those of the saved run first). */
  readonly records: MetricsRecord[] = [];

  #command: string;
  #saved: { state: SavedState; tensors: HostTensors } | null;
  #track: TrackOptions | null = null;
  #best: number | null = null;
  #bestEpoch = 0;
  #badEpochs = 0;
  #epoch = 0;
  #bestWeights: HostTensors | null = null;
  /** Depth of writes in progress: Ctrl-C waits for them. */
  #committing = 0;
  #interrupted = false;
  #onSigint: (() => void) | null = null;
  #written = new Set<string>();

  private constructor(
    opts: RunOptions<C>,
    config: C,
    epochs: number,
    saved: { state: SavedState; tensors: HostTensors } | null,
  ) {
    this.program = opts.program;
    this.#command = opts.command;
    this.out = opts.out;
    this.resumed = saved !== null;
    this.config = config;
    this.epochs = epochs;
    this.#saved = saved;
  }

  /**
   * Open a run: read and check the resume state (with `resume`), merge the
   * settings, then create the output folder, check that it is writable and
   * remove stale temporary files. Nothing is written before every check passed.
   *
   * @param opts program, folder, settings and flags
   * @returns the run
   */
  static async open<C extends Record<string, unknown>>(opts: RunOptions<C>): Promise<Run<C>> {
    let config = opts.config;
    let epochs = opts.epochs;
    let saved: { state: SavedState; tensors: HostTensors } | null = null;
    const resumePath = join(opts.out, RESUME_FILE);
    if (opts.resume) {
      const file = await readSafetensorsFile(
        resumePath,
        "the resume state",
        ": nothing to resume in this --out (run without --resume first)",
      );
      const fail = (why: string) => new Error(`Cannot resume from '${resumePath}': ${why}`);
      if (file.metadata.format !== RESUME_FORMAT || file.metadata.state === undefined) {
        throw fail(`it is not a resume state of ${opts.program}`);
      }
      let json: unknown;
      try {
        json = JSON.parse(file.metadata.state);
      } catch {
        throw fail("its saved state is not JSON");
      }
      const state = checkState(json, opts.program, fail);
      config = mergeConfig(opts, state.config, fail);
      checkFinite(file.tensors, resumePath);
      if (!opts.explicit.has("epochs")) epochs = state.epochs;
      saved = { state, tensors: file.tensors };
    }
    await prepareFolder(opts.out);
    const run = new Run(opts, config, epochs, saved);
    run.#listen();
    return run;
  }

  /** Epochs finished so far. */
  get epoch(): number {
    return this.#epoch;
  }

  /** The best epoch so far (0 before the first). */
  get bestEpoch(): number {
    return this.#bestEpoch;
  }

  /** The best value of the monitored metric so far (null before the first epoch). */
  get best(): number | null {
    return this.#best;
  }

  /** Whether early stopping has ended the run. */
  get stopped(): boolean {
    const m = this.#track?.monitor;
    return m !== undefined && m.patience > 0 && this.#badEpochs >= m.patience;
  }

  /**
   * A path in the output folder.
   *
   * @param name the file name
   */
  path(name: string): string {
    return join(this.out, name);
  }

  /**
   * Register the modules and optimizers of the run. On resume this loads the
   * saved weights, optimizer state and RNG state (all checked first), and
   * rewrites `metrics.jsonl` and the model file from the resume state, so
   * that records and weights of an epoch that was not committed are dropped.
   * A fresh run removes a previous run's resume state and metrics.
   *
   * @param opts modules, optimizers, what to keep and monitor
   */
  async track(opts: TrackOptions): Promise<void> {
    this.#track = opts;
    const saved = this.#saved;
    const resumePath = this.path(RESUME_FILE);
    if (!saved) {
      // A fresh run: a previous run's log goes, and the start is committed at once
      // (weights, RNG state), so that a kill in the first epoch can be resumed too.
      await removeIfThere(this.path(METRICS_FILE));
      await this.#atomically(async () => this.#writeResume(await this.#snapshot()));
      return;
    }
    const { state, tensors } = saved;
    const fail = (why: string) => new Error(`Cannot resume from '${resumePath}': ${why}`);
    // Check everything, then change anything.
    const names = Object.keys(opts.optimizers);
    const savedNames = Object.keys(state.optimizers);
    if (names.join() !== savedNames.join()) {
      throw fail(`it holds optimizers ${savedNames.join(", ")}, this run has ${names.join(", ")}`);
    }
    const load: [nn.Module, HostTensors][] = [];
    for (const [prefix, m] of Object.entries(opts.modules)) {
      load.push([m, withPrefix(tensors, `model.${prefix}`)]);
    }
    try {
      for (const [m, t] of load) checkLoadable(m, t);
      for (const [m, t] of load) m.loadStateDict(t);
      for (const [name, o] of Object.entries(opts.optimizers)) {
        o.loadStateDict({
          ...state.optimizers[name]!,
          state: withPrefix(tensors, `optim.${name}.`),
        });
      }
    } catch (e) {
      throw fail(e instanceof Error ? e.message : String(e));
    }
    setGeneratorState(state.rng);
    this.#epoch = state.epoch;
    this.#best = state.best;
    this.#bestEpoch = state.bestEpoch;
    this.#badEpochs = state.badEpochs;
    this.records.push(...state.metrics);
    const best = withPrefix(tensors, "best.");
    this.#bestWeights = Object.keys(best).length > 0 ? best : null;
    console.error(
      `${this.program}: resuming after epoch ${state.epoch} of ${this.epochs} from ${resumePath}`,
    );
    if (state.epoch === 0) {
      await removeIfThere(this.path(METRICS_FILE));
    } else {
      await this.write(METRICS_FILE, this.#metricsText());
      const weights = opts.keep === "best" ? this.#bestWeights : withPrefix(tensors, "model.");
      if (weights) await this.#writeModel(weights);
    }
  }

  /**
   * Train until the planned epoch count or early stopping. Each epoch: the
   * step over every batch (progress bar, device-side sums, divergence check),
   * the evaluation, `afterEpoch`, then the commit (model, metrics line,
   * resume state, in that order) and a printed line.
   *
   * @param opts batches, step, evaluation, columns
   */
  async fit(opts: FitOptions): Promise<void> {
    const track = this.#requireTrack();
    if (this.stopped) {
      console.error(
        `${this.program}: early stopping already ended this run at epoch ${this.#epoch}`,
      );
    } else if (this.#epoch >= this.epochs) {
      console.error(`${this.program}: all ${this.epochs} epochs are done; nothing to train`);
    }
    while (this.#epoch < this.epochs && !this.stopped) {
      const epoch = this.#epoch + 1;
      const watch = new Stopwatch();
      const batches = opts.batches(epoch);
      const train = await this.#trainPass(opts, batches, epoch);
      const trainSeconds = watch.seconds();
      const evaluated = opts.evaluate ? await opts.evaluate(epoch) : {};
      const m = track.monitor;
      let improved = true;
      if (m) {
        const v = { ...train.means, ...evaluated }[m.metric];
        if (typeof v !== "number") {
          throw new Error(`${this.program}: the monitored metric '${m.metric}' was not computed`);
        }
        if (!Number.isFinite(v)) {
          throw new Error(
            `Training diverged in epoch ${epoch}: ${m.metric} is ${v} ` +
              `(try a lower learning rate; the last saved epoch is ${this.#epoch})`,
          );
        }
        improved = this.#best === null ||
          (m.mode === "min" ? v < this.#best : v > this.#best);
        if (improved) this.#best = v;
      }
      const record: MetricsRecord = {
        epoch,
        ...train.means,
        ...evaluated,
        seconds: watch.seconds(),
        trainSeconds,
        imagesPerSecond: train.items / trainSeconds,
        ...(m ? { best: improved } : {}),
        ...opts.extra,
      };
      await opts.afterEpoch?.(epoch, record);
      await this.#commit(epoch, record, improved);
      const cols = opts.columns.map(([label, k]) => `  ${label} ${fmt(record[k] as number)}`);
      console.log(
        `epoch ${epoch}/${this.epochs}${cols.join("")}  ` +
          `${(record.imagesPerSecond as number).toFixed(0)} ${opts.unit ?? "img/s"}  ` +
          `${formatDuration(record.seconds as number)}${m && improved ? "  (best)" : ""}`,
      );
      if (this.stopped) {
        console.error(
          `${this.program}: early stopping after epoch ${epoch}: no better ${m!.metric} for ` +
            `${m!.patience} epochs (best ${fmt(this.#best!)} at epoch ${this.#bestEpoch})`,
        );
      }
    }
  }

  /**
   * Load the weights the model file holds (the best epoch's with `keep: "best"`)
   * into the modules, e.g. before the test evaluation.
   */
  restoreBest(): void {
    const track = this.#requireTrack();
    if (track.keep !== "best" || !this.#bestWeights) return;
    for (const [prefix, m] of Object.entries(track.modules)) {
      m.loadStateDict(withPrefix(this.#bestWeights, prefix));
    }
  }

  /**
   * Write a file of the run (atomically) in the output folder.
   *
   * @param name the file name (may include a sub-folder: "samples/epoch_020.png")
   * @param contents bytes or text
   */
  async write(name: string, contents: Uint8Array | string): Promise<void> {
    await this.#atomically(async () => {
      await data.writeFileAtomic(this.path(name), contents);
      this.#written.add(name);
      await testPause(name, this.#epoch);
    });
  }

  /**
   * Draw metric series of the records as a line chart and write it.
   *
   * @param name the SVG file name
   * @param chart title, axis labels, and the curves as [legend name, metric] pairs
   */
  async chart(
    name: string,
    chart: Omit<data.LineChartOptions, "series"> & { series: [string, string][] },
  ): Promise<void> {
    const x = this.records.map((r) => r.epoch);
    const svg = await data.lineChartSvg({
      ...chart,
      series: chart.series.map(([label, k]) => ({
        name: label,
        x,
        y: this.records.map((r) => typeof r[k] === "number" ? r[k] as number : NaN),
      })),
    });
    await this.write(name, svg);
  }

  /**
   * End the run: say which files were written and stop listening for Ctrl-C.
   */
  finish(): void {
    const files = [...this.#written].sort();
    if (files.length > 0) {
      console.error(`${this.program}: wrote ${files.join(", ")} to ${this.out}`);
    }
    this.close();
  }

  /** Stop listening for Ctrl-C (also done by {@link Run.finish}). */
  close(): void {
    if (this.#onSigint) {
      try {
        Deno.removeSignalListener("SIGINT", this.#onSigint);
      } catch {
        // not supported here
      }
      this.#onSigint = null;
    }
  }

  // ---- internals ----

  #requireTrack(): TrackOptions {
    if (!this.#track) throw new Error("Run.track() must be called before fit()");
    return this.#track;
  }

  async #trainPass(
    opts: FitOptions,
    batches: Iterable<Int32Array> & { length: number },
    epoch: number,
  ): Promise<{ means: Record<string, number>; items: number }> {
    const logEvery = opts.logEvery ?? 10;
    const total = batches.length;
    // Off a terminal, print a line about every 10% of the epoch, at steps where metrics are read.
    const every = logEvery * Math.max(1, Math.round(total / 10 / logEvery));
    const progress = new Progress({
      label: `epoch ${epoch}/${this.epochs}`,
      total,
      every,
      unit: opts.unit,
    });
    let names: string[] | null = null;
    let acc: Tensor | null = null;
    const sums: number[] = [];
    let pending = 0, pendingSteps = 0, items = 0, s = 0;
    for (const idx of batches) {
      const b = idx.length;
      const next: Tensor = tidy(() => {
        const metrics = opts.step(idx, epoch);
        const keys = Object.keys(metrics);
        if (names === null) names = keys;
        else if (keys.join() !== names.join()) {
          throw new Error(`${this.program}: the step's metrics changed from ${names} to ${keys}`);
        }
        return noGrad(() => {
          const vals = keys.map((k) => metrics[k]!);
          const v = vals.length === 1 ? vals[0]!.reshape([1]) : stack(vals);
          const add = v.mul(b);
          return acc ? acc.add(add) : add;
        });
      });
      acc?.dispose();
      acc = keep(next);
      pending += b;
      pendingSteps++;
      s++;
      let fields: Record<string, string> | undefined;
      if (pendingSteps >= logEvery || s === total) {
        const read = await acc.data();
        acc.dispose();
        acc = null;
        fields = {};
        names!.forEach((k, i) => {
          const v = read[i]!;
          if (!Number.isFinite(v)) {
            throw new Error(
              `Training diverged in epoch ${epoch} at step ${s}: ${k} is ${v} ` +
                `(try a lower learning rate; the last saved epoch is ${this.#epoch})`,
            );
          }
          sums[i] = (sums[i] ?? 0) + v;
          fields![k.replace(/^train(?=[A-Z])/, "").replace(/^./, (c) => c.toLowerCase())] = fmt(
            v / pending,
          );
        });
        items += pending;
        pending = 0;
        pendingSteps = 0;
      }
      progress.update(1, b, fields);
      if (this.#interrupted) this.#exitInterrupted();
    }
    (acc as Tensor | null)?.dispose();
    progress.done();
    if (Deno.env.get("WGRAD_DEBUG") === "1") console.error(JSON.stringify(memory()));
    const means: Record<string, number> = {};
    (names ?? []).forEach((k, i) => means[k] = sums[i]! / items);
    return { means, items };
  }

  /** The commit of an epoch: model, metrics line, then the resume state; Ctrl-C waits for it. */
  #commit(epoch: number, record: MetricsRecord, improved: boolean): Promise<void> {
    return this.#atomically(() => this.#commitFiles(epoch, record, improved));
  }

  async #commitFiles(epoch: number, record: MetricsRecord, improved: boolean): Promise<void> {
    const track = this.#track!;
    const snap = await this.#snapshot();
    if (improved) {
      this.#bestEpoch = epoch;
      this.#badEpochs = 0;
    } else this.#badEpochs++;
    if (track.keep === "best" && improved) this.#bestWeights = snap.weights;
    this.#epoch = epoch;
    this.records.push(record);
    if (track.keep === "last" || improved) await this.#writeModel(snap.weights);
    await this.write(METRICS_FILE, this.#metricsText());
    await this.#writeResume(snap);
  }

  /** The modules' weights and the optimizers' state, copied to the host. */
  async #snapshot(): Promise<Snapshot> {
    const track = this.#track!;
    const weights: HostTensors = {};
    for (const [prefix, m] of Object.entries(track.modules)) {
      Object.assign(weights, prefixed(await hostTensors(m.stateDict()), prefix));
    }
    const optimJson: SavedState["optimizers"] = {};
    const optimTensors: HostTensors = {};
    for (const [name, o] of Object.entries(track.optimizers)) {
      const { state, ...json } = o.stateDict();
      optimJson[name] = json;
      Object.assign(optimTensors, prefixed(await hostTensors(state), `${name}.`));
    }
    return { weights, optimJson, optimTensors };
  }

  /** Write the resume state: the commit point of an epoch (epoch 0: the run's start). */
  async #writeResume(snap: Snapshot): Promise<void> {
    const track = this.#track!;
    const state: SavedState = {
      version: RESUME_VERSION,
      program: this.program,
      epoch: this.#epoch,
      epochs: this.epochs,
      best: this.#best,
      bestEpoch: this.#bestEpoch,
      badEpochs: this.#badEpochs,
      rng: getGeneratorState(),
      optimizers: snap.optimJson,
      config: this.config,
      metrics: this.records,
    };
    const tensors = {
      ...prefixed(snap.weights, "model."),
      ...(this.#bestWeights ? prefixed(this.#bestWeights, "best.") : {}),
      ...prefixed(snap.optimTensors, "optim."),
    };
    await this.write(
      RESUME_FILE,
      nn.encodeSafetensors(tensors, {
        ...track.metadata,
        format: RESUME_FORMAT,
        state: JSON.stringify(state),
      }),
    );
  }

  async #writeModel(weights: HostTensors): Promise<void> {
    const track = this.#track!;
    const meta: Record<string, string> = { ...track.metadata, epoch: String(this.#bestEpoch) };
    if (track.keep === "last") meta.epoch = String(this.#epoch);
    if (track.monitor && this.#best !== null) {
      meta[snake(track.monitor.metric)] = String(this.#best);
    }
    await this.write(track.modelFile ?? "model.safetensors", nn.encodeSafetensors(weights, meta));
  }

  #metricsText(): string {
    return this.records.map((r) => JSON.stringify(r) + "\n").join("");
  }

  /** Run `f` (writes); Ctrl-C during it takes effect once the outermost such call ends. */
  async #atomically(f: () => Promise<void>): Promise<void> {
    this.#committing++;
    try {
      await f();
    } finally {
      this.#committing--;
    }
    if (this.#interrupted && this.#committing === 0) this.#exitInterrupted();
  }

  #listen(): void {
    this.#onSigint = () => {
      this.#interrupted = true;
      if (this.#committing === 0) this.#exitInterrupted();
    };
    try {
      Deno.addSignalListener("SIGINT", this.#onSigint);
    } catch {
      this.#onSigint = null; // no signals here (e.g. Windows without a console)
    }
  }

  #exitInterrupted(): never {
    const last = this.#epoch;
    console.error(
      `\n${this.program}: interrupted; ` +
        (last > 0
          ? `epoch ${last} is saved in ${this.out}. Continue with: ` +
            `${this.#command} --resume --out ${this.out}`
          : "no epoch had finished, nothing to resume"),
    );
    Deno.exit(EXIT_INTERRUPTED);
  }
}

/** On resume: the saved settings, overridden by those given again; fixed ones may not change. */
function mergeConfig<C extends Record<string, unknown>>(
  opts: RunOptions<C>,
  saved: Record<string, unknown>,
  fail: (why: string) => Error,
): C {
  const merged: Record<string, unknown> = {};
  for (const [k, now] of Object.entries(opts.config)) {
    if (!Object.hasOwn(saved, k)) throw fail(`field 'config.${k}' is missing`);
    const v = saved[k];
    const spec = opts.flags[k];
    const problem = spec
      ? valueProblem(v, spec)
      : typeof v !== typeof now
      ? `is not a ${typeof now}`
      : null;
    if (problem) throw fail(`field 'config.${k}' is ${JSON.stringify(v)}: it ${problem}`);
    merged[k] = v;
  }
  const changed = (opts.fixed ?? []).filter((k) =>
    opts.explicit.has(k) && saved[k] !== opts.config[k]
  );
  if (changed.length > 0) {
    const was = opts.describe
      ? opts.describe(saved)
      : changed.map((k) => `--${kebab(k)} ${saved[k]}`).join(" ");
    throw fail(
      `it was saved for ${was}, but ` +
        `${changed.map((k) => `--${kebab(k)} ${opts.config[k]}`).join(" ")} was asked for ` +
        "(start a new run in another --out instead)",
    );
  }
  for (const k of opts.explicit) {
    if (Object.hasOwn(merged, k)) merged[k] = opts.config[k];
  }
  return merged as C;
}

/** Throw (changing nothing) unless the tensors fit the module's state dict exactly. */
function checkLoadable(m: nn.Module, t: HostTensors): void {
  const own = m.stateDict();
  const missing = Object.keys(own).filter((k) => !Object.hasOwn(t, k));
  const extra = Object.keys(t).filter((k) => !Object.hasOwn(own, k));
  if (missing.length || extra.length) {
    throw new Error(
      `its weights do not fit this model (${
        [
          missing.length ? `missing ${missing.join(", ")}` : "",
          extra.length ? `unexpected ${extra.join(", ")}` : "",
        ].filter(Boolean).join("; ")
      })`,
    );
  }
}

async function removeIfThere(path: string): Promise<void> {
  await Deno.remove(path).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
}

/** Create the folder, prove it writable, and remove temporary files a killed run left. */
async function prepareFolder(out: string): Promise<void> {
  const probe = join(out, `.wgrad-probe-${Deno.pid}`);
  try {
    await data.writeFileAtomic(probe, "");
    await Deno.remove(probe);
  } catch (e) {
    const msg = oneLine(e instanceof Error ? e.message : String(e));
    throw new Error(
      `Cannot write to --out '${out}': ${msg.replace(/^Cannot write '[^']*': /, "")}`,
    );
  }
  await removeStale(out);
}

async function removeStale(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isFile && /\.tmp-[0-9a-f]+$/.test(e.name)) await Deno.remove(p).catch(() => {});
    else if (e.isDirectory) await removeStale(p);
  }
}

/**
 * Test hook: with `WGRAD_TEST_PAUSE=<ms>` every write prints
 * `harness: wrote <file> (epoch N)` on stderr; the write named by
 * `WGRAD_TEST_PAUSE_AT` (e.g. `metrics.jsonl (epoch 2)`; default: every write)
 * then waits `ms`, so that a test can kill the process at exactly that point.
 */
async function testPause(name: string, epoch: number): Promise<void> {
  const ms = Number(Deno.env.get("WGRAD_TEST_PAUSE") ?? "");
  if (!(ms > 0)) return;
  const point = `${name} (epoch ${epoch})`;
  console.error(`harness: wrote ${point}`);
  const at = Deno.env.get("WGRAD_TEST_PAUSE_AT");
  if (at === undefined || at === point) await new Promise((r) => setTimeout(r, ms));
}
