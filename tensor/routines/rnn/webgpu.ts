/**
 * Dispatch of the fused LSTM/GRU step kernels (one dispatch per time step;
 * see ./wgsl.ts): argument checks, row views into parameter slots,
 * and the choice of the vec4 variant when the dot-product operands' rows
 * start at multiples of 4 elements (the tvec4/tscalar forward variants when
 * the caller passes W_hhᵀ as `whhT`).
 *
 * The layers pass row views of one storage to several roles (h_{t−1} and h_t
 * are rows of the same sequence buffer). Where the device enforces WebGPU's
 * rule that a dispatch may not bind one buffer to two writable bindings
 * (`Runtime.strictAliasing`: Chrome's Dawn does, Deno's wgpu does not), every
 * role after the first on a buffer gets a temporary buffer of its own: the
 * rows it reads are copied in before the step, the rows it writes copied
 * back after it.
 *
 * @module
 */
import type { Storage } from "../../backend.ts";
import type {
  GruStepArgs,
  GruStepBackwardArgs,
  LstmStepArgs,
  LstmStepBackwardArgs,
  Rows,
} from "./args.ts";
import {
  RNN_ROLES,
  type RnnKernel,
  rnnShader,
  rnnVec4Roles,
  rnnWorkgroups,
  rowSlot,
} from "./wgsl.ts";
import { COPY_SRC_OFFSET_SLOT, copyShader } from "../../wgsl/copy.ts";
import { WG_1D } from "../../wgsl/common.ts";
import { MAX_DIMS } from "../../wgsl/elementwise.ts";
import type { WebGPUBackend } from "../../webgpu/backend.ts";
import type { GpuBuf } from "../../webgpu/pool.ts";
import type { Runtime } from "../../webgpu/runtime.ts";
import { registerRoutine } from "../registry.ts";

export type { GruStepArgs, GruStepBackwardArgs, LstmStepArgs, LstmStepBackwardArgs };

/** Resolves a storage to its buffer after the backend's ownership checks. */
export type BufOf = (s: Storage) => GpuBuf;

/**
 * One bound role: a buffer (null: an absent role) and its row view (offset,
 * stride; `rows` rows of `width` elements).
 */
interface Bound {
  buf: GpuBuf | null;
  offset: number;
  stride: number;
  rows: number;
  width: number;
}

/** Roles each kernel writes (`dc`, `dhz` are also read; every other role is only read). */
const WRITES: Record<RnnKernel, readonly string[]> = {
  lstmStep: ["hOut", "cOut", "gates", "hPrev"],
  lstmStepBackward: ["dc", "dg"],
  gruStep: ["hOut", "saved", "hPrev"],
  gruStepBackward: ["dhz", "dgx", "dgh"],
};
const READ_WRITE = new Set(["dc", "dhz"]);

/** Per runtime: the small buffers bound for absent roles (never freed). */
const placeholders = new WeakMap<Runtime, GpuBuf[]>();

/**
 * The i-th placeholder buffer bound for absent roles (256 bytes, never
 * freed); tests fill them with junk to prove a kernel does not read an
 * absent role. @internal
 *
 * @param rt the runtime
 * @param i which placeholder (absent roles of one dispatch get 0, 1, …)
 * @returns the buffer
 */
export function placeholder(rt: Runtime, i: number): GpuBuf {
  let list = placeholders.get(rt);
  if (!list) placeholders.set(rt, list = []);
  return list[i] ??= rt.pool.acquire(256, false);
}

/** Copy a role's rows from one buffer to the same places in another. */
function copyRows(rt: Runtime, from: GpuBuf, to: GpuBuf, v: Bound): void {
  const n = v.rows * v.width;
  if (n === 0) return;
  if (v.rows === 1 || v.stride === v.width) {
    rt.dispatch(copyShader(false), [from, to], (p) => {
      p.u(0, n).u(1, v.offset).u(2, v.offset);
    }, Math.ceil(n / WG_1D));
    return;
  }
  rt.dispatch(copyShader(true), [from, to], (p) => {
    p.u(0, n).u(1, 2).u(2, v.rows).u(3, v.width);
    p.i(2 + MAX_DIMS, v.stride).i(3 + MAX_DIMS, 1).i(2 + 2 * MAX_DIMS, v.stride)
      .i(3 + 2 * MAX_DIMS, 1);
    p.i(COPY_SRC_OFFSET_SLOT, v.offset).i(COPY_SRC_OFFSET_SLOT + 1, v.offset);
  }, Math.ceil(n / WG_1D));
}

class StepBuilder {
  readonly roles = new Map<string, Bound>();
  constructor(
    readonly kernel: RnnKernel,
    readonly bufOf: BufOf,
    readonly batch: number,
  ) {}

  /** A row view of `width` elements per row, bounds-checked. */
  rows(role: string, r: Rows, width: number): this {
    const last = r.offset + (this.batch - 1) * r.stride + width;
    if (r.offset < 0 || r.stride < 0 || last > r.storage.size) {
      throw new RangeError(
        `Cannot run webgpu ${this.kernel}: ${role} (offset ${r.offset}, stride ${r.stride}) needs ` +
          `${last} elements for ${this.batch} rows of ${width}, the storage holds ${r.storage.size}`,
      );
    }
    this.roles.set(role, {
      buf: this.bufOf(r.storage),
      offset: r.offset,
      stride: r.stride,
      rows: this.batch,
      width,
    });
    return this;
  }

  /** A contiguous storage of at least `n` elements. */
  flat(role: string, s: Storage, n: number): this {
    if (s.size < n) {
      throw new RangeError(
        `Cannot run webgpu ${this.kernel}: ${role} holds ${s.size} elements, needs ${n}`,
      );
    }
    this.roles.set(role, { buf: this.bufOf(s), offset: 0, stride: 0, rows: 1, width: n });
    return this;
  }

  /**
   * An absent optional role, which the kernel never touches: bound to a
   * placeholder buffer of its own, since WebGPU forbids binding one buffer to
   * two writable bindings of a dispatch (Chrome's Dawn checks; wgpu does not).
   */
  none(role: string): this {
    this.roles.set(role, { buf: null, offset: 0, stride: 0, rows: 0, width: 0 });
    return this;
  }

  /**
   * Record the dispatch. The vec4 variant needs every vec4 role's rows (and
   * the next-step rows at `next`) to start at multiples of 4 elements.
   * `flag` is P[2] (see `rowSlot`). `transposed`: the `whh` role holds W_hhᵀ
   * (forward kernels; the tvec4 or tscalar variant).
   */
  record(
    rt: Runtime,
    hidden: number,
    flag: number | boolean,
    next: number,
    width: number,
    transposed = false,
  ): void {
    const order = RNN_ROLES[this.kernel];
    const aligned = (n: number) => n % 4 === 0;
    const fits = (roles: readonly string[]) =>
      aligned(width) && aligned(next) && aligned(hidden) && roles.every((r) => {
        const v = this.roles.get(r)!;
        return aligned(v.offset) && aligned(v.stride);
      });
    let absent = 0;
    const bufs = order.map((r) => this.roles.get(r)!.buf ?? placeholder(rt, absent++));
    const temps: GpuBuf[] = [], back: (() => void)[] = [];
    if (rt.strictAliasing) {
      const writes = WRITES[this.kernel];
      for (let i = 0; i < bufs.length; i++) {
        const b = bufs[i]!;
        const group = order.map((_, k) => k).filter((k) => bufs[k] === b);
        if (group.length < 2 || group[0] !== i) continue;
        // The first role that writes keeps the buffer (else the first role).
        const keep = group.find((k) => writes.includes(order[k]!)) ?? i;
        for (const k of group) {
          if (k === keep) continue;
          const role = order[k]!, v = this.roles.get(role)!;
          const t = rt.pool.acquire(b.bytes, false);
          temps.push(t);
          const writes_ = writes.includes(role);
          if (!writes_ || READ_WRITE.has(role)) copyRows(rt, b, t, v);
          if (writes_) back.push(() => copyRows(rt, t, b, v));
          bufs[k] = t;
        }
      }
    }
    const variant = transposed
      ? (fits(rnnVec4Roles(this.kernel, "tvec4")) ? "tvec4" : "tscalar")
      : fits(rnnVec4Roles(this.kernel, "vec4"))
      ? "vec4"
      : "scalar";
    rt.dispatch(rnnShader(this.kernel, variant), bufs, (p) => {
      p.u(0, this.batch).u(1, hidden).u(2, Number(flag)).u(3, next);
      for (const r of order) {
        const v = this.roles.get(r)!, s = rowSlot(this.kernel, r);
        if (s >= 0) p.u(s, v.offset).u(s + 1, v.stride);
      }
    }, rnnWorkgroups(this.kernel, variant, this.batch, hidden));
    for (const f of back) f();
    for (const t of temps) rt.pool.release(t, rt.batchId);
  }
}

/**
 * Record one fused LSTM step.
 *
 * @param rt the runtime
 * @param a the step's arguments
 * @param bufOf storage → buffer (with the backend's checks)
 */
export function recordLstmStep(rt: Runtime, a: LstmStepArgs, bufOf: BufOf): void {
  const B = a.batch, H = a.hidden;
  if (B * H === 0) return;
  const s = new StepBuilder("lstmStep", bufOf, B).rows("x", a.x, 4 * H);
  if (a.zeroState) s.none("h").none("c");
  else s.rows("h", a.h, H).rows("c", a.c, H);
  s.flat("whh", a.whhT ?? a.whh, 4 * H * H).rows("hOut", a.hOut, H).rows("cOut", a.cOut, H);
  if (a.gates) s.rows("gates", a.gates, 4 * H);
  else s.none("gates");
  if (a.hPrev) s.rows("hPrev", a.hPrev, H);
  else s.none("hPrev");
  const flags = (a.gates ? 1 : 0) | (a.hPrev ? 2 : 0) | (a.zeroState ? 4 : 0);
  s.record(rt, H, flags, 0, H, a.whhT !== undefined);
}

/**
 * Record one fused LSTM backward step.
 *
 * @param rt the runtime
 * @param a the step's arguments
 * @param bufOf storage → buffer (with the backend's checks)
 */
export function recordLstmStepBackward(
  rt: Runtime,
  a: LstmStepBackwardArgs,
  bufOf: BufOf,
): void {
  const B = a.batch, H = a.hidden;
  if (B * H === 0) return;
  const s = new StepBuilder("lstmStepBackward", bufOf, B).rows("dh", a.dh, H);
  if (a.zeroState) s.none("cPrev");
  else s.rows("cPrev", a.cPrev, H);
  s.rows("c", a.c, H).rows("gates", a.gates, 4 * H)
    .flat("whh", a.whh, 4 * H * H).flat("dc", a.dc, B * H).rows("dg", a.dg, 4 * H);
  if (a.dgNext !== null) {
    s.rows("dgNext", { storage: a.dg.storage, offset: a.dgNext, stride: a.dg.stride }, 4 * H);
  } else s.none("dgNext");
  const flags = (a.dgNext !== null ? 1 : 0) | (a.dcZero ? 2 : 0) | (a.zeroState ? 4 : 0);
  s.record(rt, H, flags, a.dgNext ?? 0, 4 * H);
}

/**
 * Record one fused GRU step.
 *
 * @param rt the runtime
 * @param a the step's arguments
 * @param bufOf storage → buffer (with the backend's checks)
 */
export function recordGruStep(rt: Runtime, a: GruStepArgs, bufOf: BufOf): void {
  const B = a.batch, H = a.hidden;
  if (B * H === 0) return;
  const s = new StepBuilder("gruStep", bufOf, B).rows("x", a.x, 3 * H);
  if (a.zeroState) s.none("h");
  else s.rows("h", a.h, H);
  s.flat("whh", a.whhT ?? a.whh, 3 * H * H).flat("bhh", a.bhh, 3 * H).rows("hOut", a.hOut, H);
  if (a.saved) s.rows("saved", a.saved, 4 * H);
  else s.none("saved");
  if (a.hPrev) s.rows("hPrev", a.hPrev, H);
  else s.none("hPrev");
  const flags = (a.saved ? 1 : 0) | (a.hPrev ? 2 : 0) | (a.zeroState ? 4 : 0);
  s.record(rt, H, flags, 0, H, a.whhT !== undefined);
}

/**
 * Record one fused GRU backward step.
 *
 * @param rt the runtime
 * @param a the step's arguments
 * @param bufOf storage → buffer (with the backend's checks)
 */
export function recordGruStepBackward(
  rt: Runtime,
  a: GruStepBackwardArgs,
  bufOf: BufOf,
): void {
  const B = a.batch, H = a.hidden;
  if (B * H === 0) return;
  const s = new StepBuilder("gruStepBackward", bufOf, B).rows("dh", a.dh, H);
  if (a.zeroState) s.none("h");
  else s.rows("h", a.h, H);
  s.rows("saved", a.saved, 4 * H)
    .flat("whh", a.whh, 3 * H * H).flat("dhz", a.dhz, B * H).rows("dgx", a.dgx, 3 * H)
    .rows("dgh", a.dgh, 3 * H);
  if (a.dghNext !== null) {
    s.rows("dghNext", { storage: a.dgh.storage, offset: a.dghNext, stride: a.dgh.stride }, 3 * H);
  } else s.none("dghNext");
  s.record(rt, H, (a.dghNext !== null ? 1 : 0) | (a.zeroState ? 4 : 0), a.dghNext ?? 0, 3 * H);
}

/** The buffer resolver of a WebGPU backend for routine `op`. */
export function bufOf(be: WebGPUBackend, op: string): BufOf {
  return (s) => be.buffer(s, op);
}

registerRoutine<LstmStepArgs>("webgpu", "lstmStep", (be, a) => {
  const g = be as WebGPUBackend;
  recordLstmStep(g.rt, a, bufOf(g, "lstmStep"));
}, { whhT: true, hPrev: true, zeroState: true });
registerRoutine<LstmStepBackwardArgs>("webgpu", "lstmStepBackward", (be, a) => {
  const g = be as WebGPUBackend;
  recordLstmStepBackward(g.rt, a, bufOf(g, "lstmStepBackward"));
}, { dcZero: true, zeroState: true });
registerRoutine<GruStepArgs>("webgpu", "gruStep", (be, a) => {
  const g = be as WebGPUBackend;
  recordGruStep(g.rt, a, bufOf(g, "gruStep"));
}, { whhT: true, hPrev: true, zeroState: true });
registerRoutine<GruStepBackwardArgs>("webgpu", "gruStepBackward", (be, a) => {
  const g = be as WebGPUBackend;
  recordGruStepBackward(g.rt, a, bufOf(g, "gruStepBackward"));
}, { zeroState: true });
