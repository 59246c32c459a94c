/**
 * The modules of `tensor/` import each other without a circle: the test
 * parses every static `import … from` / `export … from` of every .ts file
 * under tensor/, builds the graph of the imports that exist at run time
 * (`import type` and imports of types only are erased by TypeScript, so they
 * cannot make a load-order circle and are left out), and fails naming each
 * circle it finds as `a.ts → b.ts → a.ts`.
 */
import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = normalize(join(dirname(fileURLToPath(import.meta.url)), ".."));
const DIR = join(ROOT, "tensor");

/** Every .ts file under `dir`, as absolute paths. */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) out.push(...tsFiles(p));
    else if (e.isFile && e.name.endsWith(".ts")) out.push(p);
  }
  return out.sort();
}

/** A static import or re-export and whether it survives type erasure. */
export interface ImportStatement {
  /** The module specifier. */
  specifier: string;
  /** 1-based line of the statement. */
  line: number;
  /** Whether it imports only types (`import type`, or every name marked `type`). */
  typeOnly: boolean;
}

/**
 * The static imports and re-exports of a module's source (comments and
 * strings inside statements are not a concern for this code base's style).
 *
 * @param src the source text
 * @returns the statements in source order
 */
export function parseImports(src: string): ImportStatement[] {
  const out: ImportStatement[] = [];
  // `import x from "m"`, `import { a, type B } from "m"`, `import * as n from "m"`,
  // `import "m"`, `export { a } from "m"`, `export * from "m"`, possibly over several lines.
  const re =
    /^(import|export)\s+(type\s+)?(\{[^}]*\}|\*\s+as\s+\w+|\*|\w+(?:\s*,\s*\{[^}]*\})?)\s*from\s*["']([^"']+)["']|^import\s+["']([^"']+)["']/gm;
  for (const m of src.matchAll(re)) {
    const line = src.slice(0, m.index).split("\n").length;
    if (m[5] !== undefined) {
      out.push({ specifier: m[5], line, typeOnly: false });
      continue;
    }
    const clause = m[3]!;
    let typeOnly = m[2] !== undefined;
    const braces = clause.match(/^\{([\s\S]*)\}$/);
    if (!typeOnly && braces) {
      const names = braces[1]!.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
      typeOnly = names.length > 0 && names.every((n) => n.startsWith("type "));
    }
    out.push({ specifier: m[4]!, line, typeOnly });
  }
  return out;
}

/** The run-time import graph of tensor/: file → the tensor/ files it imports. */
function graph(): Map<string, { to: string; line: number }[]> {
  const g = new Map<string, { to: string; line: number }[]>();
  for (const f of tsFiles(DIR)) {
    const edges: { to: string; line: number }[] = [];
    for (const s of parseImports(Deno.readTextFileSync(f))) {
      if (s.typeOnly || !s.specifier.startsWith(".")) continue;
      const to = normalize(join(dirname(f), s.specifier));
      if (to.startsWith(DIR + "/")) edges.push({ to, line: s.line });
    }
    g.set(f, edges);
  }
  return g;
}

/** Every elementary circle found by a depth-first search, each once (rotated to its least file). */
function circles(g: Map<string, { to: string; line: number }[]>): string[][] {
  const found = new Map<string, string[]>();
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (f: string) => {
    state.set(f, "open");
    path.push(f);
    for (const { to } of g.get(f) ?? []) {
      if (state.get(to) === "open") {
        const cyc = path.slice(path.indexOf(to));
        const least = cyc.indexOf([...cyc].sort()[0]!);
        const rot = [...cyc.slice(least), ...cyc.slice(0, least)];
        found.set(rot.join(" "), rot);
      } else if (!state.has(to)) visit(to);
    }
    path.pop();
    state.set(f, "done");
  };
  for (const f of g.keys()) if (!state.has(f)) visit(f);
  return [...found.values()];
}

Deno.test("parseImports tells run-time imports from type-only ones", () => {
  const src = `import type { A } from "./a.ts";
import { type B, type C } from "./b.ts";
import { type D, e } from "./c.ts";
import * as f from "./d.ts";
import {
  g,
  h,
} from "./e.ts";
export { i } from "./f.ts";
export type { J } from "./g.ts";
import "./h.ts";
`;
  assert.deepEqual(
    parseImports(src).map((s) => [s.specifier, s.line, s.typeOnly]),
    [
      ["./a.ts", 1, true],
      ["./b.ts", 2, true],
      ["./c.ts", 3, false],
      ["./d.ts", 4, false],
      ["./e.ts", 5, false],
      ["./f.ts", 9, false],
      ["./g.ts", 10, true],
      ["./h.ts", 11, false],
    ],
  );
});

Deno.test("tensor/ has no import circle", () => {
  const g = graph();
  assert.ok(g.size > 20, `expected the tensor/ modules, found ${g.size}`);
  const rel = (f: string) => relative(ROOT, f);
  const lineOf = (a: string, b: string) => g.get(a)!.find((e) => e.to === b)!.line;
  const found = circles(g).map((c) =>
    [...c, c[0]!].map((f, i, all) =>
      i + 1 < all.length ? `${rel(f)}:${lineOf(f, all[i + 1]!)}` : rel(f)
    ).join(" → ")
  );
  assert.deepEqual(
    found,
    [],
    `import circles in tensor/ (file:line of each import):\n${found.join("\n")}`,
  );
});
