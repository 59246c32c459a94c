/**
 * nn.LSTM and nn.GRU: PyTorch names, order and initialisation; the fused
 * sequence kernels against the unfused reference (outputs, states, every
 * gradient); `step()` chained over T against `forward` over T; state shapes
 * and errors; PyTorch 1.13 parity on fixtures/lstm.safetensors and
 * fixtures/gru.safetensors (1e-5 relative); memory staying flat; and on
 * WebGPU, that a fused layer costs O(T) dispatches, not O(T × ops). Each
 * backend-generic test runs on the CPU and, when an adapter exists, on WebGPU.
 */
import assert from "node:assert/strict";
import { manualSeed, memory, noGrad, type Tensor, tensor, tidy } from "../mod.ts";
import type { BackendName, DType, View } from "../tensor/backend.ts";
import { GRU } from "../nn/gru.ts";
import { LSTM } from "../nn/lstm.ts";
import { gruLayer, lstmLayer } from "../tensor/routines/rnn/mod.ts";
import { decodeSafetensors } from "../nn/safetensors.ts";
import { assertClose, randomValues } from "./_gradcheck.ts";
import { gpuTest, useGpu } from "./_gpu.ts";

type Cell = "lstm" | "gru";
type Rnn = LSTM | GRU;

/** Register a test on the CPU and (when an adapter exists) on WebGPU. */
function backendTest(name: string, fn: (backend: BackendName) => Promise<void>): void {
  Deno.test(`${name} [cpu]`, () => fn("cpu"));
  gpuTest(`${name} [webgpu]`, async (gpu) => {
    await useGpu(gpu);
    await fn("webgpu");
  });
}

function randT(
  shape: number[],
  seed: number,
  backend: BackendName,
  dtype: DType = "float32",
  requiresGrad = false,
): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = randomValues(n, seed, { lo: -1, hi: 1 });
  return tensor(dtype === "float64" ? Float64Array.from(v) : Float32Array.from(v), shape, {
    backend,
    dtype,
    requiresGrad,
  });
}

function make(
  cell: Cell,
  inSize: number,
  hidden: number,
  opts: ConstructorParameters<typeof LSTM>[2],
): Rnn {
  return cell === "lstm" ? new LSTM(inSize, hidden, opts) : new GRU(inSize, hidden, opts);
}

/** forward() of either cell with an optional state as a plain record. */
function run(m: Rnn, x: Tensor, state?: Record<string, Tensor>) {
  const r = m instanceof LSTM
    ? m.forward(x, state as { h: Tensor; c: Tensor } | undefined)
    : m.forward(x, state as { h: Tensor } | undefined);
  return { output: r.output, state: { ...r.state } as Record<string, Tensor> };
}

function stepOnce(m: Rnn, x: Tensor, state?: Record<string, Tensor>) {
  const r = m instanceof LSTM
    ? m.step(x, state as { h: Tensor; c: Tensor } | undefined)
    : m.step(x, state as { h: Tensor } | undefined);
  return { output: r.output, state: { ...r.state } as Record<string, Tensor> };
}

// ---- parameters ------------------------------------------------------------

for (const cell of ["lstm", "gru"] as const) {
  Deno.test(`${cell.toUpperCase()} registers PyTorch names, shapes and U(-1/√H, 1/√H) init in order`, async () => {
    const G = cell === "lstm" ? 4 : 3;
    manualSeed(7);
    const m = make(cell, 5, 16, { numLayers: 2, backend: "cpu" });
    const names = m.namedParameters().map(([n, t]) => `${n}${JSON.stringify(t.shape)}`);
    assert.deepEqual(names, [
      `weight_ih_l0[${G * 16},5]`,
      `weight_hh_l0[${G * 16},16]`,
      `bias_ih_l0[${G * 16}]`,
      `bias_hh_l0[${G * 16}]`,
      `weight_ih_l1[${G * 16},16]`,
      `weight_hh_l1[${G * 16},16]`,
      `bias_ih_l1[${G * 16}]`,
      `bias_hh_l1[${G * 16}]`,
    ]);
    for (const [n, p] of m.namedParameters()) {
      const d = await p.data();
      assert.ok(d.every((v) => v >= -0.25 && v < 0.25), `${n} within ±1/√16`);
      assert.ok(d.some((v) => Math.abs(v) > 0.2), `${n} spans the range`);
      assert.ok(p.requiresGrad);
    }
    manualSeed(7);
    const again = make(cell, 5, 16, { numLayers: 2, backend: "cpu" });
    assert.deepEqual(
      await again.parameters()[5]!.data(),
      await m.parameters()[5]!.data(),
      "the seeded generator gives the same weights",
    );
    m.dispose();
    again.dispose();
  });
}

// ---- fused vs unfused --------------------------------------------------------

// H = 7 takes the scalar WebGPU kernels, H = 8 the vec4 ones; B = 3 leaves a partial row group.
for (const [cell, H] of [["lstm", 7], ["lstm", 8], ["gru", 7], ["gru", 8]] as const) {
  backendTest(
    `${cell.toUpperCase()} (H = ${H}) fused matches the unfused reference: output, state and every gradient`,
    async (backend) => {
      const dtype: DType = backend === "cpu" ? "float64" : "float32";
      const tol = backend === "cpu" ? { rtol: 1e-10, atol: 1e-12 } : { rtol: 1e-5, atol: 1e-6 };
      const B = 3, T = 6, IN = 5, L = 2;
      manualSeed(3);
      const m = make(cell, IN, H, { numLayers: L, backend, dtype });
      const keys = cell === "lstm" ? ["h", "c"] : ["h"];
      const results: Float32Array[][] = [];
      for (const fused of [true, false]) {
        m.fused = fused;
        m.zeroGrad();
        const x = randT([B, T, IN], 1, backend, dtype, true);
        const state = Object.fromEntries(
          keys.map((k, i) => [k, randT([L, B, H], 2 + i, backend, dtype, true)]),
        );
        const r = run(m, x, state);
        assert.deepEqual(r.output.shape, [B, T, H]);
        let loss = r.output.mul(randT([B, T, H], 10, backend, dtype)).sum();
        keys.forEach((k, i) => {
          loss = loss.add(r.state[k]!.mul(randT([L, B, H], 11 + i, backend, dtype)).sum());
        });
        loss.backward();
        const got: Tensor[] = [r.output, ...keys.map((k) => r.state[k]!), x.grad!];
        for (const k of keys) got.push(state[k]!.grad!);
        for (const p of m.parameters()) got.push(p.grad!);
        results.push(await Promise.all(got.map(async (t) => Float32Array.from(await t.data()))));
      }
      const labels = ["output", ...keys.map((k) => `state.${k}`), "grad.input"];
      labels.push(
        ...keys.map((k) => `grad.${k}0`),
        ...m.namedParameters().map(([n]) => `grad.${n}`),
      );
      results[0]!.forEach((a, i) => assertClose(a, results[1]![i]!, { ...tol, label: labels[i] }));
      m.dispose();
    },
  );
}

// ---- step() ----------------------------------------------------------------

for (const cell of ["lstm", "gru"] as const) {
  backendTest(
    `${cell.toUpperCase()} step() chained over T equals forward over T`,
    async (backend) => {
      const B = 4, T = 5, IN = 6, H = 8, L = 2;
      manualSeed(11);
      const m = make(cell, IN, H, { numLayers: L, backend });
      const x = randT([B, T, IN], 5, backend);
      const full = run(m, x);
      for (const grad of [false, true]) {
        const outs: Tensor[] = [];
        let state: Record<string, Tensor> | undefined;
        const go = () => {
          for (let t = 0; t < T; t++) {
            const xt = x.slice([0, t, 0], [B, 1, IN]).reshape([B, IN]);
            const r = stepOnce(m, xt, state);
            assert.deepEqual(r.output.shape, [B, H]);
            assert.equal(r.output.requiresGrad, grad);
            state = r.state;
            outs.push(r.output);
          }
        };
        if (grad) go();
        else noGrad(go);
        const fo = await full.output.data();
        for (let t = 0; t < T; t++) {
          const got = await outs[t]!.data();
          const want = new Float32Array(B * H);
          for (let b = 0; b < B; b++) {
            want.set(fo.subarray((b * T + t) * H, (b * T + t + 1) * H), b * H);
          }
          assertClose(got, want, { rtol: 1e-5, atol: 1e-6, label: `step ${t} (grad ${grad})` });
        }
        for (const k of Object.keys(full.state)) {
          assertClose(await state![k]!.data(), await full.state[k]!.data(), {
            rtol: 1e-5,
            atol: 1e-6,
            label: `state.${k} (grad ${grad})`,
          });
        }
      }
      m.dispose();
    },
  );
}

// ---- inference runs time-major ----------------------------------------------

for (const cell of ["lstm", "gru"] as const) {
  backendTest(
    `${cell.toUpperCase()} inference (no gradient) runs time-major with the bits of batch-first`,
    async (backend) => {
      const IN = 6, H = 5;
      // batch, time, layers, initial state: one row, one step (stays batch-first), three layers
      const cases = [[5, 3, 2, false], [1, 4, 1, true], [7, 1, 2, true], [3, 6, 3, false]] as const;
      for (const [B, T, L, given] of cases) {
        const what = `B ${B} T ${T} layers ${L} state ${given}`;
        manualSeed(11);
        const m = make(cell, IN, H, { numLayers: L, backend });
        const x = randT([B, T, IN], 5, backend);
        const state = given
          ? Object.fromEntries(
            (cell === "lstm" ? ["h", "c"] : ["h"]).map((
              k,
              i,
            ) => [k, randT([L, B, H], 7 + i, backend)]),
          )
          : undefined;
        const graded = run(m, x, state); // the parameters require grad: batch-first
        const inferred = noGrad(() => run(m, x, state));
        assert.equal(graded.output.requiresGrad, true, what);
        assert.deepEqual(inferred.output.shape, [B, T, H], what);
        // time-major ran (over more than one step): the output is the deferred transpose of a
        // [T, B, H] sequence
        const pv = (inferred.output as unknown as { buf: { pendingView: { view: View } | null } })
          .buf.pendingView;
        if (T > 1) assert.deepEqual(pv?.view.strides, [H, B * H, 1], what);
        const same = async (a: Tensor, b: Tensor, label: string) => {
          const [u, v] = [await a.data(), await b.data()];
          const bad = u.findIndex((e, i) => !Object.is(e, v[i]));
          assert.equal(bad, -1, `${what} ${label}: element ${bad}`);
        };
        // one step read through the transposed view first, then the whole sequence
        const last = (r: typeof graded) => r.output.slice([0, T - 1, 0], [B, 1, H]).reshape([B, H]);
        await same(last(inferred), last(graded), "last step");
        await same(inferred.output, graded.output, "output");
        for (const k of Object.keys(graded.state)) {
          await same(inferred.state[k]!, graded.state[k]!, `state.${k}`);
        }
        m.dispose();
      }
    },
  );
}

backendTest("a time-major layer refuses to record a gradient", (backend) => {
  const B = 2, T = 3, H = 4;
  const w = randT([4 * H, H], 1, backend, "float32", true);
  const xp = randT([T, B, 4 * H], 2, backend);
  assert.throws(
    () => lstmLayer(xp, w, null, null, { timeMajor: true }),
    /Cannot run lstmLayer time-major where a gradient is recorded/,
  );
  const g = randT([3 * H, H], 3, backend), b = randT([3 * H], 4, backend, "float32", true);
  assert.throws(
    () => gruLayer(randT([T, B, 3 * H], 5, backend), g, b, null, { timeMajor: true }),
    /Cannot run gruLayer time-major where a gradient is recorded/,
  );
  // and names the time-major layout in a shape error
  assert.throws(
    () =>
      noGrad(() => lstmLayer(randT([T, B, 3 * H], 6, backend), w, null, null, { timeMajor: true })),
    /\[time, batch, 4·H = 16\]/,
  );
  return Promise.resolve();
});

backendTest("LSTM/GRU state shapes, default zero state and shape errors", async (backend) => {
  const B = 2, T = 3, IN = 4, H = 5;
  for (const cell of ["lstm", "gru"] as const) {
    const m = make(cell, IN, H, { numLayers: 3, backend });
    const x = randT([B, T, IN], 1, backend);
    const r = run(m, x);
    assert.deepEqual(r.output.shape, [B, T, H]);
    const keys = cell === "lstm" ? ["c", "h"] : ["h"];
    assert.deepEqual(Object.keys(r.state).sort(), keys);
    for (const k of keys) assert.deepEqual(r.state[k]!.shape, [3, B, H]);
    // An explicit zero state is the default.
    const zero = Object.fromEntries(keys.map((k) => [k, randT([3, B, H], 0, backend).mul(0)]));
    assert.deepEqual(await run(m, x, zero).output.data(), await r.output.data());
    assert.throws(() => run(m, randT([B, T, IN + 1], 1, backend)), /expected \[batch, time, 4\]/);
    assert.throws(() => run(m, randT([B, IN], 1, backend)), /batch first/);
    assert.throws(
      () => run(m, x, Object.fromEntries(keys.map((k) => [k, randT([2, B, H], 0, backend)]))),
      /expected \[numLayers, batch, hidden\] = \[3, 2, 5\]/,
    );
    assert.throws(() => stepOnce(m, x), /expected \[batch, 4\]/);
    m.dispose();
  }
  assert.throws(() => new LSTM(0, 3), /inputSize must be a positive integer/);
  assert.throws(() => new GRU(3, 3, { numLayers: 1.5 }), /numLayers must be a positive integer/);
});

backendTest(
  "fused LSTM/GRU training steps and noGrad generation keep live tensors flat",
  async (backend) => {
    const B = 3, T = 4, IN = 5, H = 6;
    for (const cell of ["lstm", "gru"] as const) {
      const m = make(cell, IN, H, { numLayers: 2, backend });
      const x = randT([B, T, IN], 1, backend);
      const counts: number[] = [];
      for (let i = 0; i < 4; i++) {
        const loss = tidy(() => {
          const l = run(m, x).output.pow(2).mean();
          l.backward();
          return l;
        });
        assert.ok(Number.isFinite(await loss.item()));
        loss.dispose();
        m.zeroGrad();
        noGrad(() =>
          tidy(() => {
            let state: Record<string, Tensor> | undefined;
            for (let t = 0; t < 3; t++) {
              state = stepOnce(m, x.slice([0, t, 0], [B, 1, IN]).reshape([B, IN]), state).state;
            }
          })
        );
        counts.push(memory().tensors);
      }
      assert.equal(new Set(counts.slice(1)).size, 1, `live tensors per iteration: ${counts}`);
      x.dispose();
      m.dispose();
    }
  },
);

// ---- PyTorch parity ----------------------------------------------------------

const FIXTURES = new URL("../fixtures/", import.meta.url);

for (const cell of ["lstm", "gru"] as const) {
  for (const fused of [true, false]) {
    backendTest(
      `${cell.toUpperCase()} (${
        fused ? "fused" : "unfused"
      }) matches torch.nn.${cell.toUpperCase()}(5, 7, num_layers=2) on fixtures`,
      async (backend) => {
        const f = decodeSafetensors(
          Deno.readFileSync(new URL(`${cell}.safetensors`, FIXTURES)),
          `fixtures/${cell}.safetensors`,
        );
        const host = (k: string) => {
          const t = f.tensors[k];
          if (!t) throw new Error(`fixtures/${cell}.safetensors has no tensor '${k}'`);
          return { shape: t.shape, data: Float32Array.from(t.data) };
        };
        const t = (k: string, requiresGrad = false) => {
          const h = host(k);
          return tensor(h.data, h.shape, { backend, requiresGrad });
        };
        const close = async (a: Tensor | null, k: string) => {
          assert.ok(a, `${k}: missing`);
          assert.deepEqual(a.shape, host(k).shape, `${k}: shape`);
          assertClose(await a.data(), host(k).data, {
            rtol: 1e-5,
            atol: 1e-6,
            label: `${k} (${backend})`,
          });
        };
        const m = make(cell, 5, 7, { numLayers: 2, backend, fused });
        const params = Object.fromEntries(
          m.namedParameters().map(([n]) => [n, host(`param.${n}`)]),
        );
        m.loadStateDict(params);
        const keys = cell === "lstm" ? ["h", "c"] : ["h"];
        for (const kase of ["nostate", "state"]) {
          m.zeroGrad();
          const x = t(`${kase}.input`, true);
          const state = kase === "state"
            ? Object.fromEntries(keys.map((k) => [k, t(`state.${k}0`, true)]))
            : undefined;
          const r = run(m, x, state);
          await close(r.output, `${kase}.output`);
          for (const k of keys) await close(r.state[k]!, `${kase}.${k}_n`);
          let loss = r.output.mul(t(`${kase}.grad_out.output`)).sum();
          for (const k of keys) {
            loss = loss.add(r.state[k]!.mul(t(`${kase}.grad_out.${k}_n`)).sum());
          }
          loss.backward();
          await close(x.grad, `${kase}.grad.input`);
          if (state) { for (const k of keys) await close(state[k]!.grad, `${kase}.grad.${k}0`); }
          for (const [n, p] of m.namedParameters()) await close(p.grad, `${kase}.grad.${n}`);
        }
        m.dispose();
      },
    );
  }
}

// ---- dispatch budget on WebGPU -------------------------------------------------

gpuTest("fused LSTM/GRU layers cost O(T) WebGPU dispatches, forward and backward", async (gpu) => {
  await useGpu(gpu);
  const B = 4, IN = 6, H = 8;
  const count = (cell: Cell, T: number, fused: boolean) => {
    manualSeed(1);
    const m = make(cell, IN, H, { backend: "webgpu", fused });
    const x = randT([B, T, IN], 1, "webgpu");
    const d0 = gpu.stats().dispatches;
    const out = tidy(() => run(m, x).output);
    const d1 = gpu.stats().dispatches;
    tidy(() => out.sum().backward());
    const d2 = gpu.stats().dispatches;
    out.dispose();
    x.dispose();
    m.dispose();
    return { forward: d1 - d0, backward: d2 - d1 };
  };
  for (const cell of ["lstm", "gru"] as const) {
    const a = count(cell, 8, true), b = count(cell, 16, true);
    // Eight more time steps cost exactly eight more step kernels each way.
    assert.equal(b.forward - a.forward, 8, `${cell} forward: ${a.forward} → ${b.forward}`);
    assert.equal(b.backward - a.backward, 8, `${cell} backward: ${a.backward} → ${b.backward}`);
    assert.ok(a.forward <= 8 + 12, `${cell} forward of 8 steps: ${a.forward} dispatches`);
    assert.ok(a.backward <= 8 + 16, `${cell} backward of 8 steps: ${a.backward} dispatches`);
    const u = count(cell, 8, false);
    assert.ok(u.forward > 4 * a.forward, `${cell} unfused forward: ${u.forward} dispatches`);
  }
});

// ---- WebGPU's aliasing rule (Chrome) -------------------------------------------

gpuTest(
  "LSTM/GRU layers and steps where the device forbids aliasing a writable binding (Chrome's rule): no dispatch does, results match CPU",
  async (gpu) => {
    await useGpu(gpu);
    const rt = gpu.rt, dispatch = rt.dispatch, was = rt.strictAliasing;
    let dispatches = 0, repeats = 0;
    rt.dispatch = (src, bufs, params, grid) => {
      dispatches++;
      // A buffer may appear in several read-only bindings, never beside a writable one.
      const writable = bufs.slice(src.reads).map((b) => b.buffer);
      if (writable.some((w) => bufs.filter((b) => b.buffer === w).length > 1)) repeats++;
      return dispatch.call(rt, src, bufs, params, grid);
    };
    const B = 3, IN = 5, H = 8, T = 4;
    const compute = async (cell: Cell, backend: BackendName) => {
      manualSeed(11);
      const m = make(cell, IN, H, { backend, numLayers: 2 });
      const x = randT([B, T, IN], 12, backend, "float32", true);
      const { output, state } = run(m, x);
      output.mul(output).sum().add(state.h!.sum()).backward();
      const step = noGrad(() => stepOnce(m, randT([B, IN], 13, backend), state));
      const vals = [output, x.grad!, ...m.parameters().map((p) => p.grad!), step.output];
      const out = await Promise.all(vals.map(async (t) => Float32Array.from(await t.data())));
      m.dispose();
      return out;
    };
    try {
      for (const strict of [false, true]) {
        rt.strictAliasing = strict;
        repeats = 0;
        dispatches = 0;
        for (const cell of ["lstm", "gru"] as const) {
          const g = await compute(cell, "webgpu"), c = await compute(cell, "cpu");
          g.forEach((v, i) =>
            assertClose(v, c[i]!, { rtol: 1e-4, atol: 1e-5, label: `${cell} ${i}` })
          );
        }
        if (strict) {
          assert.equal(
            repeats,
            0,
            `${repeats} of ${dispatches} dispatches alias a writable binding`,
          );
        } // Without the rule the layers do bind row views of one buffer twice: the check bites.
        else {assert.ok(
            repeats > 0,
            "no dispatch shared a buffer, so the strict run proves nothing",
          );}
      }
    } finally {
      rt.dispatch = dispatch;
      rt.strictAliasing = was;
    }
    await gpu.flush();
  },
);
