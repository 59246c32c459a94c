/**
 * The run harness (`examples/_harness.ts`) through `examples/complete.ts` on
 * tiny data: a run killed with SIGKILL at many moments (between each pair of
 * checkpoint writes, made deterministic by `WGRAD_TEST_PAUSE`) and resumed
 * gives the uninterrupted run's metrics and model byte for byte; Ctrl-C says
 * how to resume; and every bad input fails with a message naming the file or
 * flag, leaving nothing half-written.
 */
import assert from "node:assert/strict";
import { encodePng, pngHeader } from "../data/png.ts";
import { decodeSafetensors, encodeSafetensors, type SafetensorsTensor } from "../nn/safetensors.ts";
import { getGeneratorState, setGeneratorState } from "../mod.ts";
import { checkFinite, TIMING_FIELDS } from "../examples/_harness.ts";
import {
  assertFails,
  files,
  metricLines,
  type Result,
  type RunOptions,
  runProgram,
  runUntil,
} from "./_program.ts";

const PROGRAM = "examples/complete.ts";
/** Two steps of 100 images per epoch, one layer of 16 units: about a second per run. */
const TINY = [
  ..."--backend cpu --train-count 200 --val-count 100 --test-count 100".split(" "),
  ..."--hidden 16 --layers 1 --seed 3".split(" "),
];
const EPOCHS = ["--epochs", "3"];

function run(args: string[], opts: RunOptions = {}): Promise<Result> {
  return runProgram(PROGRAM, args, opts);
}

function until(
  args: string[],
  at: string | RegExp,
  opts?: { signal?: Deno.Signal; pause?: number },
) {
  return runUntil(PROGRAM, args, at, opts);
}

/** `--generate` with a checkpoint into `out`, plus `extra` flags. */
function generate(checkpoint: string, out: string, ...extra: string[]): Promise<Result> {
  return run([
    "--generate",
    "--backend",
    "cpu",
    "--checkpoint",
    checkpoint,
    ...extra,
    "--out",
    out,
  ]);
}

/** The metrics records without the fields that measure time. */
function metrics(dir: string): Promise<Record<string, number>[]> {
  return metricLines(dir, TIMING_FIELDS);
}

/** What must be equal to an uninterrupted run: metrics, model, test metrics, picture. */
async function outcome(dir: string) {
  return {
    metrics: await metrics(dir),
    model: await Deno.readFile(`${dir}/model.safetensors`),
    test: JSON.parse(await Deno.readTextFile(`${dir}/test_metrics.json`)),
    picture: await Deno.readFile(`${dir}/completions.png`),
  };
}

/** Rewrite the JSON state of a resume file with `edit`. */
async function editResume(path: string, edit: (s: Record<string, unknown>) => void) {
  const f = decodeSafetensors(await Deno.readFile(path));
  const state = JSON.parse(f.metadata.state!);
  edit(state);
  const t: Record<string, SafetensorsTensor> = {};
  for (const [k, v] of Object.entries(f.tensors)) {
    t[k] = { dtype: "F32", shape: v.shape, data: Float32Array.from(v.data) };
  }
  await Deno.writeFile(path, encodeSafetensors(t, { ...f.metadata, state: JSON.stringify(state) }));
}

Deno.test("harness: killed at any moment and resumed, a run equals the uninterrupted one", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "harness_kill_" });
  try {
    const straight = `${dir}/straight`;
    const r = await run([...TINY, ...EPOCHS, "--out", straight]);
    assert.equal(r.code, 0, r.stderr);
    const want = await outcome(straight);
    assert.deepEqual(want.metrics.map((m) => m.epoch), [1, 2, 3]);

    const moments: [string, string | RegExp][] = [
      ["between model and metrics of epoch 1", "model.safetensors (epoch 1)"],
      ["between metrics and resume state of epoch 1", "metrics.jsonl (epoch 1)"],
      ["after the commit of epoch 1", "resume.safetensors (epoch 1)"],
      ["between metrics and resume state of epoch 2", "metrics.jsonl (epoch 2)"],
      ["after the commit of epoch 2", "resume.safetensors (epoch 2)"],
      ["after the training pass of epoch 3, before its evaluation", /^epoch 3\/3 2\/2 /],
      ["between metrics and resume state of epoch 3", "metrics.jsonl (epoch 3)"],
      ["after the last commit", "resume.safetensors (epoch 3)"],
      ["after test_metrics.json", "test_metrics.json (epoch 3)"],
      ["after completions.png, before the chart", "completions.png (epoch 3)"],
    ];
    for (const [i, [name, marker]] of moments.entries()) {
      await t.step(name, async () => {
        const out = `${dir}/k${i}`;
        const killed = await until([...TINY, ...EPOCHS, "--out", out], marker);
        assert.equal(killed.code, 137);
        const r = await run([...TINY, ...EPOCHS, "--resume", "--out", out]);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(await outcome(out), want);
        assert.deepEqual((await files(out)).filter((f) => f.includes(".tmp-")), []);
      });
    }

    await t.step("killed twice (epoch 2, then while resuming, epoch 3)", async () => {
      const out = `${dir}/twice`;
      await until([...TINY, ...EPOCHS, "--out", out], "metrics.jsonl (epoch 2)");
      await until([...TINY, ...EPOCHS, "--resume", "--out", out], "metrics.jsonl (epoch 3)");
      const r = await run([...TINY, ...EPOCHS, "--resume", "--out", out]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await outcome(out), want);
    });

    await t.step("Ctrl-C finishes the commit and says how to resume", async () => {
      const out = `${dir}/sigint`;
      const r = await until(
        [...TINY, ...EPOCHS, "--out", out],
        "metrics.jsonl (epoch 2)",
        { signal: "SIGINT", pause: 1500 },
      );
      assert.equal(r.code, 130, r.stderr);
      assert.match(r.stderr, /interrupted; epoch 2 is saved in .*Continue with: .*--resume --out /);
      const resumed = await run([...TINY, ...EPOCHS, "--resume", "--out", out]);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.match(resumed.stderr, /resuming after epoch 2 of 3/);
      assert.deepEqual(await outcome(out), want);
    });

    await t.step("stale temporary files of a killed run are removed", async () => {
      const out = `${dir}/k2`; // killed after epoch 1's commit, resumed to the end above
      await Deno.writeFile(`${out}/model.safetensors.tmp-0123456789ab`, new Uint8Array(10));
      const r = await run([...TINY, "--epochs", "4", "--resume", "--out", out]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual((await files(out)).filter((f) => f.includes(".tmp-")), []);
      assert.deepEqual((await metrics(out)).map((m) => m.epoch), [1, 2, 3, 4]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("harness: bad input fails naming the file or flag and writes nothing", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "harness_bad_" });
  try {
    const base = `${dir}/base`;
    const r = await run([...TINY, "--epochs", "1", "--out", base]);
    assert.equal(r.code, 0, r.stderr);
    const model = decodeSafetensors(await Deno.readFile(`${base}/model.safetensors`));
    const copyOf = (edit: (name: string, d: Float32Array) => void = () => {}) => {
      const t: Record<string, SafetensorsTensor> = {};
      for (const [k, v] of Object.entries(model.tensors)) {
        const d = Float32Array.from(v.data);
        edit(k, d);
        t[k] = { dtype: "F32", shape: v.shape, data: d };
      }
      return t;
    };

    await t.step("a checkpoint with a NaN: --generate names the tensor", async () => {
      const bad = `${dir}/nan.safetensors`;
      const t = copyOf((k, d) => {
        if (k === "head.bias") d[3] = NaN;
      });
      await Deno.writeFile(bad, encodeSafetensors(t, model.metadata));
      const out = `${dir}/gen_nan`;
      const r = await generate(bad, out);
      assertFails(
        r,
        1,
        /Cannot use '.*nan\.safetensors': tensor 'head\.bias' holds a non-finite value \(NaN at index 3\)/,
      );
      assert.deepEqual(await files(out), []);
    });

    await t.step("a resume state with an infinite weight names the tensor", async () => {
      const out = `${dir}/inf`;
      await Deno.mkdir(out);
      await Deno.copyFile(`${base}/resume.safetensors`, `${out}/resume.safetensors`);
      const f = decodeSafetensors(await Deno.readFile(`${out}/resume.safetensors`));
      const t: Record<string, SafetensorsTensor> = {};
      for (const [k, v] of Object.entries(f.tensors)) {
        const d = Float32Array.from(v.data);
        if (k === "optim.adam.0.exp_avg_sq") d[0] = Infinity;
        t[k] = { dtype: "F32", shape: v.shape, data: d };
      }
      await Deno.writeFile(`${out}/resume.safetensors`, encodeSafetensors(t, f.metadata));
      const r = await run([...TINY, "--epochs", "2", "--resume", "--out", out]);
      assertFails(r, 1, /tensor 'optim\.adam\.0\.exp_avg_sq' holds a non-finite value \(Infinity/);
      assert.deepEqual(await files(out), ["resume.safetensors"]);
    });

    const badStates: [string, (s: Record<string, unknown>) => void, RegExp][] = [
      ["a negative epoch", (s) => void (s.epoch = -1), /field 'epoch' is -1 \(expected an integer/],
      [
        "a best epoch after the last epoch",
        (s) => void (s.bestEpoch = 5),
        /field 'bestEpoch' is 5 .*at most 'epoch'/,
      ],
      [
        "an absurd hidden size",
        (s) => void ((s.config as Record<string, unknown>).hidden = 1_000_000),
        /field 'config\.hidden' is 1000000: it must be at most 4096/,
      ],
      [
        "a generator key out of range",
        (s) => void ((s.rng as Record<string, unknown>).key = [-1, 2]),
        /field 'rng': .*key must be two integers/,
      ],
      [
        "metrics that do not match the epochs",
        (s) => void (s.metrics = []),
        /field 'metrics' does not hold one record for each of the 1 epochs/,
      ],
    ];
    for (const [name, edit, pattern] of badStates) {
      await t.step(`a resume state with ${name}`, async () => {
        const out = `${dir}/state_${name.replace(/\W+/g, "_")}`;
        await Deno.mkdir(out);
        await Deno.copyFile(`${base}/resume.safetensors`, `${out}/resume.safetensors`);
        await editResume(`${out}/resume.safetensors`, edit);
        const before = await Deno.readFile(`${out}/resume.safetensors`);
        const r = await run([...TINY, "--epochs", "2", "--resume", "--out", out]);
        assertFails(
          r,
          1,
          new RegExp(`Cannot resume from '.*resume\\.safetensors': .*${pattern.source}`),
        );
        assert.deepEqual(await files(out), ["resume.safetensors"]);
        assert.deepEqual(await Deno.readFile(`${out}/resume.safetensors`), before);
      });
    }

    await t.step("a PNG whose header is not 28×28 is refused before decoding", async () => {
      // Only the signature and an IHDR chunk claiming 8000×8000: decoding would fail otherwise.
      const head = encodePng(new Uint8Array(4), 2, 2).slice(0, 33);
      new DataView(head.buffer).setUint32(16, 8000);
      new DataView(head.buffer).setUint32(20, 8000);
      assert.deepEqual([pngHeader(head).width, pngHeader(head).height], [8000, 8000]);
      const png = `${dir}/huge.png`;
      await Deno.writeFile(png, head);
      const out = `${dir}/gen_huge`;
      const r = await generate(`${base}/model.safetensors`, out, "--image", png);
      assertFails(r, 1, /Cannot read image '.*huge\.png': the image is 8000×8000, not 28×28/);
      assert.deepEqual(await files(out), []);
    });

    await t.step(
      "checkpoint metadata claiming an absurd size is refused before allocating",
      async () => {
        const bad = `${dir}/absurd.safetensors`;
        await Deno.writeFile(
          bad,
          encodeSafetensors(copyOf(), { ...model.metadata, hidden: "100000000" }),
        );
        const out = `${dir}/gen_absurd`;
        const r = await generate(bad, out);
        assertFails(
          r,
          1,
          /Cannot use checkpoint '.*absurd\.safetensors': it claims 1 layers of 100000000 units/,
        );
        await Deno.writeFile(
          bad,
          encodeSafetensors(copyOf(), { ...model.metadata, hidden: "4000" }),
        );
        const r2 = await generate(bad, out);
        assertFails(
          r2,
          1,
          /tensor 'head\.weight' has shape \[49, 16\], but lstm 1×4000 needs \[49, 4000\]/,
        );
        assert.deepEqual(await files(out), []);
      },
    );

    await t.step("--generate says which training flags it ignores", async () => {
      const out = `${dir}/gen_ok`;
      const r = await generate(
        `${base}/model.safetensors`,
        out,
        "--count",
        "2",
        "--epochs",
        "5",
        "--lr",
        "0.1",
      );
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /--generate ignores the training flags --epochs, --lr/);
    });

    await t.step("an --out that cannot be written fails before training", async () => {
      await Deno.writeTextFile(`${dir}/file`, "x");
      const r = await run([...TINY, "--epochs", "1", "--out", `${dir}/file/sub`]);
      assertFails(r, 1, /Cannot write to --out '.*file\/sub'/);
      assert.doesNotMatch(r.stderr, /epoch 1/);
    });

    await t.step("a permission error names --out and nothing is written", async () => {
      const allowed = `${dir}/allowed`;
      await Deno.mkdir(allowed);
      const out = `${dir}/denied`;
      const r = await run([...TINY, "--epochs", "1", "--out", out], {
        deno: ["--allow-read", "--allow-env", "--allow-sys", `--allow-write=${allowed}`],
        env: { XDG_RUNTIME_DIR: allowed },
      });
      assertFails(r, 1, /Cannot write to --out '.*denied': permission denied/);
      assert.doesNotMatch(r.stderr, /epoch 1/);
      assert.deepEqual(await files(out), []);
    });

    await t.step(
      "a full disk (file size limit) names the file and leaves no temporary file",
      async () => {
        const out = `${dir}/full`;
        // SIGXFSZ ignored: a write past the limit fails with EFBIG, as on a full disk with ENOSPC.
        const r = await run([...TINY, "--epochs", "1", "--out", out], {
          shell: "trap '' XFSZ; ulimit -f 16",
        });
        assertFails(
          r,
          1,
          /Cannot write '.*full\/(model|resume)\.safetensors': the file is larger than/,
          true,
        );
        assert.deepEqual(await files(out), []);
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("harness: checkFinite and the generator state guard their input", () => {
  checkFinite({ a: { data: new Float32Array([1, 2]) } }, "x");
  assert.throws(
    () =>
      checkFinite({
        a: { data: new Float32Array([1]) },
        b: { data: new Float64Array([0, -Infinity]) },
      }, "f.st"),
    /Cannot use 'f\.st': tensor 'b' holds a non-finite value \(-Infinity at index 1\)/,
  );
  const s = getGeneratorState();
  assert.throws(
    () => setGeneratorState({ key: [1, 2 ** 32], counter: 0 }),
    /key must be two integers/,
  );
  assert.throws(
    () => setGeneratorState({ key: [1, 2], counter: -3 }),
    /counter must be a non-negative/,
  );
  assert.deepEqual(getGeneratorState(), s, "a refused state changes nothing");
  setGeneratorState({ key: [5, 6], counter: 7 });
  assert.deepEqual(getGeneratorState(), { key: [5, 6], counter: 7 });
  setGeneratorState(s);
});
