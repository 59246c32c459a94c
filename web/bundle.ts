/**
 * Bundling for the browser with Deno's own bundler (`deno bundle`, esbuild
 * inside; offline once the npm packages are cached): the page's app and the
 * CPU pool's worker module, each one self-contained ES module.
 *
 * @module
 */

/** The repository root. */
export const ROOT: URL = new URL("..", import.meta.url);

/**
 * Bundle entry points for the browser (`--platform browser`, ES modules).
 *
 * @param entries the entry points, relative to the repository root
 * @param opts `minify` the output
 * @returns each output file's text by its path relative to the common folder of
 *   the entries, e.g. `web/app.js` and `tensor/cpu/worker.js` (or `mod.js` alone)
 * @throws Error with the bundler's messages when bundling fails
 */
export async function bundle(
  entries: string[],
  opts: { minify?: boolean } = {},
): Promise<Map<string, string>> {
  const dir = await Deno.makeTempDir({ prefix: "wgrad_bundle_" });
  try {
    const args = ["bundle", "--quiet", "--platform", "browser", "--outdir", dir];
    if (opts.minify) args.push("--minify");
    const out = await new Deno.Command(Deno.execPath(), {
      args: [...args, ...entries],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    if (!out.success) {
      const msg = new TextDecoder().decode(out.stderr).trim();
      throw new Error(`Cannot bundle ${entries.join(", ")} for the browser:\n${msg}`);
    }
    const files = new Map<string, string>();
    const walk = async (sub: string) => {
      for await (const e of Deno.readDir(`${dir}/${sub}`)) {
        const rel = sub ? `${sub}/${e.name}` : e.name;
        if (e.isDirectory) await walk(rel);
        else if (e.isFile) files.set(rel, await Deno.readTextFile(`${dir}/${rel}`));
      }
    };
    await walk("");
    return files;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * The `node:` (or `npm:`) modules a bundle imports at its top level: what a
 * browser cannot load. Imports inside functions (`await import("node:…")`)
 * are not counted: they run only where the function is called.
 *
 * @param code a bundle's text
 * @returns the specifiers, in order of appearance
 */
export function topLevelHostImports(code: string): string[] {
  const re =
    /^(?:import|export)\s[^;]*?\bfrom\s*["']((?:node|npm):[^"']+)["']|^import\s*["']((?:node|npm):[^"']+)["']/gm;
  return [...code.matchAll(re)].map((m) => m[1] ?? m[2]!);
}
