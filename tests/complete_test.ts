/**
 * End-to-end tests of `examples/complete.ts`, run as a subprocess on the CPU
 * backend with a few hundred images: the files of a run, `--resume`,
 * `--generate`, and the error cases (exit codes, one-line messages, no
 * half-written files).
 */
import assert from "node:assert/strict";
import { encodePng } from "../data/png.ts";
import { decodeSafetensors, encodeSafetensors, type SafetensorsTensor } from "../nn/safetensors.ts";
import { parseFlags, Progress, UsageError } from "../examples/_cli.ts";
import { assertFails, files, metricLines, pngSize, type Result, runProgram } from "./_program.ts";

const PROGRAM = "examples/complete.ts";
/** The program's own quick mode on the CPU backend (about 3 s per epoch on two cores). */
const QUICK = ["--quick", "--backend", "cpu"];
/** A tiny run for the error cases. */
const TINY = [
  "--quick",
  "--backend",
  "cpu",
  "--train-count",
  "300",
  "--val-count",
  "100",
  "--test-count",
  "100",
  "--hidden",
  "16",
  "--seed",
  "7",
];

/** Run the program; `unset` names environment variables it must not see. */
function run(args: string[], unset: string[] = []): Promise<Result> {
  return runProgram(PROGRAM, args, { unset });
}

/** Size of a completion picture: two grids of 28×28 digits ×2, padding 4, 16 px apart. */
function pictureSize(n: number, cols: number): [number, number] {
  const rows = Math.ceil(n / cols);
  return [2 * (cols * 56 + (cols + 1) * 4) + 16, rows * 56 + (rows + 1) * 4];
}

Deno.test("complete.ts: a run, --resume, --generate", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "complete_test_" });
  try {
    await t.step("quick run with --epochs 1 writes every file", async () => {
      const r = await run([...QUICK, "--epochs", "1", "--out", dir]);
      assert.deepEqual(r.code, 0, r.stderr);
      assert.deepEqual(await files(dir), [
        "completions.png",
        "loss.svg",
        "metrics.jsonl",
        "model.safetensors",
        "resume.safetensors",
        "test_metrics.json",
      ]);
      const m = await metricLines(dir);
      assert.deepEqual(m.length, 1);
      for (
        const k of ["epoch", "trainLoss", "valLoss", "valGenMse", "seconds", "imagesPerSecond"]
      ) {
        assert(typeof m[0]![k] === "number" && Number.isFinite(m[0]![k]), `metrics field ${k}`);
      }
      assert.deepEqual(m[0]!.epoch, 1);
      assert(m[0]!.valLoss > 0 && m[0]!.valLoss < 0.2, `valLoss ${m[0]!.valLoss}`);
      const test = JSON.parse(await Deno.readTextFile(`${dir}/test_metrics.json`));
      assert(test.testLoss > 0 && test.testGenMse > 0, JSON.stringify(test));
      // 10 rows (digits 0–9) of 10 test images, completed and true side by side.
      assert.deepEqual(await pngSize(`${dir}/completions.png`), pictureSize(100, 10));
      const svg = await Deno.readTextFile(`${dir}/loss.svg`);
      assert.match(svg, /^<svg[\s>]/);
      const st = await Deno.readFile(`${dir}/model.safetensors`);
      const header = new TextDecoder().decode(
        st.subarray(8, 8 + Number(new DataView(st.buffer).getBigUint64(0, true))),
      );
      for (const k of ["lstm.weight_ih_l0", "lstm.weight_hh_l1", "head.weight", "head.bias"]) {
        assert(header.includes(`"${k}"`), `model.safetensors holds ${k}`);
      }
    });

    await t.step("--resume --epochs 2 adds exactly epoch 2", async () => {
      const before = await metricLines(dir);
      const r = await run([...QUICK, "--resume", "--epochs", "2", "--out", dir]);
      assert.deepEqual(r.code, 0, r.stderr);
      const m = await metricLines(dir);
      assert.deepEqual(m.map((x) => x.epoch), [1, 2]);
      assert.deepEqual(m[0], before[0]);
    });

    await t.step("the resumed run equals an uninterrupted one", async () => {
      const straight = `${dir}/straight`;
      const r = await run([...QUICK, "--epochs", "2", "--out", straight]);
      assert.deepEqual(r.code, 0, r.stderr);
      const [a, b] = [await metricLines(dir), await metricLines(straight)];
      for (const k of ["trainLoss", "valLoss", "valGenMse"]) assert.equal(a[1]![k], b[1]![k], k);
      const ta = JSON.parse(await Deno.readTextFile(`${dir}/test_metrics.json`));
      const tb = JSON.parse(await Deno.readTextFile(`${straight}/test_metrics.json`));
      assert.equal(ta.testGenMse, tb.testGenMse);
      assert.deepEqual(
        await Deno.readFile(`${dir}/model.safetensors`),
        await Deno.readFile(`${straight}/model.safetensors`),
      );
      await Deno.remove(straight, { recursive: true });
    });

    await t.step("--resume with another architecture fails and changes nothing", async () => {
      const before = await Deno.readFile(`${dir}/resume.safetensors`);
      const names = await files(dir);
      const r = await run([...QUICK, "--resume", "--epochs", "3", "--hidden", "32", "--out", dir]);
      assertFails(r, 1, /^complete: error: .*lstm 2×64.*--hidden 32/);
      assert.deepEqual(await files(dir), names);
      assert.deepEqual(await Deno.readFile(`${dir}/resume.safetensors`), before);
    });

    await t.step("--generate --checkpoint completes test images", async () => {
      const gen = `${dir}/gen`;
      const r = await run([
        "--generate",
        "--backend",
        "cpu",
        "--checkpoint",
        `${dir}/model.safetensors`,
        "--count",
        "5",
        "--out",
        gen,
      ]);
      assert.deepEqual(r.code, 0, r.stderr);
      assert.match(r.stdout, /generation MSE [0-9.e-]+/);
      assert.deepEqual(await files(gen), ["completion.png"]);
      assert.deepEqual(await pngSize(`${gen}/completion.png`), pictureSize(5, 5));
    });

    await t.step("--generate --image completes a PNG of one's own", async () => {
      const img = new Uint8Array(28 * 28);
      for (let r = 4; r < 24; r++) img[r * 28 + 14] = 255; // a "1"
      const png = `${dir}/one.png`;
      await Deno.writeFile(png, encodePng(img, 28, 28));
      const gen = `${dir}/own`;
      const r = await run([
        "--generate",
        "--backend",
        "cpu",
        "--checkpoint",
        `${dir}/model.safetensors`,
        "--image",
        png,
        "--out",
        gen,
      ]);
      assert.deepEqual(r.code, 0, r.stderr);
      assert.deepEqual(await pngSize(`${gen}/completion.png`), pictureSize(1, 1));
    });

    await t.step("--generate with a checkpoint missing a tensor fails", async () => {
      const f = decodeSafetensors(await Deno.readFile(`${dir}/model.safetensors`));
      const kept: Record<string, SafetensorsTensor> = {};
      for (const [k, v] of Object.entries(f.tensors)) {
        if (k !== "head.bias") kept[k] = { dtype: "F32", shape: v.shape, data: v.data.slice() };
      }
      const bad = `${dir}/nohead.safetensors`;
      await Deno.writeFile(bad, encodeSafetensors(kept, f.metadata));
      const gen = `${dir}/gen_nohead`;
      const r = await run(["--generate", "--backend", "cpu", "--checkpoint", bad, "--out", gen]);
      assertFails(r, 1, /^complete: error: Cannot load .*nohead.*missing 'head\.bias'/);
      assert.deepEqual(await files(gen), []);
    });

    await t.step("--generate with a checkpoint of another architecture fails", async () => {
      const gen = `${dir}/gen32`;
      const r = await run([
        "--generate",
        "--backend",
        "cpu",
        "--hidden",
        "32",
        "--checkpoint",
        `${dir}/model.safetensors`,
        "--out",
        gen,
      ]);
      assertFails(r, 1, /^complete: error: Cannot use checkpoint .*--hidden 32/);
      assert.deepEqual(await files(gen), []);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("complete.ts: --cell gru saves gru.* names", async () => {
  const dir = await Deno.makeTempDir({ prefix: "complete_gru_" });
  try {
    const r = await run([...TINY, "--cell", "gru", "--epochs", "1", "--out", dir]);
    assert.equal(r.code, 0, r.stderr);
    const st = await Deno.readFile(`${dir}/model.safetensors`);
    const n = Number(new DataView(st.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(st.subarray(8, 8 + n)));
    assert.deepEqual(header["gru.weight_ih_l0"].shape, [3 * 16, 49]);
    assert.deepEqual(header["head.weight"].shape, [49, 16]);
    assert.equal(header.__metadata__.cell, "gru");
    assert.equal(header.__metadata__.hidden, "16");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("complete.ts: without XDG_RUNTIME_DIR the adapter probe prints no Mesa error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "complete_xdg_" });
  try {
    const args = TINY.map((a) => (a === "cpu" ? "auto" : a));
    assert.ok(args.includes("auto"));
    const r = await run([...args, "--epochs", "1", "--out", dir], ["XDG_RUNTIME_DIR"]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /XDG_RUNTIME_DIR/);
    assert.match(r.stdout + r.stderr, /^wgrad: using the (CPU|WebGPU) backend/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("_cli.ts: progress redraws on a terminal, prints lines elsewhere", () => {
  for (const tty of [true, false]) {
    let text = "";
    const sink = { write: (s: string) => void (text += s), isTerminal: () => tty };
    const p = new Progress({ label: "epoch 1/1", total: 20, every: 5, sink });
    for (let i = 1; i <= 20; i++) p.update(1, 100, i % 5 === 0 ? { loss: `${i}` } : undefined);
    p.done();
    if (tty) {
      assert.match(text, /^\repoch 1\/1 \[/);
      assert.match(text, /20\/20 loss 20 .*\n$/);
    } else {
      const lines = text.trim().split("\n");
      assert.deepEqual(lines.map((l) => /(\d+)\/20 loss (\d+)/.exec(l)?.slice(1)), [
        ["5", "5"],
        ["10", "10"],
        ["15", "15"],
        ["20", "20"],
      ]);
      assert(!text.includes("\r"));
    }
  }
});

Deno.test("_cli.ts: flags are typed, defaulted and checked", () => {
  const spec = {
    batch: { type: "integer", min: 1, default: 100, help: "" },
    lr: { type: "number", positive: true, default: 1e-3, help: "" },
    cell: { type: "string", choices: ["lstm", "gru"], default: "lstm", help: "" },
    trainCount: { type: "integer", min: 1, help: "" },
    quick: { type: "boolean", help: "" },
  } as const;
  const info = { program: "t", summary: "" };
  const { values, explicit } = parseFlags(["--lr", "-0.5e-3", "--train-count=7"], {
    ...spec,
    lr: { type: "number", default: 1e-3, help: "" },
  }, info);
  assert.deepEqual(values, { batch: 100, lr: -0.5e-3, cell: "lstm", trainCount: 7, quick: false });
  assert.deepEqual([...explicit].sort(), ["lr", "trainCount"]);
  for (
    const [args, msg] of [
      [["--batch", "0"], "invalid value for --batch: 0 (must be at least 1)"],
      [["--lr", "-1"], "invalid value for --lr: -1 (must be greater than 0)"],
      [["--batch", "1e400"], "invalid value for --batch: '1e400' is not a number"],
      [["--cell"], "flag --cell needs a value"],
      [["--quick=yes"], "flag --quick takes no value"],
      [["--nope"], "unknown flag --nope"],
      [["stray"], "unexpected argument 'stray'"],
    ] as const
  ) {
    assert.throws(() => parseFlags([...args], spec, info), (e: unknown) => {
      assert(e instanceof UsageError);
      assert.equal(e.message, msg);
      return true;
    });
  }
});

Deno.test("complete.ts: bad input exits non-zero with one line and writes nothing", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "complete_err_" });
  const out = `${dir}/out`;
  try {
    const usage: [string, string[], RegExp][] = [
      ["unknown flag", ["--frobnicate"], /unknown flag --frobnicate/],
      ["--batch 0", ["--batch", "0"], /--batch: 0 \(must be at least 1\)/],
      ["--lr -1", ["--lr", "-1"], /--lr: -1 \(must be greater than 0\)/],
      ["--cell foo", ["--cell", "foo"], /--cell: 'foo' \(expected lstm, gru\)/],
      ["--epochs x", ["--epochs", "x"], /--epochs: 'x' is not a number/],
      ["--count without --generate", ["--count", "3"], /--count needs --generate/],
    ];
    for (const [name, args, pattern] of usage) {
      await t.step(name, async () => {
        const r = await run([...TINY, ...args, "--out", out]);
        assertFails(r, 2, new RegExp(`^complete: .*${pattern.source}.*\\(see --help\\)$`));
        assert.deepEqual(await files(out), []);
      });
    }

    await t.step("missing data folder", async () => {
      const r = await run([...TINY, "--data", `${dir}/nowhere`, "--out", out]);
      assertFails(r, 1, /^complete: error: .*nowhere/);
      assert.deepEqual(await files(out), []);
    });

    await t.step("corrupt data file", async () => {
      const data = `${dir}/data`;
      await Deno.mkdir(data);
      for (
        const f of [
          "train-images-idx3-ubyte",
          "train-labels-idx1-ubyte",
          "t10k-images-idx3-ubyte",
          "t10k-labels-idx1-ubyte",
        ]
      ) await Deno.writeFile(`${data}/${f}`, new Uint8Array(100).fill(7));
      const r = await run([...TINY, "--data", data, "--out", out]);
      assertFails(r, 1, /^complete: error: .*idx/);
      assert.deepEqual(await files(out), []);
    });

    await t.step("--generate with a corrupt checkpoint", async () => {
      const bad = `${dir}/bad.safetensors`;
      await Deno.writeFile(bad, new Uint8Array(64).fill(1));
      const r = await run(["--generate", "--backend", "cpu", "--checkpoint", bad, "--out", out]);
      assertFails(r, 1, /^complete: error: .*bad\.safetensors/);
      assert.deepEqual(await files(out), []);
    });

    await t.step("--resume with nothing to resume", async () => {
      const r = await run([...TINY, "--resume", "--out", out]);
      assertFails(r, 1, /^complete: error: Cannot find the resume state .*nothing to resume/);
      assert.deepEqual(await files(out), []);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
