/**
 * WebGPU matmul ↔ CPU parity: every variant forced, every transpose
 * combination, awkward sizes (1, primes, 33, 65, 127; never a multiple of a
 * tile), batches with broadcast operands (stride 0), the bias epilogue (one
 * or two bias vectors), K = 0, batches beyond 65535, and the selector's
 * choice.
 */
import assert from "node:assert/strict";
import type { Backend, MatmulParams, ReduceParams, Storage } from "../tensor/backend.ts";
import { CpuBackend } from "../tensor/cpu/backend.ts";
import type { WebGPUBackend } from "../tensor/webgpu/backend.ts";
import { MATMUL_VARIANTS } from "../tensor/wgsl/matmul.ts";
import { assertClose } from "./_gradcheck.ts";
import { gpuTest, randArray, runBoth } from "./_gpu.ts";

const cpu = new CpuBackend();

/** [batch, m, n, k, strideA factor, strideB factor] (factor 0 broadcasts that operand). */
const SHAPES: [number, number, number, number, number, number][] = [
  [1, 1, 1, 1, 1, 1],
  [1, 3, 5, 7, 1, 1],
  [1, 33, 65, 17, 1, 1],
  [1, 127, 1, 65, 1, 1],
  [1, 1, 127, 33, 1, 1],
  [1, 64, 64, 64, 1, 1],
  [1, 65, 67, 131, 1, 1],
  [3, 9, 13, 11, 1, 1],
  [3, 9, 13, 11, 0, 1],
  [4, 17, 5, 6, 1, 0],
  // M, N or K multiples of 4: the blocked kernel reads vec4s (edge blocks clamp)
  [2, 12, 20, 8, 1, 1],
  [2, 12, 12, 12, 1, 1],
  [1, 12, 13, 13, 1, 1],
  // A weight-gradient-like product (transA: long K, M a multiple of 4)
  [1, 64, 16, 150, 1, 1],
  [1, 13, 12, 13, 1, 1],
  [1, 13, 13, 12, 1, 1],
  [1, 4, 4, 4, 1, 1],
  [1, 5, 4, 4, 1, 1],
  [1, 9, 12, 16, 1, 1],
  [1, 12, 9, 5, 1, 1],
  [1, 20, 13, 8, 1, 1],
  [3, 7, 36, 12, 0, 1],
  [3, 36, 7, 12, 1, 0],
];

/**
 * Run a matmul on the GPU and the CPU and compare with a tolerance scaled by
 * Σ_k |a||b| (float32 dot products of mixed signs can cancel).
 */
async function check(gpu: WebGPUBackend, p: MatmulParams, label: string): Promise<void> {
  const aSize = (p.strideA === 0 ? 1 : p.batch) * p.m * p.k;
  const bSize = (p.strideB === 0 ? 1 : p.batch) * p.k * p.n;
  const a = randArray(aSize, p.m * 7 + p.k), b = randArray(bSize, p.n * 13 + p.k);
  const outSize = p.batch * p.m * p.n;
  const pair: [Backend, Backend] = [gpu, cpu];
  const [g, c] = await runBoth(pair, [a, b], outSize, (k, [x, y], o) => k.matmul(x!, y!, o, p));
  const [, scale] = await runBoth(
    pair,
    [a.map(Math.abs), b.map(Math.abs)],
    outSize,
    (k, [x, y], o) => k.matmul(x!, y!, o, p),
  );
  for (let i = 0; i < outSize; i++) {
    const tol = 1e-6 * scale[i]! * Math.max(1, Math.sqrt(p.k)) + 1e-7;
    if (!(Math.abs(g[i]! - c[i]!) <= tol)) {
      throw new Error(
        `${label}: index ${i}: actual ${g[i]}, expected ${c[i]}, difference ${
          Math.abs(g[i]! - c[i]!)
        }, tolerance ${tol}`,
      );
    }
  }
}

/** The product of one SHAPES entry with transpose flags. */
function paramsOf(shape: (typeof SHAPES)[number], transA: boolean, transB: boolean): MatmulParams {
  const [batch, m, n, k, fa, fb] = shape;
  return { batch, m, n, k, transA, transB, strideA: fa * m * k, strideB: fb * k * n };
}

/** Every product of `shapes` under every transpose combination, as params. */
function* products(shapes: typeof SHAPES): Generator<MatmulParams> {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      for (const shape of shapes) yield paramsOf(shape, transA, transB);
    }
  }
}

for (const variant of MATMUL_VARIANTS) {
  gpuTest(
    `matmul() ${variant} matches CPU for every transpose combo and awkward shapes`,
    async (gpu) => {
      gpu.force.matmul = variant;
      try {
        for (const p of products(SHAPES)) await check(gpu, p, `${variant} ${JSON.stringify(p)}`);
      } finally {
        gpu.force.matmul = undefined;
      }
    },
  );
  gpuTest(
    `matmul() ${variant} with 1 or 2 biases: exactly the product plus the bias sum; matches CPU`,
    async (gpu) => {
      gpu.force.matmul = variant;
      const pair: [Backend, Backend] = [gpu, cpu];
      try {
        for (const biases of [1, 2]) {
          for (const p of products(SHAPES.filter((_, i) => i % 3 === 0 || i < 3))) {
            const { batch, m, n, k } = p, size = batch * m * n;
            const label = `${variant} ${biases} biases ${JSON.stringify(p)}`;
            const a = randArray((p.strideA === 0 ? 1 : batch) * m * k, m + k);
            const b = randArray((p.strideB === 0 ? 1 : batch) * k * n, n + 3 * k);
            const bs = [randArray(n, n + 1), randArray(n, n + 2)].slice(0, biases);
            const [g, c] = await runBoth(
              pair,
              [a, b, ...bs],
              size,
              (be, [x, y, ...z], o) => be.matmul(x!, y!, o, p, z),
            );
            const [plain] = await runBoth(
              pair,
              [a, b],
              size,
              (be, [x, y], o) => be.matmul(x!, y!, o, p),
            );
            for (let i = 0; i < size; i++) {
              const j = i % n;
              const sum = biases === 1 ? bs[0]![j]! : Math.fround(bs[0]![j]! + bs[1]![j]!);
              assert.equal(g[i], Math.fround(plain[i]! + sum), `${label}: index ${i}`);
            }
            assertClose(g, c, { rtol: 1e-5, atol: 1e-5 * Math.sqrt(k), label });
          }
        }
      } finally {
        gpu.force.matmul = undefined;
      }
    },
  );
}

gpuTest(
  "independent blocked matmuls and row sums share one dispatch with their own bits; dependent ones do not",
  async (gpu) => {
    /** A product [params, biases], or a row sum of a fresh input or of job `of`'s A. */
    type Job = [MatmulParams, number] | { sum: ReduceParams; of?: number };
    const sum = (outer: number, reduce: number, inner: number, of?: number): Job => ({
      sum: { outer, reduce, inner },
      of,
    });
    // mixed flags, vec4 and scalar operands, batches, biases, a sum of a product's (vec4) input
    const sets: Job[][] = [
      [[paramsOf([1, 13, 12, 16, 1, 1], true, false), 0], [
        paramsOf([1, 20, 12, 13, 1, 1], false, false),
        0,
      ]],
      [
        sum(1, 150, 13),
        [paramsOf([1, 64, 16, 150, 1, 1], true, false), 0],
        [paramsOf([2, 9, 13, 11, 1, 1], false, true), 1],
        [paramsOf([3, 7, 36, 12, 0, 1], false, false), 2],
        sum(1, 150, 64, 1),
      ],
      [
        [paramsOf([1, 1, 1, 1, 1, 1], false, false), 1],
        [paramsOf([1, 33, 65, 17, 1, 1], true, true), 0],
        sum(3, 7, 5),
        sum(2, 3, 700), // more outputs than one z slice of the grid holds
        [paramsOf([4, 17, 5, 6, 1, 0], false, false), 0],
        [paramsOf([1, 12, 20, 8, 1, 1], false, false), 2],
        sum(1, 1, 1),
      ],
    ];
    const dispatches = () => gpu.stats().dispatches;
    gpu.force.matmul = "blocked";
    gpu.force.reduce = "loop";
    try {
      for (const [si, set] of sets.entries()) {
        const run = async (grouped: boolean) => {
          gpu.force.matmulGroups = grouped;
          const made: Storage[] = [];
          const up = (data: Float32Array) => {
            const st = gpu.upload(data, "float32");
            made.push(st);
            return st;
          };
          const rand = (n: number, seed: number) => up(randArray(n, seed));
          // NaN first: a job the dispatch skipped cannot pass on stale pool memory
          const nan = (n: number) => up(new Float32Array(n).fill(NaN));
          const as: Storage[] = [];
          const jobs = set.map((job, i) => {
            if (!Array.isArray(job)) {
              const { outer, reduce, inner } = job.sum;
              const x = job.of === undefined ? rand(outer * reduce * inner, i + 1) : as[job.of]!;
              const out = nan(outer * inner);
              return { out, record: () => gpu.reduce("sum", x, out, job.sum) };
            }
            const [p, biases] = job;
            const a = rand((p.strideA === 0 ? 1 : p.batch) * p.m * p.k, 10 * i + 1);
            const b = rand((p.strideB === 0 ? 1 : p.batch) * p.k * p.n, 10 * i + 2);
            const bias = [...Array(biases).keys()].map((j) => rand(p.n, 10 * i + 3 + j));
            const out = nan(p.batch * p.m * p.n);
            as[i] = a;
            return { out, record: () => gpu.matmul(a, b, out, p, bias) };
          });
          await gpu.flush();
          const d0 = dispatches();
          for (const j of jobs) j.record();
          const n = dispatches() - d0;
          const data = await Promise.all(jobs.map((j) => gpu.read(j.out)));
          for (const st of made) gpu.free(st);
          return { n, data };
        };
        const alone = await run(false), together = await run(true);
        assert.equal(alone.n, set.length, `set ${si}: one dispatch per job alone`);
        assert.equal(together.n, 1, `set ${si}: one dispatch for the group`);
        together.data.forEach((d, i) =>
          assert.deepEqual([...d], [...alone.data[i]!], `set ${si} job ${i}: same bits`)
        );
      }
      // A product that reads the held one's output is recorded after it, not with it.
      gpu.force.matmulGroups = true;
      const p = paramsOf([1, 9, 9, 9, 1, 1], false, false);
      const [a, b] = [
        gpu.upload(randArray(81, 1), "float32"),
        gpu.upload(randArray(81, 2), "float32"),
      ];
      const c = gpu.alloc(81, "float32"), e = gpu.alloc(81, "float32");
      const d0 = dispatches();
      gpu.matmul(a, b, c, p);
      gpu.matmul(c, b, e, p);
      assert.equal(dispatches() - d0, 2, "dependent products: two dispatches");
      const [ch, eh] = [await gpu.read(c), await gpu.read(e)];
      const [, want] = await runBoth(
        [gpu, cpu],
        [ch as Float32Array, randArray(81, 2)],
        81,
        (be, [x, y], o) => be.matmul(x!, y!, o, p),
      );
      assertClose(eh, want, { rtol: 1e-5, atol: 1e-5, label: "C·B after C = A·B" });
      for (const st of [a, b, c, e]) gpu.free(st);
    } finally {
      gpu.force.matmul = undefined;
      gpu.force.reduce = undefined;
      gpu.force.matmulGroups = undefined;
    }
  },
);

gpuTest("matmul() with K = 0 writes zeros; empty outputs record nothing", async (gpu) => {
  const p = { batch: 2, m: 3, n: 4, k: 0, transA: false, transB: false, strideA: 0, strideB: 0 };
  const [g] = await runBoth(
    [gpu, cpu],
    [new Float32Array(0), new Float32Array(0)],
    24,
    (k, [a, b], o) => k.matmul(a!, b!, o, p),
    new Float32Array(24).fill(7),
  );
  assert.deepEqual(Array.from(g), new Array(24).fill(0));
  const before = gpu.stats().dispatches;
  const e = gpu.alloc(0, "float32");
  gpu.matmul(e, e, e, { ...p, m: 0, k: 5 });
  assert.equal(gpu.stats().dispatches, before);
  gpu.free(e);
});

gpuTest("matmul() runs batches beyond 65535 workgroups in z", async (gpu) => {
  const batch = 70001;
  const p = { batch, m: 1, n: 2, k: 3, transA: false, transB: true, strideA: 3, strideB: 6 };
  const a = randArray(batch * 3, 1), b = randArray(batch * 6, 2);
  const [g, c] = await runBoth(
    [gpu, cpu],
    [a, b],
    batch * 2,
    (k, [x, y], o) => k.matmul(x!, y!, o, p),
  );
  assertClose(g, c, { rtol: 1e-5, atol: 1e-6, label: "batch 70001" });
});

gpuTest("matmul() K beyond the blocked kernel's loop budget still matches", async (gpu) => {
  // 300000 > MAX_LOOP_ELEMENTS: the blocked/simple kernels hand over to the tiled one.
  const k = 300000;
  for (const variant of ["blocked"] as const) {
    gpu.force.matmul = variant;
    try {
      await check(gpu, {
        batch: 1,
        m: 2,
        n: 3,
        k,
        transA: true,
        transB: false,
        strideA: 0,
        strideB: 0,
      }, `K=${k}`);
    } finally {
      gpu.force.matmul = undefined;
    }
  }
});

gpuTest("the matmul selector picked a variant for this adapter", (gpu) => {
  assert.ok(MATMUL_VARIANTS.includes(gpu.matmulChoice), `choice ${gpu.matmulChoice}`);
});

gpuTest("matmul tests finish: flush() resolves", async (gpu) => {
  await gpu.flush();
});
