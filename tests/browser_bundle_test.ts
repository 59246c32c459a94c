/**
 * The engine loads where there is no Deno and no Node: `mod.ts` and the CPU
 * pool's worker bundle for the browser with no `node:` import at their top,
 * and the `mod.ts` bundle, evaluated in a process whose `Deno` and `process`
 * globals were deleted first, runs a forward pass of the page's model from
 * checkpoint bytes (so no module uses `Deno.` or `process.` outside a
 * function on that path). The browser test (`web_test.ts`) runs the same
 * bundle in Chromium.
 *
 * @module
 */
import assert from "node:assert/strict";
import { bundle, topLevelHostImports } from "../web/bundle.ts";

Deno.test("mod.ts and the CPU worker bundle for the browser with no top-level node: import", async () => {
  const files = await bundle(["mod.ts", "tensor/cpu/worker.ts"]);
  assert.deepEqual([...files.keys()].sort(), ["mod.js", "tensor/cpu/worker.js"]);
  for (const [name, code] of files) {
    assert.deepEqual(topLevelHostImports(code), [], `${name} imports host modules at its top`);
  }
  // The scan finds what a browser could not load.
  assert.deepEqual(
    topLevelHostImports(
      'import { a } from "node:fs";\nexport { b } from "npm:x@1";\nimport "node:path";\n' +
        'async function f() { return await import("node:zlib"); }\n',
    ),
    ["node:fs", "npm:x@1", "node:path"],
  );

  // Evaluate the bundle with neither Deno nor process in sight.
  const dir = await Deno.makeTempDir({ prefix: "wgrad_nodeno_" });
  try {
    await Deno.writeTextFile(`${dir}/mod.js`, files.get("mod.js")!);
    const script = `
      delete globalThis.Deno;
      delete globalThis.process;
      const w = await import(${JSON.stringify(`file://${dir}/mod.js`)});
      const ready = await w.init({ backend: "cpu", log: false });
      w.manualSeed(3);
      const lstm = new w.nn.LSTM(4, 8, { numLayers: 2 });
      const bytes = w.nn.encodeSafetensors(Object.fromEntries(
        await Promise.all(Object.entries(lstm.stateDict()).map(async ([k, t]) =>
          [k, { dtype: "F32", shape: t.shape, data: await t.data() }]))));
      const again = new w.nn.LSTM(4, 8, { numLayers: 2 });
      w.nn.loadBytes(bytes, again, { source: "bytes" });
      const x = w.randn([2, 3, 4]);
      const a = await lstm.forward(x).output.data(), b = await again.forward(x).output.data();
      const patches = w.data.toPatches(new Uint8Array(784).fill(255), 1);
      let fileError = "";
      try { w.data.writeFileAtomicSync("x.txt", "no"); } catch (e) { fileError = String(e); }
      const loadError = await w.nn.load("m.safetensors", again).then(() => "", String);
      console.log(JSON.stringify({
        backend: ready.backend, same: a.every((v, i) => v === b[i]), n: a.length,
        patch: patches[48], fileError, loadError, deno: typeof Deno,
      }));
    `;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-config", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, err);
    const got = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
    assert.deepEqual(got, {
      backend: "cpu",
      same: true,
      n: 2 * 3 * 8,
      patch: 1,
      fileError: "Error: Cannot write 'x.txt': Cannot use node:fs: this runtime has no file " +
        "system (it needs Deno or Node)",
      loadError: "Error: Cannot read 'm.safetensors': this runtime has no file system (pass the " +
        "file's bytes to loadBytes)",
      deno: "undefined",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
