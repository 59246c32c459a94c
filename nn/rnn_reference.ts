/**
 * The unfused reference of the recurrent layers: the same math as the fused
 * sequence ops of `tensor/routines/rnn/layer.ts`, written step by step with basic
 * differentiable ops (matmul, slice, sigmoid, tanh, mul, add, stack). Tests
 * compare the fused kernels against it, and `{ fused: false }` on
 * `nn.LSTM`/`nn.GRU` runs it. It records about 15 graph nodes per time step,
 * so it is slow on WebGPU (one dispatch per op); it exists to be obviously
 * right.
 *
 * @module
 */
import { tidy } from "../tensor/engine.ts";
import { matmul } from "../tensor/ops/matmul.ts";
import { stack } from "../tensor/ops/shape.ts";
import type { Tensor } from "../tensor/tensor.ts";
import type { GruLayerResult, LstmLayerResult } from "../tensor/routines/rnn/mod.ts";

/** Columns [from, from + n) of a [B, m] matrix. */
function cols(x: Tensor, from: number, n: number): Tensor {
  return x.slice([0, from], [x.shape[0]!, n]);
}

/** Step t of a [B, T, n] sequence as [B, n]. */
function stepOf(x: Tensor, t: number): Tensor {
  const [B, , n] = x.shape as [number, number, number];
  return x.slice([0, t, 0], [B, 1, n]).reshape([B, n]);
}

/**
 * An LSTM layer from basic ops; same contract as `lstmLayer` in
 * `tensor/routines/rnn/layer.ts`.
 *
 * @param xproj x·W_ihᵀ + b_ih + b_hh [B, T, 4H] (gates i, f, g, o)
 * @param whh W_hh [4H, H]
 * @param h0 initial hidden state [B, H]
 * @param c0 initial cell state [B, H]
 * @returns the sequence [B, T, H] and the final states [B, H]
 * @example
 * ```ts
 * import { zeros } from "../mod.ts";
 * import { lstmLayerReference } from "./rnn_reference.ts";
 * const z = (s: number[]) => zeros(s, { backend: "cpu" });
 * const { output } = lstmLayerReference(z([2, 3, 8]), z([8, 2]), z([2, 2]), z([2, 2]));
 * console.assert(output.shape.join() === "2,3,2");
 * ```
 */
export function lstmLayerReference(
  xproj: Tensor,
  whh: Tensor,
  h0: Tensor,
  c0: Tensor,
): LstmLayerResult {
  return tidy(() => {
    const H = whh.shape[1]!, T = xproj.shape[1]!;
    let h = h0, c = c0;
    const hs: Tensor[] = [];
    for (let t = 0; t < T; t++) {
      const z = stepOf(xproj, t).add(matmul(h, whh, { transB: true }));
      const i = cols(z, 0, H).sigmoid();
      const f = cols(z, H, H).sigmoid();
      const g = cols(z, 2 * H, H).tanh();
      const o = cols(z, 3 * H, H).sigmoid();
      c = f.mul(c).add(i.mul(g));
      h = o.mul(c.tanh());
      hs.push(h);
    }
    return { output: stack(hs, 1), hT: h.clone(), cT: c.clone() };
  });
}

/**
 * A GRU layer from basic ops; same contract as `gruLayer` in
 * `tensor/routines/rnn/layer.ts`: r = σ(x_r + W_hr h + b_hr), z = σ(x_z + W_hz h + b_hz),
 * n = tanh(x_n + r ⊙ (W_hn h + b_hn)), h' = (1 − z) ⊙ n + z ⊙ h.
 *
 * @param gx x·W_ihᵀ + b_ih [B, T, 3H] (gates r, z, n)
 * @param whh W_hh [3H, H]
 * @param bhh b_hh [3H]
 * @param h0 initial hidden state [B, H]
 * @returns the sequence [B, T, H] and the final state [B, H]
 * @example
 * ```ts
 * import { zeros } from "../mod.ts";
 * import { gruLayerReference } from "./rnn_reference.ts";
 * const z = (s: number[]) => zeros(s, { backend: "cpu" });
 * const { output } = gruLayerReference(z([2, 3, 6]), z([6, 2]), z([6]), z([2, 2]));
 * console.assert(output.shape.join() === "2,3,2");
 * ```
 */
export function gruLayerReference(
  gx: Tensor,
  whh: Tensor,
  bhh: Tensor,
  h0: Tensor,
): GruLayerResult {
  return tidy(() => {
    const H = whh.shape[1]!, T = gx.shape[1]!;
    let h = h0;
    const hs: Tensor[] = [];
    for (let t = 0; t < T; t++) {
      const x = stepOf(gx, t);
      const gh = matmul(h, whh, { transB: true }).add(bhh);
      const r = cols(x, 0, H).add(cols(gh, 0, H)).sigmoid();
      const z = cols(x, H, H).add(cols(gh, H, H)).sigmoid();
      const n = cols(x, 2 * H, H).add(r.mul(cols(gh, 2 * H, H))).tanh();
      h = z.neg().add(1).mul(n).add(z.mul(h));
      hs.push(h);
    }
    return { output: stack(hs, 1), hT: h.clone() };
  });
}
