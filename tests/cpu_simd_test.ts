/**
 * The WebAssembly SIMD matmul strip kernels of the CPU backend: for float64
 * the results are bit-identical to the scalar micro-kernel; for float32 (four
 * float32 lanes, float32 accumulation) they are within float32 rounding of it,
 * and the same to the bit on one thread and on the pool. Awkward sizes,
 * transposes, batches, and the fused recurrent steps that use them.
 *
 * @module
 */
import assert from "node:assert/strict";
import { CpuBackend } from "../tensor/cpu/backend.ts";
import { matmulKernel, pack } from "../tensor/cpu/matmul.ts";
import { isSimdBinary, MR32, setSimdEnabled, simdKernel } from "../tensor/cpu/simd.ts";
import { adamStep, matmulCases, values } from "./_values.ts";
import { gruLayer, lstmLayer, lstmStep } from "../tensor/routines/rnn/mod.ts";
import { setFusedCellsEnabled } from "../tensor/routines/rnn/cpu.ts";
import { setPoolBackoff, withCpuThreads } from "../tensor/cpu/pool.ts";
import { assertPoolStarts } from "./_env.ts";
import { SIMD_MAP_MIN, unaryKernel } from "../tensor/cpu/unary.ts";
import { binaryKernel } from "../tensor/cpu/binary.ts";
import { reduceKernel } from "../tensor/cpu/reduce.ts";
import { contiguousStrides } from "../tensor/cpu/strided.ts";
import { SIMD_ADAM_MIN } from "../tensor/routines/optim/cpu.ts";
import { type Tensor, tensor } from "../mod.ts";

/** Run f with SIMD forced on or off. */
function withSimd<T>(on: boolean, f: () => T): T {
  const was = setSimdEnabled(on);
  try {
    return f();
  } finally {
    setSimdEnabled(was);
  }
}

Deno.test("the SIMD kernel is available on this runtime", () => {
  assert.ok(simdKernel() !== null);
});

Deno.test("SIMD matmul equals the scalar kernel: float64 bit for bit, float32 within rounding", () => {
  const shapes = [
    [5, 7, 9],
    [16, 16, 16],
    [33, 1, 65],
    [100, 64, 256],
    [13, 300, 17],
    [3, 2000, 5],
    [257, 129, 131],
    [1500, 49, 20],
    [7, 9000, 11],
  ] as const;
  const layouts = [[1, 1, 0], [3, 1, 0], [2, 1, 1]] as const;
  for (const { p, f64, a, b, what } of matmulCases(shapes, layouts)) {
    const size = p.batch * p.m * p.n;
    const simd = f64 ? new Float64Array(size) : new Float32Array(size);
    const scalar = f64 ? new Float64Array(size) : new Float32Array(size);
    withSimd(true, () => matmulKernel(a, b, simd, p));
    withSimd(false, () => matmulKernel(a, b, scalar, p));
    if (f64) {
      assert.deepEqual(simd, scalar, what);
      continue;
    }
    // float32 accumulation of k products: |error| ≤ k·u·Σ|a||b| (u = 2^-24), plus
    // the reference's own rounding
    const absSum = new Float64Array(size);
    withSimd(false, () => matmulKernel(a.map(Math.abs), b.map(Math.abs), absSum, p));
    for (let i = 0; i < size; i++) {
      const tol = (p.k + 1) * 2 ** -24 * absSum[i]! * 1.01;
      const diff = Math.abs(simd[i]! - scalar[i]!);
      assert.ok(diff <= tol, `${what}: element ${i} differs by ${diff} > ${tol}`);
    }
    const simd1 = new Float32Array(size);
    withSimd(true, () => matmulKernel(a, b, simd1, p, false));
    assert.deepEqual(simd1, simd, `${what}: one thread vs pool`);
  }
});

Deno.test("float32 SIMD matmul differs from float64 accumulation (it really runs in float32)", () => {
  // 1 + 2^-24·(k times): float64 accumulation keeps the small terms, float32 drops them
  const k = 64, m = 8, n = 16; // large enough for the packed kernel
  const a = new Float32Array(m * k).fill(1), b = new Float32Array(k * n).fill(2 ** -25);
  for (let j = 0; j < n; j++) b[j] = 1;
  const p = { batch: 1, m, n, k, transA: false, transB: false, strideA: 0, strideB: 0 };
  const simd = new Float32Array(m * n), scalar = new Float32Array(m * n);
  withSimd(true, () => matmulKernel(a, b, simd, p));
  withSimd(false, () => matmulKernel(a, b, scalar, p));
  assert.equal(scalar[0], Math.fround(1 + 63 * 2 ** -25));
  assert.equal(simd[0], 1);
});

Deno.test("SIMD and scalar fused LSTM steps agree within float32 rounding", async () => {
  const run = (on: boolean) =>
    withSimd(on, async () => {
      const cpu = new CpuBackend();
      const B = 37, H = 29, G = 4 * H;
      const up = (n: number, s: number) => cpu.upload(values(n, s), "float32");
      const x = up(B * G, 1), h = up(B * H, 2), c = up(B * H, 3), w = up(G * H, 4);
      const hOut = cpu.alloc(B * H, "float32"), cOut = cpu.alloc(B * H, "float32");
      const rows = (storage: typeof x, stride: number) => ({ storage, offset: 0, stride });
      lstmStep(cpu, {
        batch: B,
        hidden: H,
        x: rows(x, G),
        h: rows(h, H),
        c: rows(c, H),
        whh: w,
        hOut: rows(hOut, H),
        cOut: rows(cOut, H),
        gates: null,
      });
      return [await cpu.read(hOut), await cpu.read(cOut)];
    });
  const [on, off] = [await run(true), await run(false)];
  for (let i = 0; i < on.length; i++) {
    let worst = 0;
    for (let j = 0; j < on[i]!.length; j++) {
      worst = Math.max(worst, Math.abs(on[i]![j]! - off[i]![j]!));
    }
    assert.ok(worst < 1e-5, `output ${i}: max diff ${worst}`);
    assert.notDeepEqual(on[i], new Float32Array(on[i]!.length));
  }
});

Deno.test("the fused float32 LSTM and GRU steps equal the staged ones to the bit, forward and backward", async () => {
  // B = 1 and H = 6 take the staged path either way (a one-row product, H not a multiple of 4)
  // B = 103: 17 whole strips of 6 rows and one of 1
  const sizes = [[5, 3, 8], [37, 4, 12], [2, 2, 20], [9, 1, 4], [1, 3, 8], [6, 2, 6], [103, 2, 8]];
  for (const [B, T, H] of sizes) {
    for (const cell of ["lstm", "gru"] as const) {
      const G = (cell === "lstm" ? 4 : 3) * H;
      const shapes = cell === "lstm"
        ? [[B, T, G], [G, H], [B, H], [B, H]]
        : [[B, T, G], [G, H], [G], [B, H]];
      // one thread: the switch is per thread (the pool's workers keep the fused path)
      const run = (fused: boolean): Tensor[] =>
        withCpuThreads(1, () => {
          const was = setFusedCellsEnabled(fused);
          try {
            const ins = shapes.map((shape, i) =>
              tensor(values(shape.reduce((a, b) => a * b), 10 + i), shape, { requiresGrad: true })
            );
            const [a, b, c, d] = ins as [Tensor, Tensor, Tensor, Tensor];
            const r = cell === "lstm" ? lstmLayer(a, b, c, d) : gruLayer(a, b, c, d);
            const last: Tensor = "cT" in r ? (r as { cT: Tensor }).cT : r.hT;
            r.output.mul(r.output).sum().add(last.sum()).backward();
            return [r.output, last, ...ins.map((t) => t.grad!)];
          } finally {
            setFusedCellsEnabled(was);
          }
        });
      const [fused, staged] = [run(true), run(false)];
      for (let i = 0; i < fused.length; i++) {
        const [f, s] = [await fused[i]!.data(), await staged[i]!.data()];
        const what = `${cell} B ${B} T ${T} H ${H}: result ${i}`;
        assert.deepEqual(f, s, what);
        assert.ok(f.some((v) => v !== 0), `${what} is all zeros`);
      }
    }
  }
});

Deno.test("SIMD sigmoid and tanh are within 2e-7 of Math over the whole float32 range", () => {
  const simd = simdKernel()!;
  const n = 1 << 18;
  const xs = new Float32Array(n);
  const bits = new Uint32Array(xs.buffer);
  // every 2^14-th float32 bit pattern (both signs, denormals, Inf, NaN), then the edges
  for (let i = 0; i < n; i++) bits[i] = i * 0x4000 + (i % 7);
  const edges = [0, -0, Infinity, -Infinity, NaN, 1e-30, -1e-30, 1e-45, 0.625, -0.625];
  xs.set([...edges, 0.62499994, 87.3, -87.3, 88, -88, 89, -89, 100, -1e30, 1e30, 8, -8], 0);
  for (let i = 0; i < 4096; i++) xs[64 + i] = (i - 2048) / 128; // dense over [-16, 16]
  const cases = [
    ["sigmoid", simd.sigmoid32, (v: number) => 1 / (1 + Math.exp(-v))],
    ["tanh", simd.tanh32, Math.tanh],
  ] as const;
  for (const [name, f, ref] of cases) {
    simd.reserve(n * 4);
    simd.f32.set(xs, 0);
    f(0, n - 3); // n − 3 rounds up to n: the last vector is done whole
    let worstAbs = 0, worstRel = 0;
    for (let i = 0; i < n; i++) {
      const x = xs[i]!, y = simd.f32[i]!, r = ref(x);
      if (Number.isNaN(x)) {
        assert.ok(Number.isNaN(y), `${name}(NaN) = ${y}`);
        continue;
      }
      const d = Math.abs(y - r);
      worstAbs = Math.max(worstAbs, d);
      if (Math.abs(r) > 1e-30) worstRel = Math.max(worstRel, d / Math.abs(r));
      assert.ok(d <= 2e-7, `${name}(${x}) = ${y}, Math gives ${r}`);
    }
    // relative error: about 2 float32 ulps wherever the result is not tiny
    assert.ok(worstRel <= 2.5e-7, `${name}: relative error ${worstRel}`);
    assert.equal(simd.f32[2], 1, `${name}(+Inf)`);
    assert.equal(simd.f32[3], name === "sigmoid" ? Math.fround(1 / (1 + Math.exp(88))) : -1);
  }
});

Deno.test("float32 relu, leakyRelu, step and affine as SIMD maps give the JavaScript loops' bits", () => {
  const special = [0, -0, Infinity, -Infinity, NaN, 1e-45, -1e-45, 1.1754942e-38, 3.4028235e38];
  const params: [string, number, number][] = [
    ["relu", 0, 0],
    ["leakyRelu", 0.01, 0],
    ["leakyRelu", 0.2, 0],
    ["step", 0, 0],
    ["step", 0.2, 0], // not a float32: the comparison must be made in float64
    ["step", -1e-46, 0],
    ["affine", 0.8, 0.2], // 1 − s, s of leakyRelu's gradient
    ["affine", -1.5, 0.1],
    ["affine", 1e30, -3e38],
  ];
  for (const n of [SIMD_MAP_MIN, SIMD_MAP_MIN + 1, 3 * 8192 + 5]) {
    const x = Float32Array.from(values(n, n), (v, i) => i < special.length ? special[i]! : v * 4);
    // values near the step's thresholds: the float32 neighbours of 0.2
    for (let i = 0; i < 6; i++) x[20 + i] = [0.2, 0.19999999, 0.20000002, -0, 1e-45, -1e-45][i]!;
    for (const [op, p0, p1] of params) {
      const run = (maps: boolean, inPlace: boolean): Float32Array => {
        const was = setSimdEnabled(maps);
        try {
          const src = x.slice();
          const out = inPlace ? src : new Float32Array(n);
          unaryKernel(op as "relu", src, out, n, p0, p1);
          return out;
        } finally {
          setSimdEnabled(was);
        }
      };
      const ref = new Uint32Array(run(false, false).buffer);
      for (const inPlace of [false, true]) {
        const got = new Uint32Array(run(true, inPlace).buffer);
        const bad = got.findIndex((v, i) => v !== ref[i] && !(isNaN32(v) && isNaN32(ref[i]!)));
        assert.equal(
          bad,
          -1,
          `${op}(${p0}, ${p1}) n ${n}: x = ${x[bad]} gives ${new Float32Array(got.buffer)[bad]}`,
        );
      }
    }
  }
});

/** Whether a float32 bit pattern is a NaN (payloads may differ between the two paths). */
function isNaN32(bits: number): boolean {
  return (bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0;
}

Deno.test("float32 add, sub, mul, div and comparisons in SIMD give the JavaScript loops' bits, broadcasting included", () => {
  const special = [0, -0, Infinity, -Infinity, NaN, 1e-45, -1e-45, 3.4028235e38, -3.4028235e38];
  // [out shape, a shape, b shape]: same shape, bias rows (either side), a scalar, rows longer
  // than a block (8192), and a column broadcast (not SIMD: the JS loop runs)
  const cases: number[][][] = [
    [[3001], [3001], [3001]],
    [[300, 17], [300, 17], [17]],
    [[300, 17], [17], [300, 17]],
    [[5000], [5000], [1]],
    [[2, 3, 9000], [2, 3, 9000], [9000]],
    [[3, 20000], [3, 20000], [1]],
    [[1000, 3], [1000, 1], [1, 3]],
  ];
  const stridesOf = (shape: number[], out: number[]) => {
    const full = [...new Array(out.length - shape.length).fill(1), ...shape];
    const st = contiguousStrides(full);
    return full.map((d, i) => (d === 1 && out[i] !== 1 ? 0 : st[i]!));
  };
  for (const [out, sa, sb] of cases) {
    const n = out!.reduce((x, y) => x * y);
    const fill = (shape: number[], seed: number) => {
      const m = shape.reduce((x, y) => x * y);
      return Float32Array.from(
        values(m, seed),
        (v, i) => i < special.length ? special[(i + seed) % 9]! : v * 3,
      );
    };
    const a = fill(sa!, 1), b = fill(sb!, 2);
    // every third pair equal (for the comparisons), NaN and ±0 included
    for (let i = 0; i < Math.min(a.length, b.length); i += 3) b[i] = a[i]!;
    const ops = ["add", "sub", "mul", "div", "eq", "ne", "lt", "le", "gt", "ge"] as const;
    assert.ok(ops.every(isSimdBinary), "every op listed runs in SIMD");
    for (const op of ops) {
      const run = (on: boolean, inPlace: boolean) => {
        const was = setSimdEnabled(on);
        try {
          const x = a.slice(), y = b.slice();
          const o = inPlace && x.length === n ? x : new Float32Array(n);
          binaryKernel(op, x, stridesOf(sa!, out!), y, stridesOf(sb!, out!), o, out!);
          return new Uint32Array(o.buffer);
        } finally {
          setSimdEnabled(was);
        }
      };
      const ref = run(false, false);
      for (const inPlace of [false, true]) {
        const got = run(true, inPlace);
        const bad = got.findIndex((v, i) => v !== ref[i] && !(isNaN32(v) && isNaN32(ref[i]!)));
        assert.equal(
          bad,
          -1,
          `${op} ${JSON.stringify([out, sa, sb])} in place ${inPlace}: element ${bad}`,
        );
      }
    }
  }
});

Deno.test("float32 Adam and AdamW updates in SIMD give the JavaScript loop's bits", async () => {
  const cpu = new CpuBackend();
  const n = 3 * 4096 + 7; // three whole blocks and an odd tail
  assert.ok(n >= SIMD_ADAM_MIN);
  const specials = [0, -0, 1e-45, -3.4e38, 3.4e38, 1e-20, -1e-30];
  const start = (seed: number, scale: number) =>
    Float32Array.from(values(n, seed), (v, i) => (i < specials.length ? specials[i]! : v * scale));
  const variants: [string, "adam" | "adamw", number][] = [
    ["adam", "adam", 0],
    ["adam + L2", "adam", 0.01],
    ["adamw", "adamw", 0.05],
  ];
  for (const [name, kind, weightDecay] of variants) {
    const run = (on: boolean) => {
      const was = setSimdEnabled(on);
      try {
        // every third parameter starts at 0, so its update is not hidden by its rounding
        const p0 = start(1, 2).map((x, i) => (i % 3 === 0 ? 0 : x));
        const [p, m, v] = [p0, start(2, 0.1), start(3, 0.01).map(Math.abs)].map((a) =>
          cpu.upload(a, "float32")
        );
        for (let t = 1; t <= 3; t++) {
          const grad = cpu.upload(start(10 + t, 1e3 ** (t - 2)), "float32");
          adamStep(cpu, kind, weightDecay, t, { param: p!, grad, expAvg: m!, expAvgSq: v! });
        }
        return Promise.all(
          [p!, m!, v!].map(async (st) => new Uint32Array((await cpu.read(st)).buffer)),
        );
      } finally {
        setSimdEnabled(was);
      }
    };
    const [ref, got] = [await run(false), await run(true)];
    ["param", "expAvg", "expAvgSq"].forEach((what, k) => {
      const bad = got[k]!.findIndex((x, i) =>
        x !== ref[k]![i] && !(isNaN32(x) && isNaN32(ref[k]![i]!))
      );
      assert.equal(bad, -1, `${name}: ${what} element ${bad}`);
    });
  }
});

Deno.test("the CPU matmul's bias epilogue gives the bits of the product followed by a separate add", async () => {
  // m, k, n: the simple path, SIMD strips, k cut into blocks, n in several column blocks, k = 0
  const shapes = [[5, 7, 9], [100, 64, 256], [13, 600, 17], [40, 30, 3000], [6, 0, 10]] as const;
  const layouts = [[1, 1, 0], [3, 1, 0]] as const;
  const cpu = new CpuBackend();
  await assertPoolStarts(); // the pooled case must split
  const was = setPoolBackoff(false); // every large job on the pool
  try {
    for (const { p, f64, a, b, what } of matmulCases(shapes, layouts)) {
      const size = p.batch * p.m * p.n, dt = f64 ? "float64" : "float32";
      const bias = [values(p.n, 99, f64), values(p.n, 98, f64)];
      const [sa, sb, s0, s1] = [a, b, ...bias].map((x) => cpu.upload(x, dt));
      const run = (biases: number, threads: number, simdOn: boolean) => {
        const out = cpu.alloc(size, dt);
        withCpuThreads(
          threads,
          () => withSimd(simdOn, () => cpu.matmul(sa!, sb!, out, p, [s0!, s1!].slice(0, biases))),
        );
        return cpu.read(out);
      };
      const plain = [await run(0, 1, false), await run(0, 1, true)];
      for (const biases of [1, 2]) {
        const sum = biases === 1 ? bias[0]! : bias[0]!.map((x, j) => x + bias[1]![j]!);
        for (const [threads, simdOn] of [[1, true], [2, true], [1, false]] as const) {
          const want = plain[Number(simdOn)]!.map((x, i) => x + sum[i % p.n]!);
          const got = await run(biases, threads, simdOn);
          const bad = got.findIndex((x, i) => x !== want[i]);
          assert.equal(
            bad,
            -1,
            `${what}, ${biases} biases, ${threads} threads, simd ${simdOn}: [${bad}]`,
          );
        }
      }
    }
  } finally {
    setPoolBackoff(was);
  }
  assert.throws(
    () =>
      matmulKernel(
        new Float32Array(4),
        new Float32Array(4),
        new Float32Array(4),
        {
          batch: 1,
          m: 2,
          n: 2,
          k: 2,
          transA: false,
          transB: false,
          strideA: 0,
          strideB: 0,
        },
        false,
        new Float32Array(1),
      ),
    /bias holds 1 elements, n is 2/,
  );
});

Deno.test("float32 matmul with op(A) staged as it lies and op(B) packed in SIMD gives the packed strips' bits", () => {
  const simd = simdKernel()!;
  // m, k, n (all through the packed kernel): rows not a whole strip, one strip, odd k, n not
  // a multiple of 8, one column block; then 3 depth blocks and 2 column blocks, and 2 depth,
  // 6 column and 2 row blocks (op(A) is staged once per row block, all k deep)
  const shapes = [
    [7, 100, 9],
    [6, 49, 16],
    [13, 64, 49],
    [100, 113, 256],
    [31, 300, 17],
    [13, 1100, 300],
    [400, 700, 1030],
  ] as const;
  let seed = 1;
  for (const [m, k, n] of shapes) {
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
      const a = values(m * k, seed++, false) as Float32Array;
      const b = values(k * n, seed++, false) as Float32Array;
      const p = { batch: 1, m, n, k, transA, transB, strideA: 0, strideB: 0 };
      const got = new Float32Array(m * n);
      withSimd(true, () => matmulKernel(a, b, got, p, false));
      // the reference: op(A) packed MR32 wide, op(B) 8 wide, one packed strip per MR32 rows
      // over each block of at most 512 depths in turn, adding to the sums of the earlier ones
      const mp = Math.ceil(m / MR32) * MR32, np = Math.ceil(n / 8) * 8;
      const blocks = Math.ceil(k / 512), kc = Math.ceil(k / blocks);
      const aAt = mp * np, bAt = aAt + mp * kc;
      simd.reserve((bAt + np * kc) * 4);
      const [ai, ak] = transA ? [1, m] : [k, 1], [bk, bj] = transB ? [1, k] : [n, 1];
      for (let p0 = 0; p0 < k; p0 += kc) {
        const kw = Math.min(kc, k - p0);
        pack(a, p0 * ak, ai, ak, m, kw, simd.f32, aAt, MR32);
        pack(b, p0 * bk, bj, bk, n, kw, simd.f32, bAt, 8);
        for (let i0 = 0; i0 < m; i0 += MR32) {
          simd.strip32(aAt + i0 * kw, bAt, i0 * np, np, kw, p0 > 0);
        }
      }
      const want = new Float32Array(m * n);
      for (let i = 0; i < m; i++) want.set(simd.f32.subarray(i * np, i * np + n), i * n);
      const bad = got.findIndex((x, i) => !Object.is(x, want[i]));
      assert.equal(
        bad,
        -1,
        `[${m}, ${k}]·[${k}, ${n}] transA ${transA} transB ${transB}: [${bad}]`,
      );
    }
  }
  // a strip over rows `pitch` apart reads row r at ap + r·pitch
  const k = 5, pitch = 7, run = simd.rowStrip(pitch);
  simd.reserve(4096 * 4);
  const f = simd.f32;
  f.fill(0, 0, 4096);
  for (let r = 0; r < MR32; r++) for (let q = 0; q < k; q++) f[1000 + r * pitch + q] = r + 1;
  for (let q = 0; q < k * 8; q++) f[2000 + q] = 1; // op(B): ones
  run(1000, 2000, 0, 8, k, false);
  for (let r = 0; r < MR32; r++) assert.equal(f[r * 8 + 3], k * (r + 1), `row ${r}`);
});

Deno.test("float32 sums over a middle axis in SIMD give the float64 loop's bits", () => {
  // [outer, reduce, inner]: odd inner, rows not a multiple of 4, several outer blocks,
  // more rows than one copied block holds (2^15 float32s), inner > one block
  const shapes = [[1, 1500, 256], [3, 77, 33], [2, 7, 2001], [1, 301, 129], [1, 3, 40000]];
  let seed = 11;
  for (const [outer, reduce, inner] of shapes as [number, number, number][]) {
    // exponents over 2^±30: the float64 sums round, so their order shows in the bits
    const x = (values(outer * reduce * inner, seed++, false) as Float32Array)
      .map((v, i) => v * 2 ** (((i * 7919) % 61) - 30));
    const p = { outer, reduce, inner };
    const simdOut = new Float32Array(outer * inner), loop = new Float32Array(outer * inner);
    withSimd(true, () => reduceKernel("sum", x, simdOut, p));
    withSimd(false, () => reduceKernel("sum", x, loop, p));
    const bad = simdOut.findIndex((v, i) => !Object.is(v, loop[i]));
    assert.equal(bad, -1, `[${outer}, ${reduce}, ${inner}]: [${bad}]`);
    // and the loop is the float64 sum of each column, rounded once
    const j = inner - 1, b = outer - 1;
    let s = 0;
    for (let r = 0; r < reduce; r++) s += x[(b * reduce + r) * inner + j]!;
    assert.equal(loop[b * inner + j], Math.fround(s));
  }
  // rows 2^60, 1, 1, 1, 1, 1, −2^60: in order each 1 is lost (half an ulp of 2^60 is 128), the
  // sum is 0; any other order of the rows keeps some of them
  const inner = 1024, rows = [2 ** 60, 1, 1, 1, 1, 1, -(2 ** 60)];
  const x = new Float32Array(rows.length * inner).map((_, i) => rows[Math.floor(i / inner)]!);
  const out = new Float32Array(inner);
  withSimd(true, () => reduceKernel("sum", x, out, { outer: 1, reduce: rows.length, inner }));
  assert.deepEqual(out, new Float32Array(inner));
});
