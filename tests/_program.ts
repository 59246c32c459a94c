/**
 * Helpers of the end-to-end tests of the example programs: run a program as a
 * subprocess (with a clean environment, optional Deno permissions and a shell
 * prelude), stop it at a harness write point, and inspect what it wrote.
 *
 * @module
 */
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url);

/** What a finished program printed and returned. */
export interface Result {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/** Options of {@link runProgram}. */
export interface RunOptions {
  /** Environment variables to add. */
  env?: Record<string, string>;
  /** Environment variables the program must not see. */
  unset?: string[];
  /** Deno's permission flags (default `-A`). */
  deno?: string[];
  /** A bash prelude run before the program (e.g. `ulimit -f 16`). */
  shell?: string;
}

/** The environment of a program under test: ours, minus the harness test hooks. */
function environment(opts: RunOptions): Record<string, string> {
  const env: Record<string, string> = { ...Deno.env.toObject(), NO_COLOR: "1" };
  for (const k of ["WGRAD_TEST_PAUSE", "WGRAD_TEST_PAUSE_AT", ...(opts.unset ?? [])]) {
    delete env[k];
  }
  return { ...env, ...opts.env };
}

function command(
  program: string,
  args: string[],
  opts: RunOptions,
  stdout: "piped" | "null",
): Deno.Command {
  const denoArgs = ["run", ...(opts.deno ?? ["-A"]), program, ...args];
  const common = {
    cwd: ROOT,
    stdout,
    stderr: "piped" as const,
    env: environment(opts),
    clearEnv: true,
  };
  return opts.shell
    ? new Deno.Command("bash", {
      args: ["-c", `${opts.shell}; exec "$0" "$@"`, Deno.execPath(), ...denoArgs],
      ...common,
    })
    : new Deno.Command(Deno.execPath(), { args: denoArgs, ...common });
}

/**
 * Run a program to the end.
 *
 * @param program the file, relative to the repository root
 * @param args its arguments
 * @param opts environment, permissions, shell prelude
 */
export async function runProgram(
  program: string,
  args: string[],
  opts: RunOptions = {},
): Promise<Result> {
  const out = await command(program, args, opts, "piped").output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/**
 * Start a program, wait for a stderr line, then send it a signal. Given a
 * harness write point (`"metrics.jsonl (epoch 2)"`), the harness pauses right
 * after that write (`WGRAD_TEST_PAUSE_AT`), so the signal lands exactly there;
 * given a pattern, the signal is sent when a line matches it.
 *
 * @param program the file
 * @param args its arguments
 * @param at a harness write point, or a pattern of a stderr line
 * @param opts the signal (default SIGKILL) and how long the harness pauses (ms)
 * @returns the exit code (137 for SIGKILL) and stderr
 */
export async function runUntil(
  program: string,
  args: string[],
  at: string | RegExp,
  opts: { signal?: Deno.Signal; pause?: number } = {},
): Promise<{ code: number; stderr: string }> {
  const marker = typeof at === "string"
    ? new RegExp(`^harness: wrote ${at.replace(/[.()]/g, "\\$&")}$`)
    : at;
  const env: Record<string, string> = typeof at === "string"
    ? { WGRAD_TEST_PAUSE: String(opts.pause ?? 60_000), WGRAD_TEST_PAUSE_AT: at }
    : {};
  const child = command(program, args, { env }, "null").spawn();
  let text = "", sent = false;
  const dec = new TextDecoder();
  for await (const chunk of child.stderr) {
    text += dec.decode(chunk, { stream: true });
    if (!sent && text.split("\n").some((l) => marker.test(l))) {
      child.kill(opts.signal ?? "SIGKILL");
      sent = true;
    }
  }
  const status = await child.status;
  assert.ok(sent, `the run ended before ${marker}:\n${text}`);
  return { code: status.signal === "SIGKILL" ? 137 : status.code, stderr: text };
}

/**
 * Assert a failed run: the exit code, and a last line on stderr matching
 * `pattern`; unless `started`, that must be the only line besides the backend's.
 *
 * @param r the result
 * @param code the expected exit code
 * @param pattern the expected error line
 * @param started the program had begun its work (it may have printed progress)
 */
export function assertFails(r: Result, code: number, pattern: RegExp, started = false): void {
  assert.equal(r.code, code, `exit code; stderr:\n${r.stderr}`);
  const lines = r.stderr.trim().split("\n").filter((l) => !/^wgrad: using/.test(l));
  if (!started) assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines.at(-1)!, pattern);
}

/**
 * The sorted names in a folder; `[]` when it does not exist.
 *
 * @param dir the folder
 */
export async function files(dir: string): Promise<string[]> {
  try {
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    return names.sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/**
 * Width and height from a PNG's IHDR, after checking the signature.
 *
 * @param path the PNG file
 */
export async function pngSize(path: string): Promise<[number, number]> {
  const b = await Deno.readFile(path);
  assert.deepEqual([...b.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], `${path} is a PNG`);
  const v = new DataView(b.buffer, b.byteOffset);
  assert.deepEqual(new TextDecoder().decode(b.subarray(12, 16)), "IHDR");
  return [v.getUint32(16), v.getUint32(20)];
}

/**
 * The JSON lines of a metrics file.
 *
 * @param dir the output folder holding `metrics.jsonl`
 * @param drop fields to leave out (e.g. the timing fields)
 */
export async function metricLines(
  dir: string,
  drop: readonly string[] = [],
): Promise<Record<string, number>[]> {
  const text = await Deno.readTextFile(`${dir}/metrics.jsonl`);
  return text.trim().split("\n").map((l) => {
    const r = JSON.parse(l);
    for (const k of drop) delete r[k];
    return r;
  });
}
