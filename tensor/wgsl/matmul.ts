/**
 * Batched matmul WGSL: `out[b] = op(A[b]) · op(B[b])`, out contiguous
 * [batch, M, N]; A is [M, K] ([K, M] when transA) at `b · strideA`, B is
 * [K, N] ([N, K] when transB) at `b · strideB`. The transpose flags are baked
 * (four shaders per variant); sizes and strides are uniforms.
 *
 * Variants (the WebGPU runtime picks one per adapter, see
 * `tensor/webgpu/matmul.ts`):
 *
 * - `blocked`: register blocking for software adapters (llvmpipe). Each
 *   invocation computes an 8×8 block of C held in 16 vec4 accumulators (two
 *   per row), the K loop unrolled by 4 with A read as vec4; no workgroup
 *   memory, no barriers. Edges clamp the loads and guard the stores.
 * - `tiled`: classic shared-memory tiling for real GPUs: a 16×16 workgroup
 *   computes a 64×64 tile of C (4×4 per invocation, strided by 16), staging
 *   64×16 of A and 16×64 of B in workgroup memory per K step.
 * - `simple`: one invocation per element of C; for tiny products and as a
 *   reference.
 *
 * {@link matmulGroupShader} runs several independent blocked products (a
 * layer's weight and input gradients) in one dispatch, each with the
 * statements of its own kernel.
 *
 * Bindings (all variants): P = [M, N, K, strideA, strideB, batchBase];
 * `a`, `b`, then 0–2 bias vectors `bias0`, `bias1` of N elements (read),
 * `out` (write). With biases the store adds `bias0[c]` (or
 * `bias0[c] + bias1[c]`, summed first) to column c of every row: the
 * `x·Wᵀ + b` of a linear layer in one dispatch. Grid: x over column blocks,
 * y over row blocks, z over batches (batch = workgroup z + batchBase).
 *
 * @module
 */
import { PARAMS_WGSL, type ShaderSource, unrolled4 } from "./common.ts";
import { reduceLoopBody } from "./reduce.ts";

/** Matmul kernel variants. */
export type MatmulVariant = "blocked" | "tiled" | "simple";

/** All variants, for tests and benchmarks. */
export const MATMUL_VARIANTS: readonly MatmulVariant[] = ["blocked", "tiled", "simple"];

/** Output rows × columns computed by one workgroup of each variant. */
export const MATMUL_TILE: Record<MatmulVariant, { rows: number; cols: number }> = {
  blocked: { rows: 64, cols: 64 },
  tiled: { rows: 64, cols: 64 },
  simple: { rows: 8, cols: 8 },
};

/** The baked constants of one product's kernel. */
export interface MatmulFlags {
  /** A stored as [K, M]. */
  transA: boolean;
  /** B stored as [N, K]. */
  transB: boolean;
  /** A bound as vec4s (blocked only; see {@link matmulVec4}). */
  vecA: boolean;
  /** B bound as vec4s (blocked only). */
  vecB: boolean;
  /** Bias vectors added in the store (0–2). */
  biases: number;
}

/** Register block of the blocked kernel. */
const BR = 8, BC = 8;

const HEAD = `  let M = pu(0u); let N = pu(1u); let K = pu(2u);
  let batch = wid.z + pu(5u);
  let aB = batch * pu(3u); let bB = batch * pu(4u); let oB = batch * M * N;
`;

/** WGSL expressions of A(r, k) and B(k, c) for the transpose flags. */
function accessors(transA: boolean, transB: boolean) {
  return {
    a: (r: string, k: string) => transA ? `a[aB + (${k}) * M + ${r}]` : `a[aB + (${r}) * K + ${k}]`,
    b: (k: string, c: string) => transB ? `b[bB + (${c}) * K + ${k}]` : `b[bB + (${k}) * N + ${c}]`,
  };
}

/** The bias term added to column `c` in the store ("" without biases). */
function biasTerm(biases: number, c: string): string {
  return biases === 0 ? "" : biases === 1 ? ` + bias0[${c}]` : ` + (bias0[${c}] + bias1[${c}])`;
}

function simple(transA: boolean, transB: boolean, biases: number): string {
  const { a, b } = accessors(transA, transB);
  return `@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(global_invocation_id) g: vec3<u32>) {
${HEAD}  let r = g.y; let c = g.x;
  if (r >= M || c >= N) { return; }
  var acc = 0.0;
  ${unrolled4("k", "0u", "K", 1, (k) => `acc += ${a("r", k)} * ${b(k, "c")};`)}
  out[oB + r * N + c] = acc${biasTerm(biases, "c")};
}
`;
}

/**
 * The blocked kernel. With `vecA`/`vecB` an operand is bound as
 * `array<vec4<f32>>` and read in whole aligned vec4s: A along K (row form) or,
 * transposed, along M (column form); B along N (row form) or, transposed,
 * along K (then the block update is a dot product per output).
 */
function blocked(
  transA: boolean,
  transB: boolean,
  vecA: boolean,
  vecB: boolean,
  biases: number,
): string {
  return `@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(global_invocation_id) g: vec3<u32>) {
${blockedBody({ transA, transB, vecA, vecB, biases }, PLAIN_NAMES)}}
`;
}

/** The bindings and parameter slots one blocked product reads and writes. */
interface Names {
  a: string;
  b: string;
  out: string;
  bias: readonly string[];
  /** First of its six parameter slots. */
  slot: number;
}

const PLAIN_NAMES: Names = { a: "a", b: "b", out: "out", bias: ["bias0", "bias1"], slot: 0 };

/**
 * The statements of the blocked kernel for one product (they use `wid` and
 * `g` and may return early), on the bindings and slots `nm` names.
 */
function blockedBody(f: MatmulFlags, nm: Names): string {
  const { transA, transB, vecA, vecB, biases } = f;
  const rows = [...Array(BR).keys()], q4 = [0, 1, 2, 3], comp = ["x", "y", "z", "w"];
  const a = nm.a, b = nm.b, slot = (i: number) => `pu(${nm.slot + i}u)`;
  const bias = (c: string) =>
    biases === 1 ? ` + ${nm.bias[0]}[${c}]` : ` + (${nm.bias[0]}[${c}] + ${nm.bias[1]}[${c}])`;
  const L: string[] = [];
  L.push(`  let M = ${slot(0)}; let N = ${slot(1)}; let K = ${slot(2)};
  let batch = wid.z + ${slot(5)};
  let aB = batch * ${slot(3)}; let bB = batch * ${slot(4)}; let oB = batch * M * N;
  let r0 = g.y * ${BR}u; let c0 = g.x * ${BC}u;
  if (r0 >= M || c0 >= N) { return; }`);
  // Clamped row/column bases: edge blocks read valid memory and drop the extra results.
  for (const i of rows) {
    L.push(`  let ra${i} = aB + min(r0 + ${i}u, M - 1u)${transA ? "" : " * K"};`);
  }
  for (const j of rows) {
    L.push(`  let cb${j} = bB + min(c0 + ${j}u, N - 1u)${transB ? " * K" : ""};`);
  }
  // Vec4 runs clamped to the last whole vec4 (M or N is then a multiple of 4).
  if (vecA && transA) {
    L.push(`  let M4 = M >> 2u;`);
    L.push(
      `  let rv0 = (aB + min(r0, M - 4u)) >> 2u; let rv1 = (aB + min(r0 + 4u, M - 4u)) >> 2u;`,
    );
  }
  if (vecB && !transB) {
    L.push(`  let cv0 = bB + min(c0, N - 4u); let cv1 = bB + min(c0 + 4u, N - 4u);`);
  }
  for (const i of rows) L.push(`  var acc${i}a = vec4<f32>(0.0); var acc${i}b = vec4<f32>(0.0);`);
  // Scalar element e of an operand, whichever way it is bound.
  const elemA = (e: string) => (vecA ? `${a}[(${e}) >> 2u][(${e}) & 3u]` : `${a}[${e}]`);
  const elemB = (e: string) => (vecB ? `${b}[(${e}) >> 2u][(${e}) & 3u]` : `${b}[${e}]`);
  const aAt = (i: number, k: string) => elemA(transA ? `ra${i} + (${k}) * M` : `ra${i} + ${k}`);
  const bAt = (j: number, k: string) => elemB(transB ? `cb${j} + ${k}` : `cb${j} + (${k}) * N`);
  const bRowsForm = !(vecB && transB);

  L.push(`  var k = 0u;
  for (; k + 4u <= K; k += 4u) {`);
  // A(i, k + q) as a scalar expression, after the loads below.
  let aScalar: (i: number, q: number) => string;
  if (vecA && transA) {
    // Indices as k·M4 + q·M4 in vec4s, not ((k + q)·M) >> 2: on llvmpipe the
    // latter form cost ~2.5 ms per dispatch even at K = 4 (40 µs per
    // invocation) and made the weight-gradient products 25–40% slower.
    L.push(`    let kr = k * M4;`);
    for (const q of q4) {
      const off = q === 0 ? "" : q === 1 ? " + M4" : ` + ${q}u * M4`;
      L.push(`    let av${q}0 = ${a}[rv0 + kr${off}];`);
      L.push(`    let av${q}1 = ${a}[rv1 + kr${off}];`);
    }
    aScalar = (i, q) => `av${q}${i >> 2}.${comp[i & 3]}`;
  } else {
    aScalar = (i, q) => `a${i}.${comp[q]}`;
  }
  const aRowVec = (i: number) =>
    vecA && !transA
      ? `${a}[(ra${i} + k) >> 2u]`
      : `vec4<f32>(${q4.map((q) => aAt(i, `k + ${q}u`)).join(", ")})`;
  if (bRowsForm) {
    for (const q of q4) {
      for (const h of [0, 1]) {
        const v = vecB
          ? `${b}[(cv${h} + (k + ${q}u) * N) >> 2u]`
          : `vec4<f32>(${q4.map((j) => bAt(h * 4 + j, `k + ${q}u`)).join(", ")})`;
        L.push(`    let b${q}${"ab"[h]} = ${v};`);
      }
    }
    for (const i of rows) {
      if (!(vecA && transA)) L.push(`    let a${i} = ${aRowVec(i)};`);
      for (const h of ["a", "b"]) {
        L.push(`    acc${i}${h} += ${q4.map((q) => `${aScalar(i, q)} * b${q}${h}`).join(" + ")};`);
      }
    }
  } else {
    for (const j of rows) L.push(`    let bc${j} = ${b}[(cb${j} + k) >> 2u];`);
    for (const i of rows) {
      L.push(
        vecA && transA
          ? `    let a${i} = vec4<f32>(${q4.map((q) => aScalar(i, q)).join(", ")});`
          : `    let a${i} = ${aRowVec(i)};`,
      );
      for (const h of [0, 1]) {
        const dots = q4.map((j) => `dot(a${i}, bc${h * 4 + j})`).join(", ");
        L.push(`    acc${i}${"ab"[h]} += vec4<f32>(${dots});`);
      }
    }
  }
  L.push(`  }
  for (; k < K; k++) {`);
  for (const h of [0, 1]) {
    L.push(`    let b${"ab"[h]} = vec4<f32>(${q4.map((j) => bAt(h * 4 + j, "k")).join(", ")});`);
  }
  for (const i of rows) {
    L.push(`    let a${i} = ${aAt(i, "k")};`);
    L.push(`    acc${i}a += a${i} * ba; acc${i}b += a${i} * bb;`);
  }
  L.push(`  }`);
  // Bias of each column of the block (clamped like the loads; unused columns are dropped).
  if (biases > 0) {
    for (const j of rows) {
      L.push(`  let bz${j} = 0.0${bias(`min(c0 + ${j}u, N - 1u)`)};`);
    }
  }
  for (const i of rows) {
    L.push(`  if (r0 + ${i}u < M) {
    let o = oB + (r0 + ${i}u) * N + c0;`);
    for (const j of rows) {
      const v = `acc${i}${j < 4 ? "a" : "b"}.${comp[j % 4]}${biases > 0 ? ` + bz${j}` : ""}`;
      L.push(`    if (c0 + ${j}u < N) { ${nm.out}[o + ${j}u] = ${v}; }`);
    }
    L.push(`  }`);
  }
  return L.join("\n") + "\n";
}

function tiled(transA: boolean, transB: boolean, biases: number): string {
  const { a, b } = accessors(transA, transB);
  // Consecutive invocations load consecutive addresses of the stored layout.
  const aRK = transA
    ? "let lk = e / 64u; let lr = e % 64u;"
    : "let lr = e / 16u; let lk = e % 16u;";
  const bKC = transB
    ? "let lc = e / 16u; let lk = e % 16u;"
    : "let lk = e / 64u; let lc = e % 64u;";
  const q4 = [0, 1, 2, 3];
  // Every loop with a constant trip count is written out: on llvmpipe each
  // loop iteration counts against a per-invocation budget of 65535.
  const loads = q4.map((t) =>
    `    {
      let e = lid + ${t * 256}u;
      {
        ${aRK}
        let r = tr + lr; let k = k0 + lk;
        var v = 0.0;
        if (r < M && k < K) { v = ${a("r", "k")}; }
        As[lk * 64u + lr] = v;
      }
      {
        ${bKC}
        let c = tc + lc; let k = k0 + lk;
        var v = 0.0;
        if (c < N && k < K) { v = ${b("k", "c")}; }
        Bs[lk * 64u + lc] = v;
      }
    }`
  ).join("\n");
  const inner = [...Array(16).keys()].map((k) =>
    `    {
${q4.map((j) => `      let b${j} = Bs[${k * 64}u + l.x + ${16 * j}u];`).join("\n")}
${
      q4.map((i) =>
        `      { let av = As[${k * 64}u + l.y + ${16 * i}u]; ${
          q4.map((j) => `acc${i}${j} += av * b${j};`).join(" ")
        } }`
      ).join("\n")
    }
    }`
  ).join("\n");
  const stores = q4.map((i) =>
    `  { let r = tr + l.y + ${16 * i}u;
    if (r < M) {
${
      q4.map((j) =>
        `      { let c = tc + l.x + ${16 * j}u; if (c < N) { out[oB + r * N + c] = acc${i}${j}${
          biasTerm(biases, "c")
        }; } }`
      ).join("\n")
    }
    } }`
  ).join("\n");
  return `var<workgroup> As: array<f32, 1024>;
var<workgroup> Bs: array<f32, 1024>;
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
${HEAD}  let tr = wid.y * 64u; let tc = wid.x * 64u;
${q4.map((i) => q4.map((j) => `  var acc${i}${j} = 0.0;`).join("")).join("\n")}
  for (var k0 = 0u; k0 < K; k0 += 16u) {
${loads}
    workgroupBarrier();
${inner}
    workgroupBarrier();
  }
${stores}
}
`;
}

/**
 * Matmul shader for a variant and transpose combination.
 *
 * @param variant kernel variant
 * @param transA A stored as [K, M]
 * @param transB B stored as [N, K]
 * @param vec (blocked only) read A and/or B as aligned vec4s; see {@link matmulVec4}
 * @param biases bias vectors added in the store (0, 1 or 2)
 * @returns the shader
 */
export function matmulShader(
  variant: MatmulVariant,
  transA: boolean,
  transB: boolean,
  vec: { a: boolean; b: boolean } = { a: false, b: false },
  biases = 0,
): ShaderSource {
  const vecA = variant === "blocked" && vec.a;
  const vecB = variant === "blocked" && vec.b;
  const body = variant === "blocked"
    ? blocked(transA, transB, vecA, vecB, biases)
    : variant === "tiled"
    ? tiled(transA, transB, biases)
    : simple(transA, transB, biases);
  const decl = (name: string, binding: number, vec4: boolean, access: string) =>
    `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<${
      vec4 ? "vec4<f32>" : "f32"
    }>;\n`;
  const biasDecls = [...Array(biases).keys()].map((i) => decl(`bias${i}`, 3 + i, false, "read"));
  return {
    key: `matmul:${variant}:${transA ? "T" : "N"}${transB ? "T" : "N"}${vecA ? ":a4" : ""}${
      vecB ? ":b4" : ""
    }${biases > 0 ? `:bias${biases}` : ""}`,
    code: PARAMS_WGSL + decl("a", 1, vecA, "read") + decl("b", 2, vecB, "read") +
      biasDecls.join("") + decl("out", 3 + biases, false, "read_write") + body,
    reads: 2 + biases,
    writes: 1,
  };
}

/**
 * Whether the blocked kernel may read A and B as aligned vec4s: each operand
 * needs its contiguous dimension (K for A, or M when transposed; N for B, or
 * K when transposed) and its batch stride to be multiples of 4.
 *
 * @param p the product
 * @returns which operands may be read as vec4
 */
export function matmulVec4(
  p: {
    m: number;
    n: number;
    k: number;
    transA: boolean;
    transB: boolean;
    strideA: number;
    strideB: number;
  },
): { a: boolean; b: boolean } {
  return {
    a: (p.transA ? p.m : p.k) % 4 === 0 && p.strideA % 4 === 0,
    b: (p.transB ? p.k : p.n) % 4 === 0 && p.strideB % 4 === 0,
  };
}

/**
 * One job of a grouped dispatch: a blocked product (its constants and the
 * bindings it uses) or a sum over rows by the reduction's `loop` kernel.
 */
export type GroupedJob =
  | {
    kind: "matmul";
    /** Its kernel's constants (the blocked kernel). */
    flags: MatmulFlags;
    /** Read-binding index of A. */
    a: number;
    /** Read-binding index of B. */
    b: number;
    /** Read-binding indices of its biases. */
    bias: readonly number[];
    /** Write-binding index of its output. */
    out: number;
  }
  | {
    kind: "reduce";
    /** Read-binding index of the input. */
    x: number;
    /** Write-binding index of the output. */
    out: number;
  };

/** Most jobs in one grouped dispatch. */
export const MATMUL_GROUP_MAX = 8;

/** Parameter slots per job (job i's from 6·i). */
export const MATMUL_GROUP_JOB_SLOTS = 6;

/** Slot of the first job's last workgroup + 1 (job i's at +i). */
export const MATMUL_GROUP_END_SLOT = MATMUL_GROUP_JOB_SLOTS * MATMUL_GROUP_MAX;

/** Slot of the workgroup-order stride (coprime to the workgroup count, below 2^16). */
export const MATMUL_GROUP_STRIDE_SLOT = MATMUL_GROUP_END_SLOT + MATMUL_GROUP_MAX;

/** Invocations per workgroup of the grouped dispatch (8 × 8, the blocked kernel's). */
export const MATMUL_GROUP_WG = 64;

/**
 * Several independent jobs in one dispatch (a layer's weight, input and bias
 * gradients): job i runs its own kernel's statements (the blocked matmul's,
 * or the `loop` reduction's), so its bits are those of its own dispatch, on
 * its bindings. The workgroups are numbered flat (x, then y of the grid) and
 * job i owns those in [end_{i−1}, end_i) (ends at
 * {@link MATMUL_GROUP_END_SLOT}; at most 65535 in all): exactly its own
 * grid, no idle workgroups, visited in an order spread by a stride
 * ({@link MATMUL_GROUP_STRIDE_SLOT}) so that a software adapter's threads,
 * each given a contiguous share, get a mix of every job. A
 * matmul's parameters are at slots 6·i … 6·i + 5 (batch base 0; its grid of
 * 64 × 64 blocks, and so its workgroup's x, y and batch, follow from M and
 * N); a reduction's sizes and identity at 6·i … 6·i + 3.
 *
 * Bindings: P, the read bindings `mr<j>` (`array<vec4<f32>>` where
 * `readVec4[j]`), then `writes` output bindings `mw<j>`.
 *
 * @param jobs the jobs, in workgroup order
 * @param readVec4 per read binding: bound as vec4s
 * @param writes output bindings
 * @returns the shader
 */
export function matmulGroupShader(
  jobs: readonly GroupedJob[],
  readVec4: readonly boolean[],
  writes: number,
): ShaderSource {
  const reads = readVec4.map((v, j) =>
    `@group(0) @binding(${j + 1}) var<storage, read> mr${j}: array<${v ? "vec4<f32>" : "f32"}>;`
  );
  const outs = [...Array(writes).keys()].map((j) =>
    `@group(0) @binding(${readVec4.length + j + 1}) var<storage, read_write> mw${j}: array<f32>;`
  );
  const S = MATMUL_GROUP_JOB_SLOTS;
  const fns = jobs.map((job, i) => {
    if (job.kind === "reduce") {
      const x = `mr${job.x}`;
      const load = readVec4[job.x]
        ? (j: string) => `${x}[(${j}) >> 2u][(${j}) & 3u]`
        : (j: string) => `${x}[${j}]`;
      return `fn job${i}(w: u32, lid: u32) {
  let gid = w * ${MATMUL_GROUP_WG}u + lid;
${reduceLoopBody("sum", load, (v) => `mw${job.out}[gid] = ${v};`, S * i)}
}
`;
    }
    // workgroup w of the product's own grid [gx, gy, batch]
    return `fn job${i}(w: u32, l: vec3<u32>) {
  let gx = (pu(${S * i + 1}u) + ${BC * 8 - 1}u) / ${BC * 8}u;
  let gy = (pu(${S * i}u) + ${BR * 8 - 1}u) / ${BR * 8}u;
  let wid = vec3<u32>(w % gx, (w / gx) % gy, w / (gx * gy));
  let g = vec3<u32>(wid.x * 8u + l.x, wid.y * 8u + l.y, 0u);
${
      blockedBody(job.flags, {
        a: `mr${job.a}`,
        b: `mr${job.b}`,
        out: `mw${job.out}`,
        bias: job.bias.map((j) => `mr${j}`),
        slot: S * i,
      })
    }}
`;
  });
  const end = (i: number) => `pu(${MATMUL_GROUP_END_SLOT + i}u)`;
  const calls = jobs.map((job, i) => {
    const w = i === 0 ? "w" : `w - ${end(i - 1)}`;
    return `  if (w < ${end(i)}) { job${i}(${w}, ${
      job.kind === "reduce" ? "lid" : "l"
    }); return; }`;
  });
  const sig = jobs.map((j) =>
    j.kind === "reduce"
      ? `S@${j.x}>${j.out}`
      : `${j.flags.transA ? "T" : "N"}${j.flags.transB ? "T" : "N"}${j.flags.vecA ? "4" : ""}${
        j.flags.vecB ? "4" : ""
      }b${j.flags.biases}@${j.a},${j.b},${j.bias.join(",")}>${j.out}`
  ).join("|");
  return {
    key: `matmul:group:${readVec4.map((v) => (v ? "4" : "1")).join("")}:${writes}:${sig}`,
    code: PARAMS_WGSL + reads.join("\n") + "\n" + outs.join("\n") + "\n" + fns.join("") +
      `@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>,
        @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  // Workgroup order spread by a stride coprime to the count (P[STRIDE]), so a
  // contiguous share of the workgroups (a software adapter's thread) mixes every job.
  let total = ${end(jobs.length - 1)};
  let flat = wg.y * nwg.x + wg.x;
  if (flat >= total) { return; }
  let w = (flat * pu(${MATMUL_GROUP_STRIDE_SLOT}u)) % total; // both < 2^16: no overflow
${calls.join("\n")}
}
`,
    reads: readVec4.length,
    writes,
  };
}
