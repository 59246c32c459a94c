/**
 * Arguments of the fused recurrent step kernels (LSTM and GRU, forward and
 * backward, one time step each), on storages: what `tensor/routines/rnn/cpu.ts`
 * and `tensor/routines/rnn/webgpu.ts` receive from the layer ops of
 * `tensor/routines/rnn/layer.ts`.
 *
 * @module
 */
import type { Storage } from "../../backend.ts";

/**
 * Rows of a matrix inside a storage: row `b` starts at element
 * `offset + b · stride` and its elements are contiguous. The fused recurrent
 * kernels address one time step of a batch-first sequence [B, T, n] this way
 * (offset t·n, stride T·n), or one step of a time-major buffer [T, B, n]
 * (offset t·B·n, stride n).
 */
export interface Rows {
  /** The storage. */
  storage: Storage;
  /** Element offset of row 0. */
  offset: number;
  /** Elements from the start of one row to the next. */
  stride: number;
}

/**
 * One forward time step of an LSTM layer (routine `lstmStep`). Gate
 * blocks are in PyTorch order i, f, g, o, each H wide.
 */
export interface LstmStepArgs {
  /** Batch size B. */
  batch: number;
  /** Hidden size H. */
  hidden: number;
  /** Input part of the gate pre-activations [B, 4H]: x_t·W_ihᵀ + b_ih + b_hh. */
  x: Rows;
  /** h_{t−1} [B, H]. */
  h: Rows;
  /** c_{t−1} [B, H]. */
  c: Rows;
  /** W_hh [4H, H], contiguous. */
  whh: Storage;
  /**
   * Optional W_hhᵀ [H, 4H], contiguous: the same weights transposed, made
   * once per sequence by the caller. A backend may read it instead of `whh`
   * (WebGPU's forward step reads it with coalesced vec4 loads) or ignore it.
   */
  whhT?: Storage;
  /** Receives h_t [B, H] (may share a storage with `h`, not its elements). */
  hOut: Rows;
  /** Receives c_t [B, H] (may share a storage with `c`, not its elements). */
  cOut: Rows;
  /** Receives the activated gates i, f, g, o [B, 4H] for backward; null skips saving. */
  gates: Rows | null;
  /**
   * Optional: h_{t−1} and c_{t−1} are zero (the zero initial state): `h` and
   * `c` are ignored, not read. Only a backend whose kernel registered the
   * trait `zeroState` honours it (WebGPU); callers pass it only then.
   */
  zeroState?: boolean;
  /**
   * Optional: receives a copy of h_{t−1} (the rows `h` reads), for the
   * layer's W_hh gradient. Only a backend whose kernel registered the trait
   * `hPrev` writes it (WebGPU: so the layer needs no gather copies); others
   * ignore it.
   */
  hPrev?: Rows | null;
  /**
   * Optional id of the sequence pass this step belongs to (the forward or the
   * backward loop of one layer call), unique in the process; `whh` does not
   * change during a pass, so a backend may keep a prepared copy of it (the
   * CPU backend keeps W_hh packed for its matmul) from one step of the pass
   * to the next. 0 or absent: none.
   */
  pass?: number;
}

/** One backward time step of an LSTM layer (routine `lstmStepBackward`). */
export interface LstmStepBackwardArgs {
  /** Batch size B. */
  batch: number;
  /** Hidden size H. */
  hidden: number;
  /** dL/dh_t from outside the recurrence (the layer output's gradient) [B, H]. */
  dh: Rows;
  /** c_{t−1} [B, H]. */
  cPrev: Rows;
  /** c_t [B, H]. */
  c: Rows;
  /** The activated gates of step t saved by routine `lstmStep` [B, 4H]. */
  gates: Rows;
  /** W_hh [4H, H], contiguous. */
  whh: Storage;
  /**
   * [B, H] contiguous, read and written: on entry dL/dc_t through the later
   * steps, on exit dL/dc_{t−1}.
   */
  dc: Storage;
  /**
   * Optional: take dL/dc_t as zero on entry instead of reading `dc` (the
   * last step when c_T has no gradient), so the caller need not fill it.
   * Only a backend whose kernel registered the trait `dcZero` honours it
   * (WebGPU); callers pass it only then.
   */
  dcZero?: boolean;
  /** Optional: c_{t−1} is zero and `cPrev` not read (step 0 of the zero initial state). */
  zeroState?: boolean;
  /** Receives the pre-activation gate gradients dL/dgates_t [B, 4H]. */
  dg: Rows;
  /**
   * Offset in `dg.storage` (same stride) of step t+1's gate gradients, whose
   * product with W_hh is added to dL/dh_t; null at the last step.
   */
  dgNext: number | null;
  /** Optional id of the sequence pass, as {@link LstmStepArgs.pass}. */
  pass?: number;
}

/**
 * One forward time step of a GRU layer (routine `gruStep`). Gate blocks
 * are in PyTorch order r, z, n: r = σ(x_r + W_hr h + b_hr),
 * z = σ(x_z + W_hz h + b_hz), n = tanh(x_n + r ⊙ (W_hn h + b_hn)),
 * h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}.
 */
export interface GruStepArgs {
  /** Batch size B. */
  batch: number;
  /** Hidden size H. */
  hidden: number;
  /** Input part of the gates [B, 3H]: x_t·W_ihᵀ + b_ih (b_hh is separate). */
  x: Rows;
  /** h_{t−1} [B, H]. */
  h: Rows;
  /** W_hh [3H, H], contiguous. */
  whh: Storage;
  /**
   * Optional W_hhᵀ [H, 3H], contiguous: the same weights transposed, made
   * once per sequence by the caller. A backend may read it instead of `whh`
   * (WebGPU's forward step reads it with coalesced vec4 loads) or ignore it.
   */
  whhT?: Storage;
  /** b_hh [3H], contiguous. */
  bhh: Storage;
  /** Receives h_t [B, H] (may share a storage with `h`, not its elements). */
  hOut: Rows;
  /** Receives r, z, n and W_hn·h_{t−1} + b_hn [B, 4H] for backward; null skips saving. */
  saved: Rows | null;
  /** Optional: receives a copy of h_{t−1}, as {@link LstmStepArgs.hPrev}. */
  hPrev?: Rows | null;
  /** Optional: h_{t−1} is zero and `h` not read, as {@link LstmStepArgs.zeroState}. */
  zeroState?: boolean;
  /** Optional id of the sequence pass, as {@link LstmStepArgs.pass}. */
  pass?: number;
}

/** One backward time step of a GRU layer (routine `gruStepBackward`). */
export interface GruStepBackwardArgs {
  /** Batch size B. */
  batch: number;
  /** Hidden size H. */
  hidden: number;
  /** dL/dh_t from outside the recurrence (the layer output's gradient) [B, H]. */
  dh: Rows;
  /** h_{t−1} [B, H]. */
  h: Rows;
  /** What routine `gruStep` saved for step t [B, 4H]. */
  saved: Rows;
  /** W_hh [3H, H], contiguous. */
  whh: Storage;
  /**
   * [B, H] contiguous, read and written: on entry z_{t+1} ⊙ dL/dh_{t+1} (the
   * part of dL/dh_t that bypasses the gates; ignored at the last step), on
   * exit z_t ⊙ dL/dh_t.
   */
  dhz: Storage;
  /** Receives dL/d(x part of the gates)_t [B, 3H]. */
  dgx: Rows;
  /** Receives dL/d(W_hh·h_{t−1} + b_hh)_t [B, 3H]. */
  dgh: Rows;
  /**
   * Offset in `dgh.storage` (same stride) of step t+1's `dgh`, whose product
   * with W_hh is added to dL/dh_t; null at the last step.
   */
  dghNext: number | null;
  /** Optional: h_{t−1} is zero and `h` not read (step 0 of the zero initial state). */
  zeroState?: boolean;
  /** Optional id of the sequence pass, as {@link LstmStepArgs.pass}. */
  pass?: number;
}
