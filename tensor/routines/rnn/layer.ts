/**
 * Fused recurrent sequence ops: a whole LSTM or GRU layer over T time steps
 * as ONE autograd node whose forward runs one backend step kernel per time
 * step and whose backward runs the fused backward step kernels through time
 * (BPTT), then forms dW_hh for all steps with one matmul.
 *
 * The input projection of all steps (x·W_ihᵀ + biases, one big matmul), the
 * layer stacking and the state plumbing are ordinary differentiable ops in
 * the callers (`nn/lstm.ts`, `nn/gru.ts`). The step kernels are the routines
 * `lstmStep`, `lstmStepBackward`, `gruStep` and `gruStepBackward`, registered
 * per backend by `./cpu.ts` and `./webgpu.ts`.
 *
 * One node, one upstream gradient: an autograd rule receives the gradient of
 * exactly one output tensor, but a layer has several outputs (the sequence,
 * h_T, and for the LSTM c_T). So the node's output is a packed tensor and
 * the outputs callers see are differentiable slices of it; the autograd
 * engine sums their gradients into the packed gradient before the rule runs:
 *
 * - LSTM: packed, flat, B·(T + 1)·H elements: the sequence h_t [B, T, H]
 *   row-major first, then c_T [B, H]; h_T is row T − 1 of the sequence. The
 *   sequence being a contiguous prefix, a matmul reads it in place (the
 *   next layer's input projection, the head): no copy.
 * - GRU: packed = the sequence [B, T, H] itself; h_T is row T − 1.
 *
 * A missing initial state (null) is zero: where the step kernels register
 * the trait `zeroState` (WebGPU) they take it by a flag at step 0, so no
 * zeros are filled; elsewhere the layer makes one zeros tensor.
 *
 * @module
 */
import type { Backend, Storage } from "../../backend.ts";
import { record } from "../../autograd.ts";
import { fmtShape, ShapeError } from "../../errors.ts";
import { checkSame } from "../../ops/elementwise.ts";
import { contiguousSource, reshape, slice } from "../../ops/shape.ts";
import { sizeOf } from "../../shape.ts";
import { empty, needsGrad, type Tensor, zeros } from "../../tensor.ts";
import { routineTrait, runRoutine } from "../registry.ts";
import type {
  GruStepArgs,
  GruStepBackwardArgs,
  LstmStepArgs,
  LstmStepBackwardArgs,
  Rows,
} from "./args.ts";
import "./cpu.ts";
import "./webgpu.ts";

/** Outputs of {@link lstmLayer}. */
export interface LstmLayerResult {
  /** h_t for every step [B, T, H]. */
  output: Tensor;
  /** h_T [B, H]. */
  hT: Tensor;
  /** c_T [B, H]. */
  cT: Tensor;
}

/** Outputs of {@link gruLayer}. */
export interface GruLayerResult {
  /** h_t for every step [B, T, H]. */
  output: Tensor;
  /** h_T [B, H]. */
  hT: Tensor;
}

/** Ids of sequence passes (the step args' `pass`): the last one given out. */
let passes = 0;

const rows = (storage: Storage, offset: number, stride: number): Rows => ({
  storage,
  offset,
  stride,
});

/** Options of {@link lstmLayer} and {@link gruLayer}. */
export interface LayerOptions {
  /**
   * The projected input is [T, B, G·H] and the output sequence [T, B, H]
   * (each step's rows one block: a step reads and writes adjacent rows, not
   * rows T apart). Inference only: throws where a gradient would be recorded.
   * Every element gets the same bits as batch-first.
   */
  timeMajor?: boolean;
}

/** Check the shapes of a layer's inputs; returns [B, T, H]. */
function checkLayer(
  op: string,
  gates: number,
  x: Tensor,
  whh: Tensor,
  states: Tensor[],
  bhh: Tensor | undefined,
  timeMajor: boolean,
): [number, number, number] {
  checkSame(op, x, whh, ...states, ...(bhh ? [bhh] : []));
  const H = whh.shape[1] ?? 0;
  const [B = 0, T = 0] = timeMajor ? [x.shape[1], x.shape[0]] : x.shape;
  const bad = (why: string) =>
    new ShapeError(
      op,
      [x.shape, whh.shape, ...states.map((s) => s.shape)],
      `Cannot run ${op} on input of shape ${fmtShape(x.shape)} with weight_hh of shape ${
        fmtShape(whh.shape)
      }: ${why}`,
    );
  if (whh.rank !== 2 || whh.shape[0] !== gates * H) {
    throw bad(`weight_hh must be [${gates}·H, H]`);
  }
  if (x.rank !== 3 || x.shape[2] !== gates * H) {
    const order = timeMajor ? "time, batch" : "batch, time";
    throw bad(`the projected input must be [${order}, ${gates}·H = ${gates * H}]`);
  }
  if (T < 1) throw bad("the sequence needs at least one time step");
  for (const s of states) {
    if (s.rank !== 2 || s.shape[0] !== B || s.shape[1] !== H) {
      throw bad(`initial states must be [batch, hidden] = [${B}, ${H}], got ${fmtShape(s.shape)}`);
    }
  }
  if (bhh && (bhh.rank !== 1 || bhh.shape[0] !== gates * H)) {
    throw bad(`bias_hh must be [${gates * H}], got ${fmtShape(bhh.shape)}`);
  }
  if (timeMajor && needsGrad(x, whh, ...states, ...(bhh ? [bhh] : []))) {
    throw new Error(
      `Cannot run ${op} time-major where a gradient is recorded: timeMajor is for inference ` +
        "(under noGrad(), or with no input requiring grad)",
    );
  }
  return [B, T, H];
}

/**
 * Where step t's rows of a [B, T, W] (batch-first) or [T, B, W] (time-major)
 * sequence start, and the stride between them.
 */
function stepRows(
  storage: Storage,
  t: number,
  B: number,
  T: number,
  W: number,
  timeMajor: boolean,
): Rows {
  return timeMajor ? rows(storage, t * B * W, W) : rows(storage, t * W, T * W);
}

/**
 * W_hhᵀ [H, G·H] for the forward steps' optional `whhT` (one transposing
 * copy, outside autograd), on the backend that reads it: WebGPU's forward
 * step kernels then load the weights coalesced across invocations (adjacent
 * invocations, adjacent vec4s), four units per invocation; on llvmpipe the
 * layer's forward runs ≈ 10–25% faster. Null where the step kernel did not
 * register the trait `whhT` (the CPU backend ignores `whhT`) and for
 * sequences of fewer than 256 rows·steps, where the extra dispatch costs
 * more than it saves. The caller disposes it after the
 * forward loop.
 */
function transposedWeights(
  be: Backend,
  whh: Tensor,
  B: number,
  T: number,
  H: number,
  G: number,
): Tensor | null {
  const step = G === 4 ? "lstmStep" : "gruStep";
  if (!routineTrait(be, step, "whhT") || H === 0 || B * T < 256) return null;
  const t = empty(be, [H, G * H], whh.dtype);
  be.copy(whh.storage, { shape: [H, G * H], strides: [1, H], offset: 0 }, t.storage, {
    shape: [H, G * H],
    strides: [G * H, 1],
    offset: 0,
  });
  return t;
}

/**
 * The initial states of a layer call: none with `zero` when every state is
 * missing and the step kernels take the zero state by a flag (trait
 * `zeroState`, with `hPrev` so that no backward gather reads h0); else each
 * given state, the missing ones as one zeros tensor (`owned`, released by
 * the caller).
 */
function initialStateTensors(
  xproj: Tensor,
  states: (Tensor | null)[],
  step: string,
  B: number,
  H: number,
): { zero: boolean; states: Tensor[]; owned: Tensor | null } {
  const be = xproj.backendImpl;
  if (
    states.every((s) => s === null) && routineTrait(be, step, "zeroState") &&
    routineTrait(be, step, "hPrev")
  ) return { zero: true, states: [], owned: null };
  const owned = states.some((s) => s === null)
    ? zeros([B, H], { backend: xproj.backend, dtype: xproj.dtype })
    : null;
  return { zero: false, states: states.map((s) => s ?? owned!), owned };
}

/**
 * A [B, H] initial state's rows for the forward step kernel: a pending
 * contiguous slice (one layer of a stacked [layers, B, H] state, as
 * `step()` passes it) is read where it sits in its source, without the copy
 * that materialising it would run.
 */
function stateRows(state: Tensor, H: number): Rows {
  const v = contiguousSource(state.buf);
  return v ? rows(v.src.storage, v.offset, H) : rows(state.storage, 0, H);
}

/**
 * The buffer [B, T, H] the forward steps fill with h_{t−1} (routine arg
 * `hPrev`) when the step kernel registered the trait `hPrev` and the layer
 * saves for backward; else null (backward gathers the rows itself).
 */
function prevStates(
  be: Backend,
  saving: boolean,
  B: number,
  T: number,
  H: number,
  G: number,
  dtype: Tensor["dtype"],
): Tensor | null {
  const step = G === 4 ? "lstmStep" : "gruStep";
  return saving && routineTrait(be, step, "hPrev") ? empty(be, [B, T, H], dtype) : null;
}

/**
 * dW_hh = Σ_t dgᵀ_t · h_{t−1} as one matmul over all steps: the previous
 * hidden states in [B, T, H] (h0, then the sequence shifted by one step), to
 * line up with dg [B, T, G·H]: `written` when the forward steps wrote them
 * (see {@link prevStates}), else gathered here (two copies).
 */
function recurrentWeightGrad(
  be: Backend,
  dg: Tensor,
  written: Tensor | null,
  seq: Tensor,
  seqStride: number,
  h0: Tensor,
  B: number,
  T: number,
  H: number,
  G: number,
): Tensor {
  const dw = empty(be, [G * H, H], dg.dtype);
  const mm = (hPrev: Tensor) =>
    be.matmul(dg.storage, hPrev.storage, dw.storage, {
      batch: 1,
      m: G * H,
      n: H,
      k: B * T,
      transA: true,
      transB: false,
      strideA: 0,
      strideB: 0,
    });
  if (written) {
    mm(written);
    return dw;
  }
  const hPrev = empty(be, [B, T, H], dg.dtype);
  be.copy(h0.storage, { shape: [B, H], strides: [H, 1], offset: 0 }, hPrev.storage, {
    shape: [B, H],
    strides: [T * H, 1],
    offset: 0,
  });
  if (T > 1) {
    const shape = [B, T - 1, H];
    be.copy(seq.storage, { shape, strides: [seqStride, H, 1], offset: 0 }, hPrev.storage, {
      shape,
      strides: [T * H, H, 1],
      offset: H,
    });
  }
  mm(hPrev);
  hPrev.dispose();
  return dw;
}

/** dL/dh_{−1} = dg_0 · W_hh: one batched matmul over the strided rows of step 0. */
function initialStateGrad(
  be: Backend,
  dg: Tensor,
  whh: Tensor,
  B: number,
  T: number,
  H: number,
  G: number,
): Tensor {
  const out = empty(be, [B, H], dg.dtype);
  be.matmul(dg.storage, whh.storage, out.storage, {
    batch: B,
    m: 1,
    n: H,
    k: G * H,
    transA: false,
    transB: false,
    strideA: T * G * H,
    strideB: 0,
  });
  return out;
}

/**
 * A fused LSTM layer over a whole sequence (one autograd node).
 *
 * @param xproj the input part of the gate pre-activations [B, T, 4H]:
 *   x·W_ihᵀ + b_ih + b_hh, gate blocks i, f, g, o
 * @param whh W_hh [4H, H]
 * @param h0 initial hidden state [B, H]; null: zeros
 * @param c0 initial cell state [B, H]; null: zeros (both null on WebGPU: the
 *   step kernels take the zero state by a flag, no zeros are filled)
 * @param opts `timeMajor`: xproj is [T, B, 4H] and the output [T, B, H]
 *   (inference only; see {@link LayerOptions})
 * @returns the sequence of hidden states and the final states
 * @example
 * ```ts
 * import { zeros } from "../../../mod.ts";
 * import { lstmLayer } from "./layer.ts";
 * const { output, hT, cT } = lstmLayer(
 *   zeros([2, 3, 8], { backend: "cpu" }),
 *   zeros([8, 2], { backend: "cpu" }),
 *   zeros([2, 2], { backend: "cpu" }),
 *   zeros([2, 2], { backend: "cpu" }),
 * );
 * console.assert(output.shape.join() === "2,3,2" && hT.shape.join() === "2,2");
 * console.assert(cT.shape.join() === "2,2");
 * ```
 */
export function lstmLayer(
  xproj: Tensor,
  whh: Tensor,
  h0: Tensor | null,
  c0: Tensor | null,
  opts: LayerOptions = {},
): LstmLayerResult {
  const tm = opts.timeMajor ?? false;
  const given = [h0, c0].filter((s) => s !== null);
  const [B, T, H] = checkLayer("lstmLayer", 4, xproj, whh, given, undefined, tm);
  const init = initialStateTensors(xproj, [h0, c0], "lstmStep", B, H);
  const zero = init.zero, [h0t, c0t] = init.states as [Tensor?, Tensor?];
  const G = 4 * H, be = xproj.backendImpl, dtype = xproj.dtype;
  const inputs = [xproj, whh, ...init.states];
  const saving = needsGrad(...inputs);
  const S = T * H, CT = B * T * H; // row stride of h_t in packed; where c_T starts
  const packed = empty(be, [CT + B * H], dtype);
  // c_t for t < T − 1 lives here; c_{T−1} is written straight into packed's c_T part.
  const cells = empty(be, [T - 1, B, H], dtype);
  const gates = saving ? empty(be, [T, B, G], dtype) : null;
  const hPrev = prevStates(be, saving, B, T, H, 4, dtype);
  const whhT = transposedWeights(be, whh, B, T, H, 4);
  // (with the zero state, c_{−1}'s and h_{−1}'s rows are placeholders the kernels do not read)
  const cRows = (t: number, c0s: Storage | undefined, cs: Storage, ps: Storage): Rows =>
    t < 0 ? rows(c0s ?? ps, 0, H) : t < T - 1 ? rows(cs, t * B * H, H) : rows(ps, CT, H);
  const seqRows = (t: number) => stepRows(packed.storage, t, B, T, H, tm);
  const h0r = h0t ? stateRows(h0t, H) : seqRows(0);
  const c0r = c0t ? stateRows(c0t, H) : rows(packed.storage, 0, H);
  const pass = ++passes;
  for (let t = 0; t < T; t++) {
    runRoutine<LstmStepArgs>(be, "lstmStep", {
      batch: B,
      hidden: H,
      x: stepRows(xproj.storage, t, B, T, G, tm),
      h: t === 0 ? h0r : seqRows(t - 1),
      c: t === 0 ? c0r : cRows(t - 1, undefined, cells.storage, packed.storage),
      whh: whh.storage,
      whhT: whhT?.storage,
      hOut: seqRows(t),
      cOut: cRows(t, undefined, cells.storage, packed.storage), // (t ≥ 0: not c0's rows)
      zeroState: zero && t === 0,
      gates: gates ? rows(gates.storage, t * B * G, G) : null,
      hPrev: hPrev ? rows(hPrev.storage, t * H, S) : null,
      pass,
    });
  }
  whhT?.dispose();
  if (gates) {
    const need = inputs.map((x) => x.requiresGrad);
    // saved: packed, cells, gates, whh, h_{t−1} as the forward steps wrote them (or null), h0, c0
    const keep = [packed, cells, gates, whh, ...(hPrev ? [hPrev] : []), ...init.states];
    record("lstmLayer", packed, inputs, keep, (g, saved) => {
      const [ps, cs, gs, w] = saved as [Tensor, Tensor, Tensor, Tensor];
      const hp = hPrev ? saved[4]! : null;
      const [h0s, c0s] = saved.slice(hPrev ? 5 : 4) as [Tensor?, Tensor?];
      const dxproj = empty(be, [B, T, G], dtype);
      const dc = empty(be, [B, H], dtype);
      // Only the sequence had a gradient (c_T and h_T unread): the packed gradient is a
      // deferred pad of it, so read it in place and start from dc = 0 (no pad, no copy).
      const pad = g.buf.pendingPad;
      const seqOnly = pad !== null && !g.buf.materialized && pad.offset === 0 &&
        sizeOf(pad.srcShape) === CT;
      const gStore = seqOnly ? pad.src.storage : g.storage;
      // dL/dc_{T−1} = 0: the last step takes it as zero where it can (no fill).
      const dcZero = seqOnly && routineTrait(be, "lstmStepBackward", "dcZero");
      if (seqOnly && !dcZero) be.fill(dc.storage, 0);
      else if (!seqOnly) {
        // dL/dc_{T−1} arrives in the c_T part of the packed gradient.
        be.copy(g.storage, { shape: [B * H], strides: [1], offset: CT }, dc.storage, {
          shape: [B * H],
          strides: [1],
          offset: 0,
        });
      }
      const back = ++passes;
      for (let t = T - 1; t >= 0; t--) {
        runRoutine<LstmStepBackwardArgs>(be, "lstmStepBackward", {
          batch: B,
          hidden: H,
          dh: rows(gStore, t * H, S),
          cPrev: cRows(t - 1, c0s?.storage, cs.storage, ps.storage),
          c: cRows(t, c0s?.storage, cs.storage, ps.storage),
          gates: rows(gs.storage, t * B * G, G),
          whh: w.storage,
          dc: dc.storage,
          dg: rows(dxproj.storage, t * G, T * G),
          dgNext: t < T - 1 ? (t + 1) * G : null,
          dcZero: dcZero && t === T - 1,
          zeroState: zero && t === 0,
          pass: back,
        });
      }
      return [
        dxproj,
        need[1] ? recurrentWeightGrad(be, dxproj, hp, ps, S, h0s!, B, T, H, 4) : null,
        ...(zero ? [] : [
          need[2] ? initialStateGrad(be, dxproj, w, B, T, H, 4) : null,
          need[3] ? dc : null,
        ]),
      ];
    });
    gates.dispose();
  }
  hPrev?.dispose();
  init.owned?.dispose();
  cells.dispose();
  // Deferred slices: h_T's reads packed directly (a slice of a contiguous range).
  const flat = slice(packed, [0], [CT]), cFlat = slice(packed, [CT], [B * H]);
  packed.dispose();
  const seq = reshape(flat, tm ? [T, B, H] : [B, T, H]), cT = reshape(cFlat, [B, H]);
  flat.dispose();
  cFlat.dispose();
  return { output: seq, hT: lastStep(seq, B, T, H, tm), cT };
}

/** h_T [B, H]: the last step's rows of a layer's output sequence (a deferred slice). */
function lastStep(seq: Tensor, B: number, T: number, H: number, timeMajor: boolean): Tensor {
  const hT3 = timeMajor
    ? slice(seq, [T - 1, 0, 0], [1, B, H])
    : slice(seq, [0, T - 1, 0], [B, 1, H]);
  const hT = reshape(hT3, [B, H]);
  hT3.dispose();
  return hT;
}

/**
 * A fused GRU layer over a whole sequence (one autograd node).
 *
 * @param gx the input part of the gates [B, T, 3H]: x·W_ihᵀ + b_ih, gate
 *   blocks r, z, n (b_hh is applied inside, since b_hn sits in r ⊙ (…))
 * @param whh W_hh [3H, H]
 * @param bhh b_hh [3H]
 * @param h0 initial hidden state [B, H]; null: zeros (on WebGPU taken by a
 *   flag, no zeros are filled)
 * @param opts `timeMajor`: gx is [T, B, 3H] and the output [T, B, H]
 *   (inference only; see {@link LayerOptions})
 * @returns the sequence of hidden states and the final state
 * @example
 * ```ts
 * import { zeros } from "../../../mod.ts";
 * import { gruLayer } from "./layer.ts";
 * const { output, hT } = gruLayer(
 *   zeros([2, 3, 6], { backend: "cpu" }),
 *   zeros([6, 2], { backend: "cpu" }),
 *   zeros([6], { backend: "cpu" }),
 *   zeros([2, 2], { backend: "cpu" }),
 * );
 * console.assert(output.shape.join() === "2,3,2" && hT.shape.join() === "2,2");
 * ```
 */
export function gruLayer(
  gx: Tensor,
  whh: Tensor,
  bhh: Tensor,
  h0: Tensor | null,
  opts: LayerOptions = {},
): GruLayerResult {
  const tm = opts.timeMajor ?? false;
  const [B, T, H] = checkLayer("gruLayer", 3, gx, whh, h0 ? [h0] : [], bhh, tm);
  const init = initialStateTensors(gx, [h0], "gruStep", B, H);
  const zero = init.zero, h0t = init.states[0];
  const G = 3 * H, be = gx.backendImpl, dtype = gx.dtype;
  const inputs = [gx, whh, bhh, ...init.states];
  const saving = needsGrad(...inputs);
  const S = T * H;
  const out = empty(be, tm ? [T, B, H] : [B, T, H], dtype);
  const saved = saving ? empty(be, [T, B, 4 * H], dtype) : null;
  const hPrev = prevStates(be, saving, B, T, H, 3, dtype);
  const whhT = transposedWeights(be, whh, B, T, H, 3);
  // (with the zero state, h_{−1}'s rows are a placeholder the kernel does not read)
  const seqRows = (t: number) => stepRows(out.storage, t, B, T, H, tm);
  const h0r = h0t ? stateRows(h0t, H) : seqRows(0);
  const pass = ++passes;
  for (let t = 0; t < T; t++) {
    runRoutine<GruStepArgs>(be, "gruStep", {
      batch: B,
      hidden: H,
      x: stepRows(gx.storage, t, B, T, G, tm),
      h: t === 0 ? h0r : seqRows(t - 1),
      whh: whh.storage,
      whhT: whhT?.storage,
      bhh: bhh.storage,
      hOut: seqRows(t),
      zeroState: zero && t === 0,
      saved: saved ? rows(saved.storage, t * B * 4 * H, 4 * H) : null,
      hPrev: hPrev ? rows(hPrev.storage, t * H, S) : null,
      pass,
    });
  }
  whhT?.dispose();
  let output = out;
  if (saved) {
    const need = inputs.map((x) => x.requiresGrad);
    // saved: out, saved, whh, h_{t−1} as the forward steps wrote them (or null), h0
    const keep = [out, saved, whh, ...(hPrev ? [hPrev] : []), ...init.states];
    output = record("gruLayer", out, inputs, keep, (g, sv) => {
      const [os, ss, w] = sv as [Tensor, Tensor, Tensor];
      const hp = hPrev ? sv[3]! : null;
      const h0s = sv[hPrev ? 4 : 3];
      const dgx = empty(be, [B, T, G], dtype);
      const dgh = empty(be, [B, T, G], dtype);
      const dhz = empty(be, [B, H], dtype);
      const back = ++passes;
      for (let t = T - 1; t >= 0; t--) {
        runRoutine<GruStepBackwardArgs>(be, "gruStepBackward", {
          batch: B,
          hidden: H,
          dh: rows(g.storage, t * H, S),
          h: t === 0 ? rows(h0s?.storage ?? os.storage, 0, h0s ? H : S) : rows(
            os.storage,
            (t - 1) * H,
            S,
          ),
          zeroState: zero && t === 0,
          saved: rows(ss.storage, t * B * 4 * H, 4 * H),
          whh: w.storage,
          dhz: dhz.storage,
          dgx: rows(dgx.storage, t * G, T * G),
          dgh: rows(dgh.storage, t * G, T * G),
          dghNext: t < T - 1 ? (t + 1) * G : null,
          pass: back,
        });
      }
      let dbhh: Tensor | null = null;
      if (need[2]) {
        dbhh = empty(be, [G], dtype);
        be.reduce("sum", dgh.storage, dbhh.storage, { outer: 1, reduce: B * T, inner: G });
      }
      let dh0: Tensor | null = null;
      if (!zero && need[3]) {
        const rec = initialStateGrad(be, dgh, w, B, T, H, 3);
        dh0 = rec.add(dhz);
      }
      return [
        dgx,
        need[1] ? recurrentWeightGrad(be, dgh, hp, os, S, h0s!, B, T, H, 3) : null,
        dbhh,
        ...(zero ? [] : [dh0]),
      ];
    });
    saved.dispose();
  }
  hPrev?.dispose();
  init.owned?.dispose();
  return { output, hT: lastStep(output, B, T, H, tm) };
}
