/**
 * WebGPU ↔ CPU parity of the elementwise, reduce, copy, gather/scatterAdd and
 * random kernels on awkward shapes (sizes 1, primes, 33, 65, 127; broadcasting
 * in each position; 0-d), every kernel variant forced.
 */
import assert from "node:assert/strict";
import type { Backend, BinaryOp, UnaryOp, View } from "../tensor/backend.ts";
import { CpuBackend } from "../tensor/cpu/backend.ts";
import { BINARY_OPS, UNARY_OPS } from "../tensor/optable.ts";
import { pickReduceKernel, type WebGPUBackend } from "../tensor/webgpu/backend.ts";
import { assertClose } from "./_gradcheck.ts";
import { contiguousStrides, gpuTest, numel, randArray, runBoth } from "./_gpu.ts";

const cpu = new CpuBackend();
const pair = (gpu: WebGPUBackend): [Backend, Backend] => [gpu, cpu];

/** Per-op input range and parameters: every unary op's kernel domains in the op table. */
const UNARY: [UnaryOp, number, number, number?, number?][] = Object.entries(UNARY_OPS).flatMap((
  [op, e],
) =>
  e.kernel.map((d): [UnaryOp, number, number, number?, number?] => [
    op as UnaryOp,
    d.lo,
    d.hi,
    d.params?.[0],
    d.params?.[1],
  ])
);

gpuTest("unary() matches CPU for every op on sizes 1, 7, 33, 127, 1000", async (gpu) => {
  for (const [op, lo, hi, p0, p1] of UNARY) {
    for (const n of [1, 7, 33, 127, 1000]) {
      const x = randArray(n, n * 31 + op.length, lo, hi);
      const [g, c] = await runBoth(pair(gpu), [x], n, (b, [s], o) => b.unary(op, s!, o, p0, p1));
      assertClose(g, c, { rtol: 2e-6, atol: 1e-7, label: `${op}(p0=${p0}) n=${n}` });
    }
  }
});

gpuTest("unary() sigmoid and tanh are finite and exact at ±300, ±20 and near 0", async (gpu) => {
  const x = Float32Array.from([
    -300,
    -88,
    -20,
    -1e-4,
    -1e-8,
    0,
    1e-8,
    1e-4,
    0.1,
    0.124,
    0.126,
    20,
    88,
    300,
  ]);
  for (const op of ["sigmoid", "tanh"] as const) {
    const [g, c] = await runBoth(pair(gpu), [x], x.length, (b, [s], o) => b.unary(op, s!, o));
    assert.ok(g.every(Number.isFinite), `${op} gave ${g}`);
    assertClose(g, c, { rtol: 2e-6, atol: 1e-30, label: op });
  }
});

gpuTest("unary() in place (out aliases x) matches CPU", async (gpu) => {
  const x = randArray(65, 3);
  const out: Float32Array[] = [];
  for (const b of pair(gpu)) {
    const s = b.upload(x, "float32");
    b.unary("tanh", s, s);
    b.unary("affine", s, s, 3, 1);
    out.push(new Float32Array(await b.read(s)));
    b.free(s);
  }
  assertClose(out[0]!, out[1]!, { rtol: 2e-6, atol: 1e-6 });
});

gpuTest(
  "unary() and binary() over fewer elements than out leave the rest untouched",
  async (gpu) => {
    const x = gpu.upload(Float32Array.from([1, 2, 3, 4, 5]), "float32");
    const out = gpu.upload(new Float32Array(11).fill(9), "float32");
    gpu.unary("neg", x, out);
    assert.deepEqual(Array.from(await gpu.read(out)), [-1, -2, -3, -4, -5, 9, 9, 9, 9, 9, 9]);
    gpu.binary("add", x, [1], x, [1], out, [5]);
    assert.deepEqual(Array.from(await gpu.read(out)), [2, 4, 6, 8, 10, 9, 9, 9, 9, 9, 9]);
    const view = { shape: [5], strides: [1], offset: 0 };
    assert.throws(() => gpu.copy(x, view, out, { ...view, offset: 7 }), RangeError);
    for (const s of [x, out]) gpu.free(s);
  },
);

/** [aShape, bShape] pairs broadcast to a common output (NumPy rules). */
const BROADCASTS: [number[], number[]][] = [
  [[33, 65], [33, 65]], // same shape
  [[33, 65], []], // scalar b
  [[], [33, 65]], // scalar a
  [[33, 65], [65]], // last-dim bias
  [[33, 1], [33, 65]], // column a
  [[5, 1, 7], [1, 3, 7]], // both broadcast
  [[5, 3, 1], [1, 3, 7]],
  [[2, 1, 3, 1, 5, 1], [1, 4, 1, 6, 1, 7]], // 6-d, alternating
  [[], []], // 0-d
  [[1], [1, 1]],
  [[127], [1]],
];

/** Broadcast shapes (NumPy rules): the output shape and each input's strides over it. */
function broadcast(...shapes: number[][]): { out: number[]; strides: number[][] } {
  const nd = Math.max(...shapes.map((s) => s.length));
  const padded = shapes.map((s) => [...Array(nd - s.length).fill(1), ...s]);
  const out = Array.from({ length: nd }, (_, i) => Math.max(...padded.map((s) => s[i]!)));
  const strides = padded.map((s) => {
    const c = contiguousStrides(s);
    return s.map((d, i) => (d === 1 ? 0 : c[i]!));
  });
  return { out, strides };
}

const BINARY = Object.keys(BINARY_OPS) as BinaryOp[];

gpuTest("binary() matches CPU for every op with broadcasting in each position", async (gpu) => {
  for (const op of BINARY) {
    for (const [as, bs] of BROADCASTS) {
      const { out, strides: [sa, sb] } = broadcast(as, bs);
      // The op table's domains (pow: a positive base, div: a divisor away from 0); small
      // integers otherwise, so that the comparisons hit equality.
      const da = BINARY_OPS[op].kernel?.a, db = BINARY_OPS[op].kernel?.b;
      const a = da ? randArray(numel(as), 1, da.lo, da.hi) : randArray(numel(as), 1, -3, 3)
        .map(Math.round);
      const b = db ? randArray(numel(bs), 2, db.lo, db.hi) : randArray(numel(bs), 2, -3, 3)
        .map(Math.round);
      const [g, c] = await runBoth(
        pair(gpu),
        [a, b],
        numel(out),
        (k, [x, y], o) => k.binary(op, x!, sa!, y!, sb!, o, out),
      );
      assertClose(g, c, { rtol: 4e-6, atol: 1e-7, label: `${op} ${as} ⊕ ${bs}` });
    }
  }
});

gpuTest("binary() pow is sign-aware for integral exponents and NaN otherwise", async (gpu) => {
  const a = Float32Array.from([-2, -2, -1.5, -3, 2, 0, 0, -2]);
  const b = Float32Array.from([3, 2, 2, 0.5, -1, 2, 0, -3]);
  const [g, c] = await runBoth(
    pair(gpu),
    [a, b],
    8,
    (k, [x, y], o) => k.binary("pow", x!, [1], y!, [1], o, [8]),
  );
  assertClose(g, c, { rtol: 1e-6, label: "pow" });
});

gpuTest("binary() reads transposed and sliced (non-contiguous) inputs", async (gpu) => {
  // a is a [65, 33] storage read as its transpose [33, 65]; b a [33, 130] storage read every 2nd column.
  const a = randArray(65 * 33, 5), b = randArray(33 * 130, 6);
  const [g, c] = await runBoth(
    pair(gpu),
    [a, b],
    33 * 65,
    (k, [x, y], o) => k.binary("sub", x!, [1, 33], y!, [130, 2], o, [33, 65]),
  );
  assertClose(g, c, { rtol: 1e-6, label: "strided sub" });
});

gpuTest("where() matches CPU with broadcast condition and operands", async (gpu) => {
  const cases: [number[], number[], number[]][] = [
    [[33, 65], [33, 65], [33, 65]],
    [[33, 1], [65], [33, 65]],
    [[], [7, 3], [3]],
    [[4, 1, 5], [1, 6, 1], [4, 6, 5]],
  ];
  for (const [cs, as, bs] of cases) {
    const { out, strides: [sc, sa, sb] } = broadcast(cs, as, bs);
    const cond = randArray(numel(cs), 9, -1, 1).map((v) => (v > 0 ? 1 : 0));
    const a = randArray(numel(as), 10), b = randArray(numel(bs), 11);
    const [g, c] = await runBoth(
      pair(gpu),
      [cond, a, b],
      numel(out),
      (k, [x, y, z], o) => k.where(x!, sc!, y!, sa!, z!, sb!, o, out),
    );
    assertClose(g, c, { rtol: 0, atol: 0, label: `where ${cs} ${as} ${bs}` });
  }
});

gpuTest("fill() writes every element, including sizes 0 and 1", async (gpu) => {
  for (const n of [0, 1, 1000]) {
    const [g, c] = await runBoth(pair(gpu), [], n, (k, _, o) => k.fill(o, -3.5));
    assertClose(g, c, { rtol: 0, atol: 0, label: `fill n=${n}` });
  }
});

/** [outer, reduce, inner] cases; large reduce with few outputs is what the tree kernel is for. */
const REDUCES: [number, number, number][] = [
  [1, 1, 1],
  [1, 5, 1],
  [33, 65, 17],
  [4096, 3, 1],
  [1, 100003, 1],
  [7, 1000, 3],
  [2, 0, 3],
];

gpuTest("reduce() sum and max match CPU with both kernels forced", async (gpu) => {
  try {
    for (const kernel of ["loop", "tree"] as const) {
      gpu.force.reduce = kernel;
      for (const [outer, reduce, inner] of REDUCES) {
        const x = randArray(outer * reduce * inner, outer + reduce + inner);
        for (const op of ["sum", "max"] as const) {
          const [g, c] = await runBoth(
            pair(gpu),
            [x],
            outer * inner,
            (k, [s], o) => k.reduce(op, s!, o, { outer, reduce, inner }),
          );
          // Float32 summation error grows like √n · ε · Σ|x| (|x| < 2).
          const atol = op === "sum" ? 4 * Math.sqrt(reduce + 1) * 6e-8 * 2 * reduce + 1e-7 : 0;
          assertClose(g, c, {
            rtol: 1e-6,
            atol,
            label: `${kernel} ${op} [${outer},${reduce},${inner}]`,
          });
        }
      }
    }
  } finally {
    gpu.force.reduce = undefined;
  }
});

gpuTest(
  "copy() matches CPU for slices, transposes, cat-like writes and broadcasts",
  async (gpu) => {
    const cases: { n: number; dst: number; src: View; dstView: View; label: string }[] = [
      {
        label: "contiguous with offsets",
        n: 100,
        dst: 120,
        src: { shape: [7, 9], strides: [9, 1], offset: 11 },
        dstView: { shape: [7, 9], strides: [9, 1], offset: 5 },
      },
      {
        label: "transpose [7,33,5] → [5,33,7]",
        n: 7 * 33 * 5,
        dst: 7 * 33 * 5,
        src: { shape: [5, 33, 7], strides: [1, 5, 165], offset: 0 },
        dstView: { shape: [5, 33, 7], strides: [231, 7, 1], offset: 0 },
      },
      {
        label: "narrow the middle dim of [4, 65, 3]",
        n: 4 * 65 * 3,
        dst: 4 * 20 * 3,
        src: { shape: [4, 20, 3], strides: [195, 3, 1], offset: 3 * 17 },
        dstView: { shape: [4, 20, 3], strides: [60, 3, 1], offset: 0 },
      },
      {
        label: "cat-like: [5, 7] into columns 4..11 of [5, 13]",
        n: 35,
        dst: 65,
        src: { shape: [5, 7], strides: [7, 1], offset: 0 },
        dstView: { shape: [5, 7], strides: [13, 1], offset: 4 },
      },
      {
        label: "broadcast a row",
        n: 17,
        dst: 33 * 17,
        src: { shape: [33, 17], strides: [0, 1], offset: 0 },
        dstView: { shape: [33, 17], strides: [17, 1], offset: 0 },
      },
      {
        label: "0-d",
        n: 5,
        dst: 5,
        src: { shape: [], strides: [], offset: 3 },
        dstView: { shape: [], strides: [], offset: 1 },
      },
      {
        label: "6-d permute",
        n: 2 * 3 * 4 * 5 * 2 * 3,
        dst: 720,
        src: { shape: [3, 2, 5, 4, 3, 2], strides: [120, 360, 6, 30, 1, 3], offset: 0 },
        dstView: { shape: [3, 2, 5, 4, 3, 2], strides: [240, 120, 24, 6, 2, 1], offset: 0 },
      },
    ];
    for (const c of cases) {
      const src = randArray(c.n, c.n), init = randArray(c.dst, 7);
      const [g, e] = await runBoth(
        pair(gpu),
        [src],
        c.dst,
        (k, [s], o) => k.copy(s!, c.src, o, c.dstView),
        init,
      );
      assertClose(g, e, { rtol: 0, atol: 0, label: c.label });
    }
  },
);

gpuTest("gather() and scatterAdd() match CPU, both scatter kernels forced", async (gpu) => {
  const cases = [
    { outer: 3, axisSize: 10, indexSize: 7, inner: 5 },
    { outer: 1, axisSize: 1, indexSize: 1, inner: 1 },
    { outer: 33, axisSize: 10, indexSize: 1, inner: 1 },
    { outer: 1, axisSize: 100, indexSize: 200, inner: 3 },
  ];
  try {
    for (const kernel of ["loop", "atomic"] as const) {
      gpu.force.scatter = kernel;
      for (const p of cases) {
        const { outer, axisSize, indexSize, inner } = p;
        const x = randArray(outer * axisSize * inner, 1);
        const nIdx = outer * indexSize * inner;
        const idx = randArray(nIdx, 2, 0, axisSize).map(Math.floor);
        const [g, c] = await runBoth(
          pair(gpu),
          [x, idx],
          nIdx,
          (k, [a, i], o) => k.gather(a!, i!, o, p),
        );
        assertClose(g, c, { rtol: 0, atol: 0, label: `gather ${JSON.stringify(p)}` });
        const gr = randArray(nIdx, 3);
        const [gs, cs] = await runBoth(
          pair(gpu),
          [gr, idx],
          outer * axisSize * inner,
          (k, [a, i], o) => k.scatterAdd(a!, i!, o, p),
        );
        assertClose(gs, cs, {
          rtol: 1e-5,
          atol: 1e-6,
          label: `scatterAdd ${kernel} ${JSON.stringify(p)}`,
        });
      }
    }
  } finally {
    gpu.force.scatter = undefined;
  }
});

gpuTest("gather() gives 0 for out-of-range indices on the GPU", async (gpu) => {
  const x = gpu.upload(Float32Array.from([1, 2, 3]), "float32");
  const idx = gpu.upload(Float32Array.from([-1, 0, 2, 3, 99]), "float32");
  const out = gpu.alloc(5, "float32");
  gpu.gather(x, idx, out, { outer: 1, axisSize: 3, indexSize: 5, inner: 1 });
  assert.deepEqual(Array.from(await gpu.read(out)), [0, 1, 3, 0, 0]);
  for (const s of [x, idx, out]) gpu.free(s);
});

gpuTest("random() uniform is bit-exact with the CPU stream", async (gpu) => {
  const bounds: [number, number][] = [
    [0, 1],
    [-1, 1],
    [-0.1, 0.1],
    [-1 / Math.sqrt(7), 1 / Math.sqrt(7)],
    [2, 5.3],
    [3, 3],
    [0, 0.3],
  ];
  const counters = [0, 4294967296 - 100, 2 ** 40 + 7];
  for (const [lo, hi] of bounds) {
    for (const counter of counters) {
      const p = {
        dist: "uniform" as const,
        key: [0xDEADBEEF, 0x12345678] as [number, number],
        counter,
        lo,
        hi,
      };
      const [g, c] = await runBoth(pair(gpu), [], 4099, (k, _, o) => k.random(o, p));
      assertClose(g, c, { rtol: 0, atol: 0, label: `uniform [${lo}, ${hi}) counter ${counter}` });
    }
  }
});

gpuTest("random() normal matches the CPU stream within float32 tolerance", async (gpu) => {
  for (const [mean, std] of [[0, 1], [3, 0.02]]) {
    const p = {
      dist: "normal" as const,
      key: [7, 9] as [number, number],
      counter: 4294967296 - 3000,
      lo: mean,
      hi: std,
    };
    const [g, c] = await runBoth(pair(gpu), [], 100003, (k, _, o) => k.random(o, p));
    assertClose(g, c, { rtol: 1e-5, atol: 5e-6 * std, label: `normal(${mean}, ${std})` });
  }
});

gpuTest("kernels finish: flush() resolves", async (gpu) => {
  await gpu.flush();
});

gpuTest(
  "binary() bias-like broadcasts (vec4 block layout and its fallbacks) match CPU",
  async (gpu) => {
    // [rows, cols] + [cols]: cols % 4 == 0 takes the vec4 block kernel; the
    // others (odd cols, bias first, a column broadcast) the scalar block one.
    const cases: [number[], number[], number[], number[], number[]][] = [
      [[33, 8], [33, 8], [8, 1], [0, 1], [8]],
      [[5, 256], [5, 256], [256, 1], [0, 1], [256]],
      [[1, 4], [1, 4], [4, 1], [0, 1], [4]],
      [[5, 7], [5, 7], [7, 1], [0, 1], [7]],
      [[6, 12], [12], [0, 1], [12, 1], [6, 12]],
      [[9, 4], [9, 4], [4, 1], [1, 0], [9]],
    ];
    for (const [out, aShape, aStr, bStr, bShape] of cases) {
      const a = randArray(numel(aShape), numel(out)), b = randArray(numel(bShape), 3);
      for (const op of ["add", "mul", "sub"] as const) {
        const [g, c] = await runBoth(
          pair(gpu),
          [a, b],
          numel(out),
          (k, [x, y], o) => k.binary(op, x!, aStr, y!, bStr, o, out),
        );
        assertClose(g, c, {
          rtol: 0,
          atol: 0,
          label: `${op} ${JSON.stringify([out, aStr, bStr])}`,
        });
      }
    }
  },
);

gpuTest(
  "copy() 4-aligned row views (vec4 row kernel) and misaligned ones match CPU",
  async (gpu) => {
    // Slices of a packed [B, T + 1, H] sequence, the shift by one step, and
    // offsets/widths that are not multiples of 4 (strided fallback).
    const cases: [number, number, View, View][] = [
      [3 * 5 * 8, 3 * 4 * 8, { shape: [3, 4, 8], strides: [40, 8, 1], offset: 0 }, {
        shape: [3, 4, 8],
        strides: [32, 8, 1],
        offset: 0,
      }],
      [3 * 5 * 8, 3 * 8, { shape: [3, 8], strides: [40, 1], offset: 32 }, {
        shape: [3, 8],
        strides: [8, 1],
        offset: 0,
      }],
      [1 * 5 * 12, 1 * 5 * 12, { shape: [1, 4, 12], strides: [60, 12, 1], offset: 0 }, {
        shape: [1, 4, 12],
        strides: [60, 12, 1],
        offset: 12,
      }],
      [3 * 5 * 7, 3 * 4 * 7, { shape: [3, 4, 7], strides: [35, 7, 1], offset: 0 }, {
        shape: [3, 4, 7],
        strides: [28, 7, 1],
        offset: 0,
      }],
      [3 * 5 * 8, 3 * 8, { shape: [3, 8], strides: [40, 1], offset: 30 }, {
        shape: [3, 8],
        strides: [8, 1],
        offset: 0,
      }],
    ];
    for (const [n, dst, src, dstView] of cases) {
      const x = randArray(n, n), init = randArray(dst, 5);
      const [g, e] = await runBoth(
        pair(gpu),
        [x],
        dst,
        (k, [s], o) => k.copy(s!, src, o, dstView),
        init,
      );
      assertClose(g, e, { rtol: 0, atol: 0, label: JSON.stringify([src, dstView]) });
    }
  },
);

Deno.test("pickReduceKernel() prefers the loop kernel on software adapters", () => {
  const p = { outer: 1, reduce: 1500, inner: 256 };
  assert.equal(pickReduceKernel(p), "tree");
  assert.equal(pickReduceKernel(p, true), "loop");
  assert.equal(pickReduceKernel({ outer: 1, reduce: 1500, inner: 1 }, true), "tree");
  assert.equal(pickReduceKernel({ outer: 1, reduce: 1e6, inner: 256 }, true), "tree");
});
