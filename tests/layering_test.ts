/**
 * Layers never touch kernels: every `.ts` file in `nn/`, `data/`, `examples/`
 * and `web/` uses the tensor API only. The test reads each file, blanks its
 * comments (string contents stay, for import specifiers) and fails on:
 *
 * - `.storage`, `.backendImpl` or a tensor's `.buf` (backend memory);
 * - an import of `tensor/cpu/`, `tensor/webgpu/`, `tensor/wgsl/`, or of a
 *   routine's internals (`tensor/routines/registry.ts`, or any file of a
 *   routine folder but its `mod.ts`);
 * - `record` imported from `tensor/autograd.ts` (defining autograd ops
 *   belongs in `tensor/`);
 * - a branch on a backend instance's name (`.name === "webgpu"` and the like).
 *
 * Each violation is reported as `file:line: what — the line`.
 *
 * @module
 */
import assert from "node:assert/strict";

/** The folders whose files must stay on the tensor API. */
const LAYERS = ["nn", "data", "examples", "web"];

/** One rule broken at one place. */
interface Violation {
  file: string;
  line: number;
  what: string;
  text: string;
}

/**
 * `src` with every comment replaced by spaces (newlines kept), so line
 * numbers stay and prose about `.storage` does not count. Strings and
 * template literals are skipped over intact, or with `quoted` the contents
 * of '…' and "…" strings are blanked too (template literals stay: their
 * `${…}` parts are code).
 */
function blankComments(src: string, quoted = false): string {
  let out = "";
  let i = 0;
  while (i < src.length) {
    const c = src[i]!, d = src[i + 1];
    if (c === "/" && d === "/") {
      while (i < src.length && src[i] !== "\n") (out += " "), i++;
    } else if (c === "/" && d === "*") {
      const end = src.indexOf("*/", i + 2);
      const stop = end < 0 ? src.length : end + 2;
      for (; i < stop; i++) out += src[i] === "\n" ? "\n" : " ";
    } else if (c === '"' || c === "'" || c === "`") {
      out += c;
      i++;
      while (i < src.length && src[i] !== c) {
        const blank = quoted && c !== "`";
        if (src[i] === "\\") (out += blank ? " " : src[i]), i++;
        if (c !== "`" && src[i] === "\n") break; // unterminated: give up on this string
        out += blank && src[i] !== "\n" ? " " : src[i] ?? "";
        i++;
      }
      if (i < src.length) (out += src[i]), i++;
    } else (out += c), i++;
  }
  return out;
}

/** Whether an import specifier names backend or routine internals. */
function internalImport(spec: string): string | null {
  const m = spec.match(/(?:^|\/)tensor\/(.*)$/);
  if (!m) return null;
  const rest = m[1]!;
  if (/^(cpu|webgpu|wgsl)\//.test(rest)) return `imports backend internals (tensor/${rest})`;
  if (rest === "routines/registry.ts") {
    return "imports the routine registry (run routines by their mod.ts)";
  }
  const r = rest.match(/^routines\/([^/]+)\/(.+)$/);
  if (r && r[2] !== "mod.ts") {
    return `imports a routine's internals (tensor/${rest}; use tensor/routines/${r[1]}/mod.ts)`;
  }
  return null;
}

/**
 * The violations of one file's source text.
 *
 * @param file the name used in the messages
 * @param src the file's text
 */
export function violations(file: string, src: string): Violation[] {
  const lines = src.split("\n");
  const all = blankComments(src);
  const lineOf = (offset: number) => all.slice(0, offset).split("\n").length - 1;
  const code = blankComments(src, true).split("\n"), unquoted = all.split("\n");
  const found: Violation[] = [];
  const add = (i: number, what: string) =>
    found.push({ file, line: i + 1, what, text: lines[i]!.trim() });

  code.forEach((l, i) => {
    if (/\.storage\b/.test(l)) add(i, "uses .storage (backend memory)");
    if (/\.backendImpl\b/.test(l)) add(i, "uses .backendImpl (the backend's kernels)");
    if (/\.buf\b/.test(l)) add(i, "uses .buf (a tensor's memory)");
    if (
      /\.name\s*[!=]==?\s*["'`](cpu|webgpu)["'`]|["'`](cpu|webgpu)["'`]\s*[!=]==?\s*\w+\.name\b/
        .test(unquoted[i]!)
    ) {
      add(i, "branches on a backend's name");
    }
  });
  // Import and export-from statements (possibly spanning lines), and dynamic imports.
  const stmt =
    /\b(?:import|export)\b([^;]*?)\bfrom\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']|\bimport\s*["']([^"']+)["']/g;
  for (const m of all.matchAll(stmt)) {
    const spec = m[2] ?? m[3] ?? m[4]!;
    const at = lineOf(m.index! + m[0].length - 1);
    const why = internalImport(spec);
    if (why) add(at, why);
    if (m[2] && /(^|\/)tensor\/autograd\.ts$/.test(spec) && /\brecord\b/.test(m[1] ?? "")) {
      add(at, "imports record from tensor/autograd.ts (define autograd ops in tensor/)");
    }
  }
  return found;
}

async function* tsFiles(dir: string): AsyncGenerator<string> {
  const entries = [];
  for await (const e of Deno.readDir(dir)) entries.push(e);
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) yield* tsFiles(p);
    else if (e.isFile && e.name.endsWith(".ts")) yield p;
  }
}

const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

Deno.test("nn/, data/, examples/ and web/ use the tensor API only (no backend internals)", async () => {
  const found: Violation[] = [];
  let files = 0;
  for (const layer of LAYERS) {
    for await (const path of tsFiles(`${root}/${layer}`)) {
      files++;
      found.push(...violations(path.slice(root.length + 1), await Deno.readTextFile(path)));
    }
  }
  assert.ok(files > 20, `expected the layer folders to hold files, read ${files}`);
  assert.deepEqual(
    found.map((v) => `${v.file}:${v.line}: ${v.what} — ${v.text}`),
    [],
    "files outside tensor/ reach into backend internals",
  );
});

Deno.test("the layering check catches each kind of reach, naming file and line", () => {
  const src = [
    "/** p.storage in a comment is fine */",
    'import { record } from "../tensor/autograd.ts";',
    "import {",
    "  lstmStepKernel,",
    '} from "../tensor/routines/rnn/cpu.ts";',
    'import { CpuBackend } from "../tensor/cpu/backend.ts";',
    'import { runRoutine } from "../tensor/routines/registry.ts";',
    'import { lstmLayer } from "../tensor/routines/rnn/mod.ts"; // allowed',
    "const s = x.storage; // storage",
    "x.backendImpl.fill(s, 0);",
    'if (be.name !== "webgpu") go();',
    "const r = t.buf.refs;",
    'const msg = "the .storage of a string is text";',
  ].join("\n");
  const got = violations("nn/bad.ts", src).map((v) => `${v.line}: ${v.what}`).sort();
  assert.deepEqual(got, [
    "10: uses .backendImpl (the backend's kernels)",
    "11: branches on a backend's name",
    "12: uses .buf (a tensor's memory)",
    "2: imports record from tensor/autograd.ts (define autograd ops in tensor/)",
    "5: imports a routine's internals (tensor/routines/rnn/cpu.ts; use tensor/routines/rnn/mod.ts)",
    "6: imports backend internals (tensor/cpu/backend.ts)",
    "7: imports the routine registry (run routines by their mod.ts)",
    "9: uses .storage (backend memory)",
  ]);
});
