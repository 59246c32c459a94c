/**
 * Dispatch of the fused LSTM/GRU step kernels (one dispatch per time step;
 * see tensor/wgsl/rnn.ts): argument checks, row views into parameter slots,
 * and the choice of the vec4 variant when the dot-product operands' rows
 * start at multiples of 4 elements (the tvec4/tscalar forward variants when
 * the caller passes W_hhᵀ as `whhT`).
 *
 * @module
 */
import type {
  GruStepArgs,
  GruStepBackwardArgs,
  LstmStepArgs,
  LstmStepBackwardArgs,
  Rows,
  Storage,
} from "../backend.ts";
import {
  RNN_ROLES,
  type RnnKernel,
  rnnShader,
  rnnVec4Roles,
  rnnWorkgroups,
  rowSlot,
} from "../wgsl/rnn.ts";
import type { GpuBuf } from "./pool.ts";
import type { Runtime } from "./runtime.ts";

export type { GruStepArgs, GruStepBackwardArgs, LstmStepArgs, LstmStepBackwardArgs };

/** Resolves a storage to its buffer after the backend's ownership checks. */
export type BufOf = (s: Storage) => GpuBuf;

/** One bound role: a buffer and its row view (offset, stride). */
interface Bound {
  buf: GpuBuf;
  offset: number;
  stride: number;
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
    this.roles.set(role, { buf: this.bufOf(s), offset: 0, stride: 0 });
    return this;
  }

  /**
   * An absent optional role: bound to the buffer of role `stand`, which the
   * kernel then never touches through this binding (all bindings are
   * writable, so binding one buffer twice is allowed).
   */
  none(role: string, stand: string): this {
    this.roles.set(role, { buf: this.roles.get(stand)!.buf, offset: 0, stride: 0 });
    return this;
  }

  /**
   * Record the dispatch. The vec4 variant needs every vec4 role's rows (and
   * the next-step rows at `next`) to start at multiples of 4 elements.
   * `transposed`: the `whh` role holds W_hhᵀ (forward kernels; the tvec4 or
   * tscalar variant).
   */
  record(
    rt: Runtime,
    hidden: number,
    flag: boolean,
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
    const bufs = order.map((r) => this.roles.get(r)!.buf);
    const variant = transposed
      ? (fits(rnnVec4Roles(this.kernel, "tvec4")) ? "tvec4" : "tscalar")
      : fits(rnnVec4Roles(this.kernel, "vec4"))
      ? "vec4"
      : "scalar";
    rt.dispatch(rnnShader(this.kernel, variant), bufs, (p) => {
      p.u(0, this.batch).u(1, hidden).u(2, flag ? 1 : 0).u(3, next);
      for (const r of order) {
        const v = this.roles.get(r)!, s = rowSlot(this.kernel, r);
        if (s >= 0) p.u(s, v.offset).u(s + 1, v.stride);
      }
    }, rnnWorkgroups(this.kernel, variant, this.batch, hidden));
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
  const s = new StepBuilder("lstmStep", bufOf, B)
    .rows("x", a.x, 4 * H).rows("h", a.h, H).rows("c", a.c, H)
    .flat("whh", a.whhT ?? a.whh, 4 * H * H).rows("hOut", a.hOut, H).rows("cOut", a.cOut, H);
  if (a.gates) s.rows("gates", a.gates, 4 * H);
  else s.none("gates", "x");
  s.record(rt, H, a.gates !== null, 0, H, a.whhT !== undefined);
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
  const s = new StepBuilder("lstmStepBackward", bufOf, B)
    .rows("dh", a.dh, H).rows("cPrev", a.cPrev, H).rows("c", a.c, H).rows("gates", a.gates, 4 * H)
    .flat("whh", a.whh, 4 * H * H).flat("dc", a.dc, B * H).rows("dg", a.dg, 4 * H);
  if (a.dgNext !== null) {
    s.rows("dgNext", { storage: a.dg.storage, offset: a.dgNext, stride: a.dg.stride }, 4 * H);
  } else s.none("dgNext", "dg");
  s.record(rt, H, a.dgNext !== null, a.dgNext ?? 0, 4 * H);
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
  const s = new StepBuilder("gruStep", bufOf, B)
    .rows("x", a.x, 3 * H).rows("h", a.h, H).flat("whh", a.whhT ?? a.whh, 3 * H * H)
    .flat("bhh", a.bhh, 3 * H).rows("hOut", a.hOut, H);
  if (a.saved) s.rows("saved", a.saved, 4 * H);
  else s.none("saved", "x");
  s.record(rt, H, a.saved !== null, 0, H, a.whhT !== undefined);
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
  const s = new StepBuilder("gruStepBackward", bufOf, B)
    .rows("dh", a.dh, H).rows("h", a.h, H).rows("saved", a.saved, 4 * H)
    .flat("whh", a.whh, 3 * H * H).flat("dhz", a.dhz, B * H).rows("dgx", a.dgx, 3 * H)
    .rows("dgh", a.dgh, 3 * H);
  if (a.dghNext !== null) {
    s.rows("dghNext", { storage: a.dgh.storage, offset: a.dghNext, stride: a.dgh.stride }, 3 * H);
  } else s.none("dghNext", "dgh");
  s.record(rt, H, a.dghNext !== null, a.dghNext ?? 0, 3 * H);
}
