/**
 * Checkpoints: save/load round trips with PyTorch state-dict names, atomic
 * writes that leave no temporary files, errors that name the file and the
 * tensor (wrong shape, missing or unexpected key, truncated file, not a
 * safetensors file), all-or-nothing loads, and optimizer state saved with
 * saveTensors/loadTensors for resuming.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { manualSeed, type Tensor, tensor } from "../mod.ts";
import {
  BatchNorm1d,
  decodeSafetensors,
  Linear,
  load,
  loadBytes,
  loadTensors,
  ReLU,
  save,
  saveTensors,
  Sequential,
} from "../nn/mod.ts";
import { Adam } from "../nn/optim.ts";
import { assertClose } from "./_gradcheck.ts";

const cpu = { backend: "cpu" } as const;
const vals = async (t: Tensor) => Array.from(await t.data());

function model(hidden = 4): Sequential {
  return new Sequential(
    new Linear(3, hidden, cpu),
    new BatchNorm1d(hidden, cpu),
    new ReLU(),
    new Linear(hidden, 2, cpu),
  );
}

async function snapshot(m: Sequential): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const [k, v] of Object.entries(m.stateDict())) out[k] = await vals(v);
  return out;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "wgrad_ckpt_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const listDir = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

Deno.test("save/load round-trips every parameter and buffer under PyTorch names", async () => {
  await withDir(async (dir) => {
    manualSeed(1);
    const a = model();
    a.forward(tensor([[1, 2, 3], [0, -1, 2]], undefined, cpu)); // moves the running stats
    const path = join(dir, "model.safetensors");
    await save(path, a, { metadata: { epoch: "3" } });
    const file = decodeSafetensors(await Deno.readFile(path), path);
    assert.deepEqual(Object.keys(file.tensors).sort(), [
      "0.bias",
      "0.weight",
      "1.bias",
      "1.num_batches_tracked",
      "1.running_mean",
      "1.running_var",
      "1.weight",
      "3.bias",
      "3.weight",
    ]);
    assert.ok(Object.values(file.tensors).every((t) => t.storedDtype === "F32"));
    assert.deepEqual(file.tensors["0.weight"]!.shape, [4, 3]);
    assert.deepEqual(file.tensors["1.num_batches_tracked"]!.shape, []);
    manualSeed(2);
    const b = model();
    const meta = await load(path, b);
    assert.equal(meta.epoch, "3");
    assert.deepEqual(await snapshot(b), await snapshot(a));
    assert.deepEqual(listDir(dir), ["model.safetensors"], "no temporary files are left");
    // Saving again replaces the file atomically.
    a.forward(tensor([[1, 1, 1], [2, 2, 2]], undefined, cpu));
    await save(path, a);
    await load(path, b);
    assert.deepEqual(await snapshot(b), await snapshot(a));
    assert.deepEqual(listDir(dir), ["model.safetensors"]);
    a.dispose();
    b.dispose();
  });
});

Deno.test("a failed write reports the path and leaves no temporary file", async () => {
  await withDir(async (dir) => {
    const m = model();
    // Parent folders are created, but not under a regular file.
    await Deno.writeTextFile(join(dir, "file"), "x");
    const path = join(dir, "file", "model.safetensors");
    await assert.rejects(save(path, m), (e: Error) => {
      assert.match(e.message, /^Cannot write '.*file\/model\.safetensors': /);
      return true;
    });
    assert.deepEqual(listDir(dir), ["file"]);
    await save(join(dir, "new", "model.safetensors"), m);
    assert.deepEqual(listDir(join(dir, "new")), ["model.safetensors"]);
    m.dispose();
  });
});

Deno.test("load errors name the file and the tensor, and a failed load changes nothing", async () => {
  await withDir(async (dir) => {
    const small = model(4), big = model(5);
    const path = join(dir, "x.safetensors");
    await save(path, small);
    const before = await snapshot(big);
    await assert.rejects(
      load(path, big),
      new RegExp(
        `^ShapeError: Cannot load '0\\.weight' from '${path}': expected shape \\[5, 3\\], got \\[4, 3\\]$`,
      ),
    );
    assert.deepEqual(await snapshot(big), before, "nothing was written by the failed load");

    // Missing and unexpected tensors.
    const sd = small.stateDict();
    const partial = Object.fromEntries(Object.entries(sd).filter(([k]) => k !== "3.bias"));
    const p2 = join(dir, "partial.safetensors");
    await saveTensors(p2, partial);
    await assert.rejects(
      load(p2, small),
      new RegExp(`^Error: Cannot load '3\\.bias' from '${p2}': the file has no such tensor$`),
    );
    const p3 = join(dir, "extra.safetensors");
    await saveTensors(p3, { ...sd, "4.weight": sd["3.weight"]! });
    await assert.rejects(
      load(p3, small),
      new RegExp(`^Error: Cannot load '${p3}' into Sequential: unexpected tensor '4\\.weight'$`),
    );
    // strict: false loads what matches and ignores the rest.
    const other = model(4);
    await load(p3, other, { strict: false });
    assert.deepEqual(await snapshot(other), await snapshot(small));

    // A truncated file and a file that is not safetensors at all.
    const bytes = await Deno.readFile(path);
    const cut = join(dir, "cut.safetensors");
    await Deno.writeFile(cut, bytes.subarray(0, bytes.length - 10));
    await assert.rejects(
      load(cut, small),
      new RegExp(
        `^SafetensorsError: Cannot read tensor '.*' from '${cut}': .*\\(file truncated\\?\\)`,
      ),
    );
    const text = join(dir, "notes.txt");
    await Deno.writeTextFile(text, "these are not the tensors you are looking for");
    await assert.rejects(
      load(text, small),
      new RegExp(`^SafetensorsError: Cannot read '${text}': header length \\d+ goes beyond`),
    );
    await assert.rejects(
      load(join(dir, "nope.safetensors"), small),
      /^Error: Cannot read '.*nope\.safetensors': no such file$/,
    );
    assert.deepEqual(await snapshot(big), before);
    for (const m of [small, big, other]) m.dispose();
  });
});

Deno.test("loadBytes loads a file's bytes as load does, naming the given source in errors", async () => {
  await withDir(async (dir) => {
    manualSeed(2);
    const a = model(4), b = model(4), big = model(5);
    const path = join(dir, "m.safetensors");
    await save(path, a, { metadata: { note: "from bytes" } });
    const bytes = await Deno.readFile(path);
    assert.deepEqual(loadBytes(bytes, b), { note: "from bytes" });
    assert.deepEqual(await snapshot(b), await snapshot(a));
    const before = await snapshot(big);
    assert.throws(
      () => loadBytes(bytes, big, { source: "/models/m.safetensors" }),
      /^ShapeError: Cannot load '0\.weight' from '\/models\/m\.safetensors': expected shape \[5, 3\]/,
    );
    assert.throws(
      () => loadBytes(bytes.subarray(0, 20), big),
      /^SafetensorsError: Cannot read '<bytes>'/,
    );
    assert.deepEqual(await snapshot(big), before, "nothing was written by the failed loads");
    for (const m of [a, b, big]) m.dispose();
  });
});

Deno.test("saveTensors/loadTensors carry optimizer state and metadata for an exact resume", async () => {
  await withDir(async (dir) => {
    const x = tensor([[1, 2, 3], [-1, 0, 2], [0.5, 0.5, 0.5]], undefined, cpu);
    const y = tensor([[1, 0], [0, 1], [1, 1]], undefined, cpu);
    const train = (m: Sequential, opt: Adam, steps: number) => {
      for (let i = 0; i < steps; i++) {
        opt.zeroGrad();
        const d = m.forward(x).sub(y);
        const l = d.mul(d).mean();
        l.backward();
        opt.step();
      }
    };
    manualSeed(7);
    const ref = model();
    const refOpt = new Adam(ref.parameters(), { lr: 0.01 });
    train(ref, refOpt, 6);

    manualSeed(7);
    const a = model();
    const optA = new Adam(a.parameters(), { lr: 0.01 });
    train(a, optA, 3);
    const modelPath = join(dir, "model.safetensors"), optPath = join(dir, "optim.safetensors");
    await save(modelPath, a);
    const { state, ...rest } = optA.stateDict();
    await saveTensors(optPath, state, { metadata: { optimizer: JSON.stringify(rest) } });
    assert.deepEqual(listDir(dir), ["model.safetensors", "optim.safetensors"]);

    manualSeed(99);
    const b = model();
    const optB = new Adam(b.parameters(), { lr: 0.5 });
    await load(modelPath, b);
    const loaded = await loadTensors(optPath, cpu);
    assert.deepEqual(Object.keys(loaded.tensors).sort(), Object.keys(state).sort());
    optB.loadStateDict({ ...JSON.parse(loaded.metadata.optimizer!), state: loaded.tensors });
    for (const t of Object.values(loaded.tensors)) t.dispose();
    assert.equal(optB.lr, 0.01);
    assert.equal(optB.stepCount, 3);
    train(b, optB, 3);
    const got = await snapshot(b), want = await snapshot(ref);
    for (const k of Object.keys(want)) {
      assertClose(got[k]!, want[k]!, { rtol: 1e-6, atol: 1e-7, label: k });
    }
    for (const m of [ref, a, b]) m.dispose();
    for (const o of [refOpt, optA, optB]) o.dispose();
  });
});
