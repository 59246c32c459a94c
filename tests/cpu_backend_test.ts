/**
 * The CPU backend's kernels against straightforward reference loops written
 * here, on random inputs with awkward shapes, in both dtypes.
 *
 * @module
 */
import assert from "node:assert/strict";
import { CpuBackend } from "../tensor/cpu/backend.ts";
import type {
  BinaryOp,
  DType,
  GatherParams,
  MatmulParams,
  Storage,
  TypedArray,
  UnaryOp,
  View,
} from "../tensor/backend.ts";
import { fillRandom, philox4x32, setWasmPhilox, wasmPhiloxAvailable } from "../tensor/random.ts";

const cpu = new CpuBackend();
const DTYPES: readonly DType[] = ["float32", "float64"];

// ---------------------------------------------------------------- helpers

/** Deterministic uniform numbers in [0, 1) (mulberry32). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6D2B79F5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = rng(12345);

function hostArray(size: number, dtype: DType): TypedArray {
  return dtype === "float64" ? new Float64Array(size) : new Float32Array(size);
}

/** Random values in [lo, hi), already rounded to `dtype`. */
function randArray(size: number, dtype: DType, lo = -2, hi = 2): TypedArray {
  const x = hostArray(size, dtype);
  for (let i = 0; i < size; i++) x[i] = lo + (hi - lo) * rand();
  return x;
}

function upload(data: TypedArray | number[], dtype: DType): Storage {
  return cpu.upload(data instanceof Array ? Float64Array.from(data) : data, dtype);
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function contiguous(shape: readonly number[]): number[] {
  const s: number[] = [];
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d]!;
  }
  return s;
}

/** Strides of a tensor of `shape` read at `outShape` (0 where broadcast). */
function bcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const own = contiguous(shape);
  const lead = outShape.length - shape.length;
  return outShape.map((_, d) => (d < lead || shape[d - lead] === 1 ? 0 : own[d - lead]!));
}

/** Offset of flat row-major index `flat` of `shape` under `strides`. */
function offsetOf(shape: readonly number[], strides: readonly number[], flat: number, base = 0) {
  let off = base;
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d]!;
    off += (flat % n) * strides[d]!;
    flat = Math.floor(flat / n);
  }
  return off;
}

/** Element-wise comparison with a relative-or-absolute tolerance; NaN equals NaN. */
function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    if (Number.isNaN(e)) {
      assert.ok(Number.isNaN(a), `${what}[${i}]: expected NaN, got ${a}`);
    } else if (!Number.isFinite(e)) {
      assert.equal(a, e, `${what}[${i}]`);
    } else {
      const err = Math.abs(a - e);
      assert.ok(err <= tol * Math.max(1, Math.abs(e)), `${what}[${i}]: got ${a}, expected ${e}`);
    }
  }
}

const tolOf = (dtype: DType) => (dtype === "float32" ? 3e-7 : 1e-14);

/** Round reference values (computed in float64) to the dtype. */
function rounded(values: number[], dtype: DType): TypedArray {
  const out = hostArray(values.length, dtype);
  out.set(values);
  return out;
}

// ---------------------------------------------------------------- storage

Deno.test("CpuBackend supports float32 and float64 and is named cpu", () => {
  assert.equal(cpu.name, "cpu");
  assert.ok(cpu.supports("float32"));
  assert.ok(cpu.supports("float64"));
});

for (const dtype of DTYPES) {
  Deno.test(`CpuBackend.upload()/read() round-trip ${dtype} and read returns a copy`, async () => {
    const s = upload([1.5, -2, 3.25], dtype);
    assert.equal(s.size, 3);
    assert.equal(s.dtype, dtype);
    const r1 = await cpu.read(s);
    assert.ok(dtype === "float64" ? r1 instanceof Float64Array : r1 instanceof Float32Array);
    assert.deepEqual([...r1], [1.5, -2, 3.25]);
    r1[0] = 99;
    assert.deepEqual([...(await cpu.read(s))], [1.5, -2, 3.25]);
    cpu.free(s);
  });
}

Deno.test("CpuBackend.upload() rounds float64 data to float32", async () => {
  const s = upload([0.1], "float32");
  assert.equal((await cpu.read(s))[0], Math.fround(0.1));
  cpu.free(s);
});

Deno.test("CpuBackend.alloc() gives the size asked for, 0 included", async () => {
  const s = cpu.alloc(0, "float32");
  assert.equal((await cpu.read(s)).length, 0);
  cpu.free(s);
  assert.throws(() => cpu.alloc(-1, "float32"), RangeError);
});

Deno.test("CpuBackend rejects a freed storage in every use", async () => {
  const s = upload([1, 2, 3], "float32");
  const o = cpu.alloc(3, "float32");
  cpu.free(s);
  const freed = /Cannot use a freed cpu storage/;
  await assert.rejects(() => cpu.read(s), freed);
  assert.throws(() => cpu.unary("neg", s, o), freed);
  assert.throws(() => cpu.unary("neg", o, s), freed);
  assert.throws(() => cpu.fill(s, 0), freed);
  assert.throws(() => cpu.binary("add", s, [1], o, [1], o, [3]), freed);
  assert.throws(
    () =>
      cpu.matmul(s, o, o, {
        batch: 1,
        m: 1,
        n: 1,
        k: 1,
        transA: false,
        transB: false,
        strideA: 0,
        strideB: 0,
      }),
    freed,
  );
  assert.throws(() => cpu.free(s), freed);
  cpu.free(o);
});

Deno.test("CpuBackend rejects a storage it did not allocate", () => {
  const other = new CpuBackend();
  const s = other.alloc(2, "float32");
  const o = cpu.alloc(2, "float32");
  assert.throws(() => cpu.unary("neg", s, o), TypeError);
  other.free(s);
  cpu.free(o);
});

Deno.test("CpuBackend.stats() counts live storages and bytes", () => {
  const b = new CpuBackend();
  const s = b.alloc(10, "float64"), t = b.alloc(3, "float32");
  assert.deepEqual(b.stats(), { storages: 2, bytes: 92 });
  b.free(s);
  b.free(t);
  assert.deepEqual(b.stats(), { storages: 0, bytes: 0 });
});

Deno.test("CpuBackend.flush() resolves", async () => {
  await cpu.flush();
});

for (const dtype of DTYPES) {
  Deno.test(`CpuBackend.fill() writes every element ${dtype}`, async () => {
    for (const size of [0, 1, 13]) {
      const s = cpu.alloc(size, dtype);
      cpu.fill(s, 0.1);
      assert.deepEqual([...(await cpu.read(s))], [...rounded(Array(size).fill(0.1), dtype)]);
      cpu.free(s);
    }
  });
}

// ---------------------------------------------------------------- unary

const unaryRef: Record<UnaryOp, (x: number, p0: number, p1: number) => number> = {
  neg: (x) => -x,
  exp: (x) => Math.exp(x),
  log: (x) => Math.log(x),
  sqrt: (x) => Math.sqrt(x),
  abs: (x) => (x < 0 ? -x : x),
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : x),
  recip: (x) => 1 / x,
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  tanh: (x) => (Math.exp(2 * x) - 1) / (Math.exp(2 * x) + 1),
  relu: (x) => (x > 0 ? x : 0),
  leakyRelu: (x, p0) => (x > 0 ? x : p0 * x),
  affine: (x, p0, p1) => p0 * x + p1,
  powScalar: (x, p0) => x ** p0,
  clamp: (x, p0, p1) => (x < p0 ? p0 : x > p1 ? p1 : x),
  step: (x, p0) => (x > p0 ? 1 : 0),
};

const unaryParams: Partial<Record<UnaryOp, [number, number][]>> = {
  leakyRelu: [[0.01, 0], [0.2, 0]],
  affine: [[2.5, -0.75], [-1, 0]],
  powScalar: [[2, 0], [3, 0], [-1, 0], [0.5, 0], [1.7, 0], [0, 0], [1, 0]],
  clamp: [[-0.5, 0.5], [0, 1]],
  step: [[0, 0], [0.25, 0]],
};

for (const dtype of DTYPES) {
  for (const op of Object.keys(unaryRef) as UnaryOp[]) {
    Deno.test(`CpuBackend.unary() ${op} matches reference ${dtype}`, async () => {
      const lo = op === "log" || op === "sqrt" ? 0.01 : -3;
      for (const [p0, p1] of unaryParams[op] ?? [[0, 0]]) {
        for (const size of [0, 1, 7, 65]) {
          const x = randArray(size, dtype, lo, 3);
          if (size > 2) x[1] = 0;
          const xs = cpu.upload(x, dtype), out = cpu.alloc(size, dtype);
          cpu.unary(op, xs, out, p0, p1);
          const expected = rounded([...x].map((v) => unaryRef[op](v, p0, p1)), dtype);
          assertClose(await cpu.read(out), expected, tolOf(dtype) * 4, `${op}(${p0}, ${p1})`);
          // out aliasing x
          cpu.unary(op, xs, xs, p0, p1);
          assertClose(await cpu.read(xs), expected, tolOf(dtype) * 4, `${op} in place`);
          cpu.free(xs);
          cpu.free(out);
        }
      }
    });
  }

  Deno.test(`CpuBackend.unary() sigmoid and tanh are stable for large |x| ${dtype}`, async () => {
    const x = upload([-1e4, -1000, -50, 0, 50, 1000, 1e4, -Infinity, Infinity], dtype);
    const o = cpu.alloc(9, dtype);
    cpu.unary("sigmoid", x, o);
    const s = await cpu.read(o);
    assert.deepEqual([s[0], s[1], s[3], s[5], s[6], s[7], s[8]], [0, 0, 0.5, 1, 1, 0, 1]);
    assert.ok(s[2]! > 0 && s[2]! < 1e-20);
    cpu.unary("tanh", x, o);
    assert.deepEqual([...(await cpu.read(o))], [-1, -1, -1, 0, 1, 1, 1, -1, 1]);
    cpu.free(x);
    cpu.free(o);
  });

  Deno.test(`CpuBackend.unary() powScalar follows Math.pow for negative bases ${dtype}`, async () => {
    const x = upload([-2, -0.5, 0, 4], dtype);
    const o = cpu.alloc(4, dtype);
    cpu.unary("powScalar", x, o, 3);
    assert.deepEqual([...(await cpu.read(o))], [-8, -0.125, 0, 64]);
    cpu.unary("powScalar", x, o, 0.5);
    const r = await cpu.read(o);
    assert.ok(Number.isNaN(r[0]!) && Number.isNaN(r[1]!));
    assert.deepEqual([r[2], r[3]], [0, 2]);
    cpu.unary("powScalar", x, o, -2);
    assert.deepEqual([...(await cpu.read(o))], [0.25, 4, Infinity, 0.0625]);
    cpu.free(x);
    cpu.free(o);
  });
}

Deno.test("CpuBackend.unary() works on a 0-d storage", async () => {
  const x = upload([-3], "float64");
  cpu.unary("abs", x, x);
  assert.deepEqual([...(await cpu.read(x))], [3]);
  cpu.free(x);
});

// ---------------------------------------------------------------- binary and where

const binaryRef: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => a ** b,
  max: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : a > b ? a : b),
  min: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : a < b ? a : b),
  eq: (a, b) => (a === b ? 1 : 0),
  ne: (a, b) => (a !== b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
  le: (a, b) => (a <= b ? 1 : 0),
  gt: (a, b) => (a > b ? 1 : 0),
  ge: (a, b) => (a >= b ? 1 : 0),
};

/** An operand case: its own shape (broadcast to the output) or a transposed layout. */
interface Operand {
  shape: number[];
  /** Store the data transposed (last two dims swapped) and read it through strides. */
  transposed?: boolean;
}

interface BinaryCase {
  name: string;
  out: number[];
  a: Operand;
  b: Operand;
}

const binaryCases: BinaryCase[] = [
  { name: "same shape [7, 13]", out: [7, 13], a: { shape: [7, 13] }, b: { shape: [7, 13] } },
  { name: "scalar b [33]", out: [33], a: { shape: [33] }, b: { shape: [] } },
  { name: "scalar a [5, 7]", out: [5, 7], a: { shape: [] }, b: { shape: [5, 7] } },
  { name: "0-d with 0-d", out: [], a: { shape: [] }, b: { shape: [] } },
  { name: "size-1 dims [1, 1]", out: [1, 1], a: { shape: [1, 1] }, b: { shape: [1] } },
  { name: "last-dim row [7, 13]+[13]", out: [7, 13], a: { shape: [7, 13] }, b: { shape: [13] } },
  { name: "column [7, 13]+[7, 1]", out: [7, 13], a: { shape: [7, 13] }, b: { shape: [7, 1] } },
  {
    name: "middle [3, 5, 7]+[3, 1, 7]",
    out: [3, 5, 7],
    a: { shape: [3, 5, 7] },
    b: { shape: [3, 1, 7] },
  },
  {
    name: "first [3, 5, 7]+[1, 5, 7]",
    out: [3, 5, 7],
    a: { shape: [3, 5, 7] },
    b: { shape: [1, 5, 7] },
  },
  {
    name: "both sides [3, 1, 7]+[1, 5, 1]",
    out: [3, 5, 7],
    a: { shape: [3, 1, 7] },
    b: { shape: [1, 5, 1] },
  },
  { name: "outer [2, 1]+[1, 65]", out: [2, 65], a: { shape: [2, 1] }, b: { shape: [1, 65] } },
  {
    name: "rank 4 [2, 3, 1, 5]+[3, 4, 1]",
    out: [2, 3, 4, 5],
    a: { shape: [2, 3, 1, 5] },
    b: { shape: [3, 4, 1] },
  },
  {
    name: "transposed a [13, 7]ᵀ",
    out: [7, 13],
    a: { shape: [7, 13], transposed: true },
    b: { shape: [7, 13] },
  },
  {
    name: "transposed b with row [7]",
    out: [5, 7],
    a: { shape: [7] },
    b: { shape: [5, 7], transposed: true },
  },
  {
    name: "scalar a, transposed b",
    out: [5, 7],
    a: { shape: [] },
    b: { shape: [5, 7], transposed: true },
  },
  {
    name: "transposed a, column b [7, 1]",
    out: [7, 13],
    a: { shape: [7, 13], transposed: true },
    b: { shape: [7, 1] },
  },
  {
    name: "row a [1, 13], transposed b",
    out: [7, 13],
    a: { shape: [1, 13] },
    b: { shape: [7, 13], transposed: true },
  },
  { name: "size 0 [0, 5]", out: [0, 5], a: { shape: [0, 5] }, b: { shape: [5] } },
];

/** Upload random data for an operand and give its strides at `out`. */
function operand(o: Operand, out: readonly number[], dtype: DType, lo = -2, hi = 2) {
  const data = randArray(numel(o.shape), dtype, lo, hi);
  if (!o.transposed) {
    return { data, s: upload(data, dtype), strides: bcastStrides(o.shape, out) };
  }
  // stored as [cols, rows]: logical element (i, j) sits at data[j * rows + i]
  return { data, s: upload(data, dtype), strides: [1, o.shape[0]!] };
}

for (const dtype of DTYPES) {
  for (const op of Object.keys(binaryRef) as BinaryOp[]) {
    Deno.test(`CpuBackend.binary() ${op} matches reference for every broadcast ${dtype}`, async () => {
      for (const c of binaryCases) {
        const lo = op === "pow" ? 0.1 : -2;
        const a = operand(c.a, c.out, dtype, lo);
        const b = operand(c.b, c.out, dtype);
        if (op === "eq" || op === "ne" || op === "le" || op === "ge") {
          // make some elements equal
          a.data.forEach((_, i) => {
            if (i % 3 === 0) a.data[i] = b.data[i % b.data.length]!;
          });
          cpu.free(a.s);
          a.s = upload(a.data, dtype);
        }
        const n = numel(c.out);
        const out = cpu.alloc(n, dtype);
        cpu.binary(op, a.s, a.strides, b.s, b.strides, out, c.out);
        const expected: number[] = [];
        for (let i = 0; i < n; i++) {
          const x = a.data[offsetOf(c.out, a.strides, i)]!;
          const y = b.data[offsetOf(c.out, b.strides, i)]!;
          expected.push(binaryRef[op](x, y));
        }
        assertClose(await cpu.read(out), rounded(expected, dtype), tolOf(dtype), `${op} ${c.name}`);
        for (const s of [a.s, b.s, out]) cpu.free(s);
      }
    });
  }

  Deno.test(`CpuBackend.where() matches reference for every broadcast ${dtype}`, async () => {
    for (const c of binaryCases) {
      const a = operand(c.a, c.out, dtype);
      const b = operand(c.b, c.out, dtype);
      const cs = c.b.transposed ? c.out : c.b.shape;
      const cd = hostArray(numel(cs), dtype).map(() => [0, 1, 2, NaN][Math.floor(rand() * 4)]!);
      const cond = upload(cd, dtype);
      const cStrides = bcastStrides(cs, c.out);
      const n = numel(c.out);
      const out = cpu.alloc(n, dtype);
      cpu.where(cond, cStrides, a.s, a.strides, b.s, b.strides, out, c.out);
      const expected: number[] = [];
      for (let i = 0; i < n; i++) {
        const k = cd[offsetOf(c.out, cStrides, i)]!;
        expected.push(
          k !== 0 ? a.data[offsetOf(c.out, a.strides, i)]! : b.data[offsetOf(c.out, b.strides, i)]!,
        );
      }
      assert.deepEqual([...(await cpu.read(out))], expected, `where ${c.name}`);
      for (const s of [cond, a.s, b.s, out]) cpu.free(s);
    }
  });
}

// ---------------------------------------------------------------- matmul

/** Naive batched product in float64, reading A and B through the same flags. */
function naiveMatmul(a: TypedArray, b: TypedArray, p: MatmulParams): number[] {
  const { batch, m, n, k, transA, transB, strideA, strideB } = p;
  const c: number[] = [];
  for (let t = 0; t < batch; t++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) {
          const av = a[t * strideA + (transA ? q * m + i : i * k + q)]!;
          const bv = b[t * strideB + (transB ? j * k + q : q * n + j)]!;
          s += av * bv;
        }
        c.push(s);
      }
    }
  }
  return c;
}

function checkMatmul(
  dtype: DType,
  m: number,
  k: number,
  n: number,
  transA: boolean,
  transB: boolean,
  batch = 1,
  bcast: "" | "A" | "B" = "",
): Promise<void> {
  const strideA = bcast === "A" ? 0 : m * k, strideB = bcast === "B" ? 0 : k * n;
  const a = randArray(Math.max(1, bcast === "A" ? 1 : batch) * m * k, dtype, -1, 1);
  const b = randArray(Math.max(1, bcast === "B" ? 1 : batch) * k * n, dtype, -1, 1);
  const p: MatmulParams = { batch, m, n, k, transA, transB, strideA, strideB };
  const as = cpu.upload(a, dtype), bs = cpu.upload(b, dtype), out = cpu.alloc(batch * m * n, dtype);
  cpu.fill(out, NaN); // every element must be written
  cpu.matmul(as, bs, out, p);
  const expected = naiveMatmul(a, b, p);
  // error bound relative to k (inputs in [-1, 1])
  const tol = (dtype === "float32" ? 2e-7 : 1e-15) * Math.max(1, k);
  return cpu.read(out).then((got) => {
    assertClose(got, rounded(expected, dtype), tol, `matmul ${m}×${k}·${k}×${n}`);
    for (const s of [as, bs, out]) cpu.free(s);
  });
}

const flagName = (tA: boolean, tB: boolean) =>
  [tA ? "transA" : "", tB ? "transB" : ""].filter(Boolean).join("+") || "plain";

const matmulShapes: [number, number, number][] = [
  [33, 65, 17],
  [1, 7, 13],
  [7, 1, 13],
  [13, 7, 1],
  [1, 1, 1],
  [5, 3, 2],
  [64, 64, 64],
  [65, 33, 7],
  [4, 13, 4],
  [100, 113, 57],
];

for (const dtype of DTYPES) {
  for (const [m, k, n] of matmulShapes) {
    for (const tA of [false, true]) {
      for (const tB of [false, true]) {
        Deno.test(
          `CpuBackend.matmul() matches naive loop for ${m}×${k}·${k}×${n} ${
            flagName(tA, tB)
          } ${dtype}`,
          () => checkMatmul(dtype, m, k, n, tA, tB),
        );
      }
    }
  }
  for (const tA of [false, true]) {
    for (const tB of [false, true]) {
      const f = flagName(tA, tB);
      Deno.test(`CpuBackend.matmul() matches naive loop batched 3×(13×33·33×7) ${f} ${dtype}`, () =>
        checkMatmul(dtype, 13, 33, 7, tA, tB, 3));
      Deno.test(
        `CpuBackend.matmul() broadcasts A (strideA 0) over 4×(33×17·17×65) ${f} ${dtype}`,
        () => checkMatmul(dtype, 33, 17, 65, tA, tB, 4, "A"),
      );
      Deno.test(
        `CpuBackend.matmul() broadcasts B (strideB 0) over 4×(65×17·17×33) ${f} ${dtype}`,
        () => checkMatmul(dtype, 65, 17, 33, tA, tB, 4, "B"),
      );
      Deno.test(`CpuBackend.matmul() broadcasts small B over 5×(3×2·2×1) ${f} ${dtype}`, () =>
        checkMatmul(dtype, 3, 2, 1, tA, tB, 5, "B"));
    }
  }
  Deno.test(`CpuBackend.matmul() handles blocked panels 301×1500·1500×43 ${dtype}`, () =>
    checkMatmul(dtype, 301, 1500, 43, false, true));
  Deno.test(`CpuBackend.matmul() handles blocked panels 2×(203×1300·1300×9) transA ${dtype}`, () =>
    checkMatmul(dtype, 203, 1300, 9, true, false, 2, "B"));
  Deno.test(`CpuBackend.matmul() with k = 0 writes zeros ${dtype}`, async () => {
    const a = cpu.alloc(0, dtype), b = cpu.alloc(0, dtype), out = cpu.alloc(6, dtype);
    cpu.fill(out, NaN);
    const p = { batch: 2, m: 3, n: 1, k: 0, transA: false, transB: false, strideA: 0, strideB: 0 };
    cpu.matmul(a, b, out, p);
    assert.deepEqual([...(await cpu.read(out))], [0, 0, 0, 0, 0, 0]);
    for (const s of [a, b, out]) cpu.free(s);
  });
  Deno.test(`CpuBackend.matmul() with m = 0 or batch = 0 does nothing ${dtype}`, async () => {
    await checkMatmul(dtype, 0, 5, 3, false, false);
    await checkMatmul(dtype, 4, 5, 3, false, false, 0);
  });
}

Deno.test("CpuBackend.matmul() rejects storages too small for the parameters", () => {
  const a = cpu.alloc(6, "float32"), b = cpu.alloc(6, "float32"), out = cpu.alloc(4, "float32");
  const p = { batch: 2, m: 2, n: 2, k: 3, transA: false, transB: false, strideA: 6, strideB: 0 };
  assert.throws(() => cpu.matmul(a, b, out, p), RangeError);
  for (const s of [a, b, out]) cpu.free(s);
});

// ---------------------------------------------------------------- reduce

const reduceShapes: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 1],
  [1, 13, 7],
  [5, 33, 3],
  [3, 0, 4],
  [0, 5, 2],
  [2, 65, 1],
  [1, 1, 65],
];

for (const dtype of DTYPES) {
  for (const op of ["sum", "max"] as const) {
    Deno.test(`CpuBackend.reduce() ${op} matches reference loops ${dtype}`, async () => {
      for (const [outer, red, inner] of reduceShapes) {
        const x = randArray(outer * red * inner, dtype);
        const xs = cpu.upload(x, dtype), out = cpu.alloc(outer * inner, dtype);
        cpu.fill(out, NaN);
        cpu.reduce(op, xs, out, { outer, reduce: red, inner });
        const expected: number[] = [];
        for (let o = 0; o < outer; o++) {
          for (let i = 0; i < inner; i++) {
            let acc = op === "sum" ? 0 : -Infinity;
            for (let r = 0; r < red; r++) {
              const v = x[(o * red + r) * inner + i]!;
              acc = op === "sum" ? acc + v : v > acc ? v : acc;
            }
            expected.push(acc);
          }
        }
        assertClose(
          await cpu.read(out),
          rounded(expected, dtype),
          tolOf(dtype) * 4,
          `${op} [${outer}, ${red}, ${inner}]`,
        );
        cpu.free(xs);
        cpu.free(out);
      }
    });
  }

  Deno.test(`CpuBackend.reduce() max propagates NaN ${dtype}`, async () => {
    const x = upload([1, NaN, 3, 4, 5, 6], dtype), out = cpu.alloc(2, dtype);
    cpu.reduce("max", x, out, { outer: 2, reduce: 3, inner: 1 });
    const r = await cpu.read(out);
    assert.ok(Number.isNaN(r[0]!));
    assert.equal(r[1], 6);
    cpu.reduce("max", x, out, { outer: 1, reduce: 3, inner: 2 });
    const s = await cpu.read(out);
    assert.equal(s[0], 5);
    assert.ok(Number.isNaN(s[1]!));
    cpu.free(x);
    cpu.free(out);
  });
}

Deno.test("CpuBackend.reduce() sums float32 in float64 before rounding", async () => {
  const big = 2 ** 24;
  for (const inner of [1, 2]) {
    const x = upload(Array(5 * inner).fill(1).map((v, i) => (i < inner ? big : v)), "float32");
    const out = cpu.alloc(inner, "float32");
    cpu.reduce("sum", x, out, { outer: 1, reduce: 5, inner });
    // float32 accumulation would stay at 2^24 (2^24 + 1 rounds back down)
    assert.deepEqual([...(await cpu.read(out))], Array(inner).fill(big + 4));
    cpu.free(x);
    cpu.free(out);
  }
});

// ---------------------------------------------------------------- copy

interface CopyCase {
  name: string;
  src: View;
  srcSize: number;
  dst: View;
  dstSize: number;
}

const copyCases: CopyCase[] = [
  {
    name: "contiguous long rows",
    src: { shape: [3, 40], strides: [40, 1], offset: 0 },
    srcSize: 120,
    dst: { shape: [3, 40], strides: [40, 1], offset: 0 },
    dstSize: 120,
  },
  {
    name: "transpose [13, 7] → [7, 13]",
    src: { shape: [7, 13], strides: [1, 7], offset: 0 },
    srcSize: 91,
    dst: { shape: [7, 13], strides: [13, 1], offset: 0 },
    dstSize: 91,
  },
  {
    name: "broadcast row (stride 0)",
    src: { shape: [5, 33], strides: [0, 1], offset: 0 },
    srcSize: 33,
    dst: { shape: [5, 33], strides: [33, 1], offset: 0 },
    dstSize: 165,
  },
  {
    name: "broadcast column (stride 0 last)",
    src: { shape: [5, 3], strides: [1, 0], offset: 2 },
    srcSize: 7,
    dst: { shape: [5, 3], strides: [3, 1], offset: 0 },
    dstSize: 15,
  },
  {
    name: "slice into the middle of a larger dst (cat)",
    src: { shape: [4, 20], strides: [20, 1], offset: 0 },
    srcSize: 80,
    dst: { shape: [4, 20], strides: [65, 1], offset: 17 },
    dstSize: 4 * 65,
  },
  {
    name: "short rows with offset",
    src: { shape: [6, 2, 3], strides: [8, 3, 1], offset: 1 },
    srcSize: 50,
    dst: { shape: [6, 2, 3], strides: [6, 3, 1], offset: 0 },
    dstSize: 36,
  },
  {
    name: "permute [2, 3, 4] → [4, 2, 3]",
    src: { shape: [4, 2, 3], strides: [1, 12, 4], offset: 0 },
    srcSize: 24,
    dst: { shape: [4, 2, 3], strides: [6, 3, 1], offset: 0 },
    dstSize: 24,
  },
  {
    name: "strided dst",
    src: { shape: [7], strides: [1], offset: 0 },
    srcSize: 7,
    dst: { shape: [7], strides: [3], offset: 1 },
    dstSize: 22,
  },
  {
    name: "0-d",
    src: { shape: [], strides: [], offset: 4 },
    srcSize: 5,
    dst: { shape: [], strides: [], offset: 2 },
    dstSize: 3,
  },
  {
    name: "size 0",
    src: { shape: [3, 0], strides: [0, 1], offset: 0 },
    srcSize: 0,
    dst: { shape: [3, 0], strides: [0, 1], offset: 0 },
    dstSize: 2,
  },
  {
    name: "size-1 dims",
    src: { shape: [1, 5, 1], strides: [99, 2, 99], offset: 0 },
    srcSize: 9,
    dst: { shape: [1, 5, 1], strides: [5, 1, 1], offset: 0 },
    dstSize: 5,
  },
];

for (const dtype of DTYPES) {
  Deno.test(`CpuBackend.copy() matches a reference strided loop ${dtype}`, async () => {
    for (const c of copyCases) {
      const src = randArray(c.srcSize, dtype);
      const before = randArray(c.dstSize, dtype);
      const ss = cpu.upload(src, dtype), ds = cpu.upload(before, dtype);
      cpu.copy(ss, c.src, ds, c.dst);
      const expected = before.slice();
      for (let i = 0; i < numel(c.src.shape); i++) {
        expected[offsetOf(c.dst.shape, c.dst.strides, i, c.dst.offset)] =
          src[offsetOf(c.src.shape, c.src.strides, i, c.src.offset)]!;
      }
      assert.deepEqual([...(await cpu.read(ds))], [...expected], c.name);
      cpu.free(ss);
      cpu.free(ds);
    }
  });
}

Deno.test("CpuBackend.copy() rejects views of different shapes or out of range", () => {
  const s = cpu.alloc(6, "float32"), d = cpu.alloc(6, "float32");
  const v = (shape: number[], strides: number[], offset = 0) => ({ shape, strides, offset });
  assert.throws(() => cpu.copy(s, v([2, 3], [3, 1]), d, v([3, 2], [2, 1])), TypeError);
  assert.throws(() => cpu.copy(s, v([2, 3], [3, 1], 1), d, v([2, 3], [3, 1])), RangeError);
  cpu.free(s);
  cpu.free(d);
});

// ---------------------------------------------------------------- gather and scatterAdd

const gatherCases: GatherParams[] = [
  { outer: 1, axisSize: 5, indexSize: 7, inner: 1 },
  { outer: 3, axisSize: 5, indexSize: 7, inner: 2 },
  { outer: 13, axisSize: 1, indexSize: 3, inner: 1 },
  { outer: 2, axisSize: 65, indexSize: 1, inner: 7 },
  { outer: 4, axisSize: 3, indexSize: 0, inner: 2 },
  { outer: 1, axisSize: 1, indexSize: 1, inner: 1 },
];

function randomIndices(p: GatherParams, dtype: DType): TypedArray {
  const idx = hostArray(p.outer * p.indexSize * p.inner, dtype);
  for (let i = 0; i < idx.length; i++) idx[i] = Math.floor(rand() * p.axisSize);
  return idx;
}

for (const dtype of DTYPES) {
  Deno.test(`CpuBackend.gather() matches reference loops ${dtype}`, async () => {
    for (const p of gatherCases) {
      const x = randArray(p.outer * p.axisSize * p.inner, dtype);
      const idx = randomIndices(p, dtype);
      const xs = cpu.upload(x, dtype), is = cpu.upload(idx, dtype);
      const out = cpu.alloc(idx.length, dtype);
      cpu.gather(xs, is, out, p);
      const expected: number[] = [];
      for (let o = 0; o < p.outer; o++) {
        for (let j = 0; j < p.indexSize; j++) {
          for (let i = 0; i < p.inner; i++) {
            const k = idx[(o * p.indexSize + j) * p.inner + i]!;
            expected.push(x[(o * p.axisSize + k) * p.inner + i]!);
          }
        }
      }
      assert.deepEqual([...(await cpu.read(out))], expected, JSON.stringify(p));
      for (const s of [xs, is, out]) cpu.free(s);
    }
  });

  Deno.test(`CpuBackend.scatterAdd() matches reference loops and writes all of out ${dtype}`, async () => {
    for (const p of gatherCases) {
      const g = randArray(p.outer * p.indexSize * p.inner, dtype);
      const idx = randomIndices(p, dtype);
      const gs = cpu.upload(g, dtype), is = cpu.upload(idx, dtype);
      const out = cpu.alloc(p.outer * p.axisSize * p.inner, dtype);
      cpu.fill(out, NaN);
      cpu.scatterAdd(gs, is, out, p);
      const expected: number[] = Array(p.outer * p.axisSize * p.inner).fill(0);
      for (let o = 0; o < p.outer; o++) {
        for (let j = 0; j < p.indexSize; j++) {
          for (let i = 0; i < p.inner; i++) {
            const pos = (o * p.indexSize + j) * p.inner + i;
            expected[(o * p.axisSize + idx[pos]!) * p.inner + i] += g[pos]!;
          }
        }
      }
      assertClose(await cpu.read(out), rounded(expected, dtype), tolOf(dtype) * 4, "scatterAdd");
      for (const s of [gs, is, out]) cpu.free(s);
    }
  });
}

Deno.test("CpuBackend.scatterAdd() accumulates repeated indices", async () => {
  const p = { outer: 1, axisSize: 3, indexSize: 4, inner: 1 };
  const g = upload([1, 2, 3, 4], "float32"), idx = upload([2, 0, 2, 2], "float32");
  const out = cpu.alloc(3, "float32");
  cpu.scatterAdd(g, idx, out, p);
  assert.deepEqual([...(await cpu.read(out))], [2, 0, 8]);
  for (const s of [g, idx, out]) cpu.free(s);
});

for (const bad of [-1, 5, 1.5, NaN, 1e9]) {
  Deno.test(`CpuBackend.gather() throws a RangeError for index ${bad}`, () => {
    const p = { outer: 2, axisSize: 5, indexSize: 2, inner: 1 };
    const x = cpu.alloc(10, "float32"), out = cpu.alloc(4, "float32");
    const idx = upload([0, 4, 3, bad], "float32");
    assert.throws(
      () => cpu.gather(x, idx, out, p),
      (e: unknown) =>
        e instanceof RangeError && e.message.includes(`index ${bad}`) &&
        e.message.includes("axis of size 5"),
    );
    assert.throws(() => cpu.scatterAdd(out, idx, x, p), RangeError);
    for (const s of [x, idx, out]) cpu.free(s);
  });
}

// ---------------------------------------------------------------- random

for (const dtype of DTYPES) {
  for (const dist of ["uniform", "normal"] as const) {
    Deno.test(`CpuBackend.random() ${dist} equals the shared Philox stream ${dtype}`, async () => {
      const key: [number, number] = [0x12345678, 0x9abcdef0];
      const p = { dist, key, counter: 2 ** 32 - 3, lo: dist === "uniform" ? -1 : 0.5, hi: 2 };
      const out = cpu.alloc(1000, dtype);
      cpu.random(out, p);
      const expected = hostArray(1000, dtype);
      fillRandom(expected, dist, key, p.counter, p.lo, p.hi);
      const got = await cpu.read(out);
      assert.deepEqual([...got], [...expected]);
      const mean = [...got].reduce((a, b) => a + b, 0) / got.length;
      if (dist === "uniform") {
        assert.ok(got.every((v) => v >= -1 && v < 2));
        assert.ok(Math.abs(mean - 0.5) < 0.1);
      } else {
        assert.ok(Math.abs(mean - 0.5) < 0.2);
      }
      cpu.free(out);
    });
  }
}

Deno.test("fillRandom: WebAssembly Philox, the JS loop and philox4x32 give the same numbers", () => {
  const words = new Uint32Array(4);
  assert.ok(wasmPhiloxAvailable(), "the WebAssembly Philox compiles and runs in Deno");
  const cases: [number, [number, number]][] = [
    [0, [1, 2]],
    [4294967290, [0xdeadbeef, 7]],
    [123456789012, [0xffffffff, 0xffffffff]],
  ];
  for (const dist of ["uniform", "normal"] as const) {
    for (const [counter, key] of cases) {
      // lengths that end mid-vector of the SIMD module (5), and past one of its calls (16390)
      for (const n of [1, 5, 16390, 20000]) {
        for (const f64 of [false, true]) {
          const a = f64 ? new Float64Array(n) : new Float32Array(n);
          const b = f64 ? new Float64Array(n) : new Float32Array(n);
          const was = setWasmPhilox(true);
          fillRandom(a, dist, key, counter, -0.5, 1.5);
          setWasmPhilox(false);
          fillRandom(b, dist, key, counter, -0.5, 1.5);
          setWasmPhilox(was);
          assert.deepStrictEqual(Array.from(a), Array.from(b));
          // element 1 from the reference block function
          if (n > 1) {
            const c = counter + 1;
            philox4x32(c % 4294967296, Math.floor(c / 4294967296), key[0], key[1], words);
            const u = (words[0]! >>> 8) / 16777216;
            if (dist === "uniform" && a instanceof Float64Array) {
              assert.strictEqual(a[1], -0.5 + u * 2);
            }
          }
        }
      }
    }
  }
});
