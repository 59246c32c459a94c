/**
 * The judge (examples/_judge.ts) against PyTorch's MNIST `Net`
 * (fixtures/judge.safetensors, fixtures/make_judge_fixtures.py): eval-mode
 * logits and features, one training step's loss and gradients with the same
 * dropout masks; `obtainJudge` loading and refusing bad checkpoints;
 * `judgeImages` against the forward pass.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { init, nn, noGrad, tensor, tidy } from "../mod.ts";
import { Judge, judgeImages, loadJudge, obtainJudge } from "../examples/_judge.ts";
import { assertClose } from "./_gradcheck.ts";

await init({ backend: "cpu", log: false });

const fx = nn.decodeSafetensors(
  Deno.readFileSync(new URL("../fixtures/judge.safetensors", import.meta.url)),
  "fixtures/judge.safetensors",
);
const N = 4;
const GOLD = 0.6180339887498949;
const FAN_IN: Record<string, number> = {
  "conv1.bias": 9,
  "conv2.bias": 288,
  "fc1.bias": 9216,
  "fc2.bias": 128,
};

/** n values frac(i·GOLD + k·0.1) in float64, as make_judge_fixtures.py's `pattern`. */
function pattern(n: number, k: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * GOLD + k * 0.1) % 1;
  return out;
}

/** The fixture's weights: parameter k of fan-in f is (2·pattern − 1)/√f. */
function fixtureJudge(): Judge {
  const judge = new Judge();
  const state: Record<string, { shape: number[]; data: Float32Array }> = {};
  Object.entries(judge.stateDict()).forEach(([name, p], k) => {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const f = FAN_IN[name] ?? n / p.shape[0]!;
    state[name] = {
      shape: [...p.shape],
      data: Float32Array.from(pattern(n, k), (v) => (2 * v - 1) / Math.sqrt(f)),
    };
  });
  judge.loadStateDict(state);
  return judge;
}

function fxData(name: string): Float32Array {
  const t = fx.tensors[name];
  if (!t) throw new Error(`fixture has no tensor '${name}'`);
  return Float32Array.from(t.data);
}

const close = (label: string) => ({ rtol: 1e-4, atol: 1e-6, label });

Deno.test("Judge eval forward matches PyTorch's Net: logits and 128 features", async () => {
  const judge = fixtureJudge().eval();
  const x = tensor(fxData("input"), [N, 1, 28, 28]);
  const logits = judge.forward(x), features = judge.features(x);
  assert.deepEqual(logits.shape, [N, 10]);
  assert.deepEqual(features.shape, [N, 128]);
  assertClose(await logits.data(), fxData("eval.logits"), close("eval logits"));
  assertClose(await features.data(), fxData("eval.features"), close("eval features"));
  // features() ignores the training mode: no dropout.
  judge.train();
  assertClose(await judge.features(x).data(), fxData("eval.features"), close("train features"));
  judge.dispose();
});

Deno.test("Judge training step matches PyTorch: logits, loss and every gradient", async () => {
  const judge = fixtureJudge().train();
  const x = tensor(fxData("input"), [N, 1, 28, 28]);
  const labels = tensor(fxData("labels"), [N]);
  const m1 = Float32Array.from(pattern(N * 64 * 144, 11), (v) => v >= 0.25 ? 1 : 0);
  const m2 = Float32Array.from(pattern(N * 128, 12), (v) => v >= 0.5 ? 1 : 0);
  const masks = { drop1: tensor(m1, [N, 64, 12, 12]), drop2: tensor(m2, [N, 128]) };
  const logits = judge.forward(x, masks);
  const loss = nn.crossEntropy(logits, labels);
  loss.backward();
  assertClose(await logits.data(), fxData("train.logits"), close("train logits"));
  assertClose(await loss.data(), fxData("train.loss"), close("train loss"));
  for (const [name, p] of judge.namedParameters()) {
    assert.ok(p.grad, `${name} has a gradient`);
    const g = await p.grad.data();
    if (name !== "fc1.weight") {
      assertClose(g, fxData(`train.grad.${name}`), close(`grad ${name}`));
      continue;
    }
    for (const r of [0, 77]) {
      assertClose(
        g.subarray(r * 9216, (r + 1) * 9216),
        fxData(`train.grad.fc1.weight.row${r}`),
        close(`grad fc1.weight row ${r}`),
      );
    }
    const sum0 = new Float32Array(9216), sum1 = new Float32Array(128);
    for (let r = 0; r < 128; r++) {
      for (let c = 0; c < 9216; c++) {
        sum0[c]! += g[r * 9216 + c]!;
        sum1[r]! += g[r * 9216 + c]!;
      }
    }
    assertClose(sum0, fxData("train.grad.fc1.weight.sum0"), { ...close("sum0"), atol: 1e-5 });
    assertClose(sum1, fxData("train.grad.fc1.weight.sum1"), { ...close("sum1"), atol: 1e-5 });
  }
  // Without the masks, training mode draws its own: the logits differ from eval mode's.
  const drawn = await noGrad(() => judge.forward(x)).data();
  const evald = await noGrad(() => judge.eval().forward(x)).data();
  assert.notDeepEqual(Array.from(drawn), Array.from(evald));
  judge.dispose();
});

/** A judge's weights as safetensors entries, optionally changed by `edit`. */
async function checkpoint(
  judge: Judge,
  edit: (t: Record<string, nn.SafetensorsTensor>) => void = () => {},
): Promise<Uint8Array> {
  const t: Record<string, nn.SafetensorsTensor> = {};
  for (const [k, p] of Object.entries(judge.stateDict())) {
    t[k] = { dtype: "F32", shape: [...p.shape], data: Float32Array.from(await p.data()) };
  }
  edit(t);
  return nn.encodeSafetensors(t);
}

Deno.test("obtainJudge loads a checkpoint and refuses bad ones with clear errors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "judge_test_" });
  const judge = fixtureJudge();
  try {
    const good = join(dir, "good.safetensors");
    await Deno.writeFile(good, await checkpoint(judge));
    const lines: string[] = [];
    const loaded = await obtainJudge({ path: good, log: (l) => lines.push(l) });
    assert.equal(loaded.training, false, "obtainJudge gives an eval-mode judge");
    assert.deepEqual(lines, [], "loading an existing file trains nothing");
    const x = tensor(fxData("input"), [N, 1, 28, 28]);
    assertClose(await loaded.forward(x).data(), fxData("eval.logits"), close("loaded logits"));
    loaded.dispose();

    const cases: [string, (t: Record<string, nn.SafetensorsTensor>) => void, RegExp][] = [
      [
        "wrong shape",
        (t) =>
          t["fc1.weight"] = { dtype: "F32", shape: [64, 9216], data: new Float32Array(64 * 9216) },
        /Cannot use the judge '.*wrong-shape\.safetensors'.*'fc1\.weight'.*\[128, 9216\].*\[64, 9216\]/,
      ],
      [
        "NaN weight",
        (t) => (t["conv2.bias"]!.data as Float32Array)[5] = NaN,
        /Cannot use '.*NaN-weight\.safetensors'.*'conv2\.bias'.*non-finite.*NaN at index 5/,
      ],
      [
        "missing tensor",
        (t) => delete t["fc2.bias"],
        /Cannot use the judge '.*missing-tensor\.safetensors'.*missing 'fc2\.bias'/,
      ],
      [
        "unexpected tensor",
        (t) => t["fc3.weight"] = { dtype: "F32", shape: [1], data: new Float32Array(1) },
        /Cannot use the judge '.*unexpected-tensor\.safetensors'.*unexpected 'fc3\.weight'/,
      ],
    ];
    for (const [what, edit, pattern] of cases) {
      const path = join(dir, `${what.replaceAll(" ", "-")}.safetensors`);
      await Deno.writeFile(path, await checkpoint(judge, edit));
      await assert.rejects(obtainJudge({ path }), pattern, what);
    }
    const junk = join(dir, "junk.safetensors");
    await Deno.writeTextFile(junk, "not a checkpoint");
    await assert.rejects(obtainJudge({ path: junk }), /junk\.safetensors/);
    await assert.rejects(
      loadJudge(join(dir, "absent.safetensors")),
      /Cannot find the judge '.*absent\.safetensors' \(train one with: deno task judge\)/,
    );
  } finally {
    judge.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("judgeImages: softmax of the eval logits and the features, any batch size", async () => {
  const judge = fixtureJudge().train();
  const images = fxData("input");
  const whole = await judgeImages(judge, images, N);
  const split = await judgeImages(judge, images, N, { batch: 3 });
  assert.equal(judge.training, true, "the judge's mode is restored");
  assertClose(split.probs, whole.probs, close("batch 3 probs"));
  assertClose(split.features, whole.features, close("batch 3 features"));
  assertClose(whole.features, fxData("eval.features"), close("features"));
  const logits = fxData("eval.logits");
  for (let i = 0; i < N; i++) {
    const row = logits.subarray(i * 10, i * 10 + 10);
    const m = Math.max(...row), z = row.reduce((a, v) => a + Math.exp(v - m), 0);
    assertClose(
      whole.probs.subarray(i * 10, i * 10 + 10),
      Array.from(row, (v) => Math.exp(v - m) / z),
      close(`probs ${i}`),
    );
  }
  assert.throws(
    () => tidy(() => judge.forward(tensor(new Float32Array(784), [1, 784]))),
    /\[N, 1, 28, 28\]/,
  );
  await assert.rejects(judgeImages(judge, images, N + 1), /Cannot judge 5 images from 3136 values/);
  judge.dispose();
});
