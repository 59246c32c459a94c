/**
 * The CPU backend's worker pool (`tensor/cpu/pool.ts`): large matmuls and
 * fused recurrent steps split across threads give results bit-identical to
 * one thread, for awkward sizes, all transposes, batches, broadcast strides
 * and both dtypes; small work stays on the calling thread; `WGRAD_CPU_THREADS=1`
 * turns the pool off; a program using the pool exits on its own.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Storage, TypedArray } from "../tensor/backend.ts";
import type { Rows } from "../tensor/routines/rnn/mod.ts";
import { allocShared, arenaBytes, freeShared, trackShared } from "../tensor/cpu/arena.ts";
import { CpuBackend, type CpuStorage } from "../tensor/cpu/backend.ts";
import { PARALLEL_MACS } from "../tensor/cpu/matmul.ts";
import { PARALLEL_RANDOM } from "../tensor/cpu/random.ts";
import { PARALLEL_ELEMENTWISE } from "../tensor/cpu/unary.ts";
import { BINARY_OPS, UNARY_OPS } from "../tensor/optable.ts";
import type { BinaryOp, UnaryOp } from "../tensor/backend.ts";
import { PARALLEL_ADAM } from "../tensor/routines/optim/cpu.ts";
import { fillRandom } from "../tensor/random.ts";
import { PARALLEL_ROWS } from "../tensor/routines/rnn/cpu.ts";
import {
  cpuThreads,
  poolStats,
  setCpuThreads,
  setPoolBackoff,
  withCpuThreads,
} from "../tensor/cpu/pool.ts";
import { adamStep, matmulCases, values } from "./_values.ts";
import { assertPoolStarts } from "./_env.ts";
import {
  gruStep,
  gruStepBackward,
  lstmStep,
  lstmStepBackward,
} from "../tensor/routines/rnn/mod.ts";

/** Run f with two threads, and check that it used the pool (or not). */
function twoThreads(pooled: boolean, f: () => void): void {
  const was = setCpuThreads(2), back = setPoolBackoff(false);
  const before = poolStats().jobs;
  try {
    f();
  } finally {
    setCpuThreads(was);
    setPoolBackoff(back);
  }
  assert.equal(poolStats().jobs > before, pooled, pooled ? "expected a pool job" : "no pool job");
}

function same(got: TypedArray, want: TypedArray, what: string): void {
  assert.equal(got.length, want.length, what);
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i])) {
      assert.fail(`${what}: element ${i} is ${got[i]} threaded, ${want[i]} on one thread`);
    }
  }
}

const dataOf = (s: Storage) => (s as CpuStorage).data;

Deno.test("matmul split across threads equals one thread bit for bit", async () => {
  await assertPoolStarts();
  const cpu = new CpuBackend();
  const shapes = [
    [9, 100, 200], // m below two strips: one row chunk per batch, or split batches
    [37, 61, 129],
    [100, 64, 256],
    [101, 113, 255],
    [1500, 49, 20],
    [17, 3000, 3], // k large, n tiny
    [300, 500, 1], // n = 1: the plain loop
  ] as const;
  const layouts = [[1, 1, 1], [3, 1, 0], [2, 0, 1], [5, 1, 1]] as const;
  let threaded = 0;
  for (const { p, f64, a: av, b: bv, what } of matmulCases(shapes, layouts)) {
    const dtype = f64 ? "float64" : "float32";
    const a = cpu.upload(av, dtype), b = cpu.upload(bv, dtype);
    const size = p.batch * p.m * p.n;
    const c1 = cpu.alloc(size, dtype), c2 = cpu.alloc(size, dtype);
    const big = size * p.k >= PARALLEL_MACS;
    twoThreads(big, () => cpu.matmul(a, b, c1, p));
    withCpuThreads(1, () => cpu.matmul(a, b, c2, p));
    same(dataOf(c1), dataOf(c2), what);
    if (big) threaded++;
    for (const s of [a, b, c1, c2]) cpu.free(s);
  }
  assert.ok(threaded > 50);
  assert.ok(poolStats().workerChunks > 0, "the worker never ran a chunk");
});

Deno.test("random fills split across threads give the stream's bits", async () => {
  await assertPoolStarts();
  const cpu = new CpuBackend();
  let pooledChunks = 0;
  // sizes around the threshold and not a multiple of a chunk; counters that carry into the
  // high word inside the fill
  for (const size of [PARALLEL_RANDOM - 1, PARALLEL_RANDOM, 100_003, 650_000]) {
    for (const dtype of ["float32", "float64"] as const) {
      for (const dist of ["uniform", "normal"] as const) {
        for (const counter of [0, 2 ** 32 - 5_000]) {
          const key = [0x12345678, 0x9abcdef0] as const, lo = dist === "normal" ? 0.5 : -2;
          const hi = dist === "normal" ? 0.05 : 3;
          const out = cpu.alloc(size, dtype);
          const w0 = poolStats().workerChunks;
          twoThreads(
            size >= PARALLEL_RANDOM,
            () => cpu.random(out, { dist, key: [key[0], key[1]], counter, lo, hi }),
          );
          pooledChunks += poolStats().workerChunks - w0;
          const want = dtype === "float64" ? new Float64Array(size) : new Float32Array(size);
          fillRandom(want, dist, key, counter, lo, hi);
          same(dataOf(out), want, `${size} ${dtype} ${dist} from ${counter}`);
          cpu.free(out);
        }
      }
    }
  }
  assert.ok(pooledChunks > 0, "the worker never filled a chunk");
});

Deno.test("Adam and AdamW updates split across threads equal one thread bit for bit", async () => {
  await assertPoolStarts();
  const cpu = new CpuBackend();
  const n = PARALLEL_ADAM + 3 * 4096 + 5; // chunks of whole blocks and an odd tail
  const variants = (["float32", "float64"] as const).flatMap((d) =>
    ([["adam", 0], ["adam", 0.01], ["adamw", 0.05]] as const).map(([k, w]) => [d, k, w] as const)
  );
  for (const [dtype, kind, weightDecay] of variants) {
    const run = (pooled: boolean) => {
      const f64 = dtype === "float64", dt = dtype;
      const [p, m, v] = [values(n, 1, f64), values(n, 2, f64), values(n, 3, f64).map(Math.abs)]
        .map((a) => cpu.upload(a, dt));
      for (let t = 1; t <= 2; t++) {
        const grad = cpu.upload(values(n, 10 + t, f64), dt);
        const step = () =>
          adamStep(cpu, kind, weightDecay, t, { param: p!, grad, expAvg: m!, expAvgSq: v! });
        if (pooled) twoThreads(true, step);
        else withCpuThreads(1, step);
      }
      return Promise.all([p!, m!, v!].map((st) => cpu.read(st)));
    };
    const [one, two] = [await run(false), await run(true)];
    ["param", "expAvg", "expAvgSq"].forEach((what, k) =>
      same(two[k]!, one[k]!, `${dtype} ${kind} wd ${weightDecay}: ${what}`)
    );
  }
});

Deno.test("elementwise ops split across threads equal one thread bit for bit", async () => {
  await assertPoolStarts();
  const cpu = new CpuBackend();
  const n = PARALLEL_ELEMENTWISE + 12_345;
  for (const dtype of ["float32", "float64"] as const) {
    // positive and negative values, exact zeros, values past 1 (log, sqrt, pow see both signs)
    const xv = values(n, 5, dtype === "float64").map((v, i) => (i % 17 === 0 ? 0 : 3 * v));
    const x = cpu.upload(xv, dtype);
    for (const op of Object.keys(UNARY_OPS) as UnaryOp[]) {
      const run = (pooled: boolean) => {
        const out = cpu.alloc(n, dtype);
        const f = () => cpu.unary(op, x, out, 0.3, -1.5);
        if (pooled) twoThreads(true, f);
        else withCpuThreads(1, f);
        return cpu.read(out);
      };
      same(await run(true), await run(false), `${dtype} ${op}`);
    }
    // [rows, len] layouts: same shape, a bias row, a scalar, a column, b transposed (strided
    // rows), and a rank-3 broadcast that is not split
    const rows = 300, len = Math.ceil(n / rows);
    const big = cpu.upload(values(rows * len, 6, dtype === "float64"), dtype);
    const row = cpu.upload(values(len, 7, dtype === "float64").map((v) => v + 2), dtype);
    const col = cpu.upload(values(rows, 8, dtype === "float64").map((v) => v - 2), dtype);
    const tr = cpu.upload(values(rows * len, 9, dtype === "float64"), dtype);
    const layouts: [string, Storage, number[], boolean][] = [
      ["same shape", big, [len, 1], true],
      ["bias row", row, [0, 1], true],
      ["scalar", row, [0, 0], true],
      ["column", col, [1, 0], true],
      ["transposed", tr, [1, rows], true],
    ];
    for (const op of Object.keys(BINARY_OPS) as BinaryOp[]) {
      for (const [what, b, bStrides, pooled] of layouts) {
        const run = (two: boolean) => {
          const out = cpu.alloc(rows * len, dtype);
          const f = () => cpu.binary(op, big, [len, 1], b, bStrides, out, [rows, len]);
          if (two) twoThreads(pooled, f);
          else withCpuThreads(1, f);
          return cpu.read(out);
        };
        same(await run(true), await run(false), `${dtype} ${op} ${what}`);
      }
      // [2, 3, …] with a middle broadcast: three dimensions after coalescing, one thread
      const shape = [4, 25, Math.floor(rows * len / 100)], m = shape[2]!;
      const out = cpu.alloc(shape[0]! * shape[1]! * m, dtype);
      twoThreads(false, () => cpu.binary(op, big, [25 * m, 0, 1], big, [0, m, 1], out, shape));
    }
  }
});

Deno.test("small products stay on the calling thread", async () => {
  await assertPoolStarts();
  const cpu = new CpuBackend();
  const m = 40, k = 40, n = 40; // 64k multiply-adds
  assert.ok(m * n * k < PARALLEL_MACS);
  const a = cpu.upload(values(3 * 12000, 1), "float32");
  const b = cpu.upload(values(3000 * 40, 2), "float32");
  const c = cpu.alloc(m * n, "float32");
  const p = { batch: 1, m, n, k, transA: false, transB: false, strideA: 0, strideB: 0 };
  twoThreads(false, () => cpu.matmul(a, b, c, p));
  // many multiply-adds but a single strip of rows and one 8-column panel: nothing to split
  const strip = { ...p, m: 3, k: 12000, n: 8 };
  assert.ok(strip.m * strip.n * strip.k >= PARALLEL_MACS);
  twoThreads(false, () => cpu.matmul(a, b, c, strip));
  // enough work but fewer batch rows than PARALLEL_ROWS: one thread
  const B = PARALLEL_ROWS - 1, H = 128, s = new Seqs("float32", B, 1);
  assert.ok(B * 4 * H * H >= PARALLEL_MACS);
  const x = s.flat(B * 4 * H), h = s.flat(B * H), cc = s.flat(B * H), w = s.flat(4 * H * H);
  const rows = (st: Storage, width: number): Rows => ({ storage: st, offset: 0, stride: width });
  twoThreads(false, () =>
    lstmStep(s.cpu, {
      batch: B,
      hidden: H,
      x: rows(x, 4 * H),
      h: rows(h, H),
      c: rows(cc, H),
      whh: w,
      hOut: rows(s.flat(B * H), H),
      cOut: rows(s.flat(B * H), H),
      gates: null,
    }));
  s.free();
  for (const t of [a, b, c]) cpu.free(t);
});

/** Rows of a batch-first [B, T, width] sequence at step t. */
function seqRows(s: Storage, t: number, T: number, width: number): Rows {
  return { storage: s, offset: t * width, stride: T * width };
}

/** Storages for the recurrent tests: random [B, T, width] sequences. */
class Seqs {
  readonly cpu = new CpuBackend();
  readonly all: Storage[] = [];
  seed = 100;
  constructor(readonly dtype: "float32" | "float64", readonly B: number, readonly T: number) {}
  seq(width: number): Storage {
    return this.flat(this.B * this.T * width);
  }
  flat(n: number): Storage {
    const s = this.cpu.upload(values(n, this.seed++, this.dtype === "float64"), this.dtype);
    this.all.push(s);
    return s;
  }
  /** Copies of `outs` after `run` threaded and on one thread (outs reset in between). */
  compare(outs: Storage[], pooled: boolean, run: () => void, what: string): void {
    const start = outs.map((s) => dataOf(s).slice());
    twoThreads(pooled, run);
    const threaded = outs.map((s) => dataOf(s).slice());
    outs.forEach((s, i) => dataOf(s).set(start[i]!));
    withCpuThreads(1, run);
    outs.forEach((s, i) => same(threaded[i]!, dataOf(s), `${what} output ${i}`));
  }
  free(): void {
    for (const s of this.all) this.cpu.free(s);
  }
}

Deno.test("fused recurrent steps split by batch rows equal one thread bit for bit", async () => {
  await assertPoolStarts();
  for (const dtype of ["float32", "float64"] as const) {
    for (const [B, H, pooled] of [[45, 48, true], [100, 64, true], [8, 64, false]] as const) {
      const T = 3, t = 1, G4 = 4 * H, G3 = 3 * H;
      const s = new Seqs(dtype, B, T), cpu = s.cpu;
      const what = (k: string) => `${k} ${dtype} B=${B} H=${H}`;
      // LSTM forward, with and without saved gates
      const x = s.seq(G4), h = s.seq(H), c = s.seq(H), w = s.flat(G4 * H), gates = s.seq(G4);
      for (const save of [true, false]) {
        s.compare([h, c, gates], pooled, () =>
          lstmStep(cpu, {
            batch: B,
            hidden: H,
            x: seqRows(x, t, T, G4),
            h: seqRows(h, t - 1, T, H),
            c: seqRows(c, t - 1, T, H),
            whh: w,
            hOut: seqRows(h, t, T, H),
            cOut: seqRows(c, t, T, H),
            gates: save ? seqRows(gates, t, T, G4) : null,
          }), what("lstmStep"));
      }
      // LSTM backward, with and without the next step's gate gradients
      const dh = s.seq(H), dc = s.flat(B * H), dg = s.seq(G4);
      for (const dgNext of [(t + 1) * G4, null]) {
        s.compare([dc, dg], pooled, () =>
          lstmStepBackward(cpu, {
            batch: B,
            hidden: H,
            dh: seqRows(dh, t, T, H),
            cPrev: seqRows(c, t - 1, T, H),
            c: seqRows(c, t, T, H),
            gates: seqRows(gates, t, T, G4),
            whh: w,
            dc,
            dg: seqRows(dg, t, T, G4),
            dgNext,
          }), what("lstmStepBackward"));
      }
      // GRU forward and backward
      const xg = s.seq(G3), wg = s.flat(G3 * H), bhh = s.flat(G3), saved = s.seq(4 * H);
      for (const save of [true, false]) {
        s.compare([h, saved], pooled, () =>
          gruStep(cpu, {
            batch: B,
            hidden: H,
            x: seqRows(xg, t, T, G3),
            h: seqRows(h, t - 1, T, H),
            whh: wg,
            bhh,
            hOut: seqRows(h, t, T, H),
            saved: save ? seqRows(saved, t, T, 4 * H) : null,
          }), what("gruStep"));
      }
      const dhz = s.flat(B * H), dgx = s.seq(G3), dgh = s.seq(G3);
      for (const dghNext of [(t + 1) * G3, null]) {
        s.compare([dhz, dgx, dgh], pooled, () =>
          gruStepBackward(cpu, {
            batch: B,
            hidden: H,
            dh: seqRows(dh, t, T, H),
            h: seqRows(h, t - 1, T, H),
            saved: seqRows(saved, t, T, 4 * H),
            whh: wg,
            dhz,
            dgx: seqRows(dgx, t, T, G3),
            dgh: seqRows(dgh, t, T, G3),
            dghNext,
          }), what("gruStepBackward"));
      }
      s.free();
    }
  }
});

Deno.test("a backward step whose next rows overlap its own stays on one thread", async () => {
  await assertPoolStarts();
  const B = 32, H = 32, G = 4 * H;
  const s = new Seqs("float32", B, 1), cpu = s.cpu;
  // dg rows are G apart and dgNext starts half a row later: the two sets overlap
  const dh = s.flat(B * H), c = s.flat(B * H), gates = s.flat(B * G), w = s.flat(G * H);
  const dc = s.flat(B * H), dg = s.flat(B * G + G);
  s.compare([dc, dg], false, () =>
    lstmStepBackward(cpu, {
      batch: B,
      hidden: H,
      dh: { storage: dh, offset: 0, stride: H },
      cPrev: { storage: c, offset: 0, stride: H },
      c: { storage: c, offset: 0, stride: H },
      gates: { storage: gates, offset: 0, stride: G },
      whh: w,
      dc,
      dg: { storage: dg, offset: 0, stride: G },
      dgNext: G / 2,
    }), "overlapping lstmStepBackward");
  s.free();
});

Deno.test("storages live in the shared arena and its blocks are reused", async () => {
  await assertPoolStarts();
  const was = setCpuThreads(2);
  try {
    const cpu = new CpuBackend();
    const a = cpu.alloc(10000, "float32");
    assert.ok(dataOf(a).buffer instanceof SharedArrayBuffer);
    dataOf(a).fill(7);
    const at = dataOf(a).byteOffset;
    cpu.free(a);
    const top = arenaBytes();
    const b = cpu.alloc(9999, "float32"); // same size class: the freed block (not zeroed)
    assert.equal(arenaBytes(), top);
    assert.equal(dataOf(b).byteOffset, at);
    assert.equal(dataOf(b)[0], 7);
    cpu.free(b);
    // a block asked for zeroed reads 0 even where it held other values
    const owner = {};
    const z = allocShared(9999, "float32")!;
    const token = trackShared(owner, z);
    assert.equal(z.byteOffset, at);
    assert.ok(z.every((v) => v === 0));
    freeShared(owner, token);
  } finally {
    setCpuThreads(was);
  }
});

/** Run a script in a fresh process; its exit status and output. */
async function runScript(
  code: string,
  env: Record<string, string>,
): Promise<{ code: number; out: string; err: string }> {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/script.ts`;
  await Deno.writeTextFile(file, code);
  try {
    const cmd = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-check", file],
      env,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60000),
    });
    const r = await cmd.output();
    const dec = new TextDecoder();
    return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const SCRIPT = (root: string) => `
import { CpuBackend } from "${root}/tensor/cpu/backend.ts";
import { cpuThreads, poolReady, poolStats, setPoolBackoff } from "${root}/tensor/cpu/pool.ts";
setPoolBackoff(false); // the one large job goes to the pool, not to a probe on this thread
const cpu = new CpuBackend();
const started = await poolReady();
const a = cpu.alloc(256 * 256, "float32"), c = cpu.alloc(256 * 256, "float32");
cpu.fill(a, 1);
cpu.matmul(a, a, c, { batch: 1, m: 256, n: 256, k: 256, transA: false, transB: false, strideA: 0, strideB: 0 });
const out = await cpu.read(c);
console.log(JSON.stringify({ threads: cpuThreads(), started, ...poolStats(), v: out[0] }));
`;

Deno.test("a program with the pool running exits on its own", async () => {
  const root = new URL("..", import.meta.url).href.replace(/\/$/, "");
  const t0 = performance.now();
  const r = await runScript(SCRIPT(root), { WGRAD_CPU_THREADS: "2" });
  assert.equal(r.code, 0, r.err);
  if (r.err.trim()) console.log("stderr:", r.err);
  const res = JSON.parse(r.out.trim().split("\n").at(-1)!);
  assert.equal(res.threads, 2);
  assert.equal(res.started, true);
  assert.equal(res.workers, 1);
  assert.equal(res.jobs, 1);
  assert.equal(res.v, 256);
  assert.ok(performance.now() - t0 < 60000);
});

Deno.test("WGRAD_CPU_THREADS=1 keeps every kernel on the calling thread", async () => {
  const root = new URL("..", import.meta.url).href.replace(/\/$/, "");
  const r = await runScript(SCRIPT(root), { WGRAD_CPU_THREADS: "1" });
  assert.equal(r.code, 0, r.err);
  const res = JSON.parse(r.out.trim().split("\n").at(-1)!);
  assert.deepEqual(res, {
    threads: 1,
    started: false,
    workers: 0,
    jobs: 0,
    callerChunks: 0,
    workerChunks: 0,
    skipped: 0,
    v: 256,
  });
});

Deno.test("a WGRAD_CPU_THREADS that is not a positive integer is an error naming it", async () => {
  const root = new URL("..", import.meta.url).href.replace(/\/$/, "");
  for (const bad of ["two", "0", "1.5"]) {
    const r = await runScript(SCRIPT(root), { WGRAD_CPU_THREADS: bad });
    assert.notEqual(r.code, 0, `WGRAD_CPU_THREADS=${bad} ran`);
    assert.match(
      r.err,
      new RegExp(`WGRAD_CPU_THREADS=${bad.replace(".", "\\.")} is not a positive integer`),
    );
  }
});

Deno.test("the default thread count is min(2, hardwareConcurrency)", () => {
  if (Deno.env.get("WGRAD_CPU_THREADS")) return;
  assert.equal(cpuThreads(), Math.min(2, navigator.hardwareConcurrency));
});

Deno.test("the pool measures both ways: probes on one thread, then on the pool", async () => {
  await assertPoolStarts();
  const cpu = new CpuBackend();
  const m = 64, k = 128, n = 64;
  assert.ok(m * n * k >= PARALLEL_MACS);
  const a = cpu.upload(values(m * k, 5), "float64"), b = cpu.upload(values(k * n, 6), "float64");
  const c1 = cpu.alloc(m * n, "float64"), c2 = cpu.alloc(m * n, "float64");
  const p = { batch: 1, m, n, k, transA: false, transB: false, strideA: 0, strideB: 0 };
  withCpuThreads(1, () => cpu.matmul(a, b, c2, p));
  const was = setCpuThreads(2), back = setPoolBackoff(true); // resets the measurements
  try {
    const s0 = poolStats();
    for (let i = 0; i < 8; i++) {
      cpu.matmul(a, b, c1, p);
      same(dataOf(c1), dataOf(c2), `probe ${i}`);
    }
    const s1 = poolStats();
    assert.equal(s1.skipped - s0.skipped, 4, "four probes on the calling thread");
    assert.equal(s1.jobs - s0.jobs, 4, "four probes on the pool");
  } finally {
    setCpuThreads(was);
    setPoolBackoff(back);
  }
  for (const s of [a, b, c1, c2]) cpu.free(s);
});
