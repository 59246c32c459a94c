/**
 * The convolution routines: two differentiable data-movement ops on the
 * backend's strided `copy` kernel, from which `nn/conv.ts` builds `Conv2d`
 * and `MaxPool2d` — constant padding ({@link pad2d}) and `unfold`
 * ({@link unfold2d}, im2col: every kernel window as a column, in one copy).
 * They use primitive kernels only, so they run on every backend and register
 * no per-backend kernel.
 *
 * @module
 */
import type { View } from "../../backend.ts";
import { record } from "../../autograd.ts";
import { isGradEnabled } from "../../engine.ts";
import { fmtShape, ShapeError } from "../../errors.ts";
import { sliceRaw } from "../../ops/shape.ts";
import { stridesOf } from "../../shape.ts";
import { empty, type Tensor } from "../../tensor.ts";

const contiguous = (shape: readonly number[], offset = 0): View => ({
  shape,
  strides: stridesOf(shape),
  offset,
});

/**
 * Pad the last two dimensions of a 4-D tensor with a constant (differentiable:
 * the gradient is the interior block of the upstream gradient).
 *
 * @param x input `[N, C, H, W]`
 * @param ph rows added above and below
 * @param pw columns added left and right
 * @param value the fill value (0 for convolution, -Infinity for max pooling)
 * @returns `[N, C, H + 2·ph, W + 2·pw]`
 */
export function pad2d(x: Tensor, ph: number, pw: number, value = 0): Tensor {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const shape = [n, c, h + 2 * ph, w + 2 * pw];
  const out = empty(x.backendImpl, shape, x.dtype);
  x.backendImpl.fill(out.storage, value);
  const st = stridesOf(shape);
  x.backendImpl.copy(x.storage, contiguous(x.shape), out.storage, {
    shape: x.shape,
    strides: st,
    offset: ph * st[2]! + pw,
  });
  if (!isGradEnabled() || !x.requiresGrad) return out;
  const starts = [0, 0, ph, pw], sizes = [...x.shape];
  return record("pad2d", out, [x], [], (g) => [sliceRaw(g, starts, sizes)]);
}

/**
 * im2col: every `kh × kw` window of `x` (taken with `stride`) as a column,
 * written by one strided copy. Output element `[n, c, i, j, oy, ox]` is
 * `x[n, c, oy·sh + i, ox·sw + j]`. The gradient sums the upstream gradient of
 * overlapping windows back into place, as groups of kernel offsets whose
 * windows never touch the same input element (one group when the stride is at
 * least the kernel size).
 *
 * @param x input `[N, C, H, W]` (already padded)
 * @param kh kernel height
 * @param kw kernel width
 * @param sh vertical stride
 * @param sw horizontal stride
 * @returns `[N, C, kh, kw, Ho, Wo]` with `Ho = ⌊(H − kh) / sh⌋ + 1`, `Wo` likewise
 */
export function unfold2d(x: Tensor, kh: number, kw: number, sh: number, sw: number): Tensor {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const ho = Math.floor((h - kh) / sh) + 1, wo = Math.floor((w - kw) / sw) + 1;
  if (x.rank !== 4 || h < kh || w < kw) {
    throw new ShapeError(
      "unfold2d",
      [x.shape],
      `Cannot take ${kh}×${kw} windows of a tensor of shape ${
        fmtShape(x.shape)
      }: expected [N, C, H, W] with H >= ${kh} and W >= ${kw}`,
    );
  }
  const shape = [n, c, kh, kw, ho, wo];
  const out = empty(x.backendImpl, shape, x.dtype);
  const [sn, sc] = stridesOf(x.shape) as [number, number];
  x.backendImpl.copy(
    x.storage,
    { shape, strides: [sn, sc, w, 1, sh * w, sw], offset: 0 },
    out.storage,
    contiguous(shape),
  );
  if (!isGradEnabled() || !x.requiresGrad) return out;
  const xShape = x.shape;
  return record("unfold2d", out, [x], [], (g) => {
    const gStrides = stridesOf(shape);
    const win = [n, c, ho, wo];
    let acc: Tensor | null = null;
    for (let qh = 0; qh < Math.ceil(kh / sh); qh++) {
      for (let qw = 0; qw < Math.ceil(kw / sw); qw++) {
        // Offsets (qh·sh + rh, qw·sw + rw) write disjoint input elements.
        const part = empty(g.backendImpl, xShape, g.dtype);
        g.backendImpl.fill(part.storage, 0);
        for (let rh = 0; rh < sh; rh++) {
          for (let rw = 0; rw < sw; rw++) {
            const i = qh * sh + rh, j = qw * sw + rw;
            if (i >= kh || j >= kw) continue;
            g.backendImpl.copy(
              g.storage,
              {
                shape: win,
                strides: [gStrides[0]!, gStrides[1]!, gStrides[4]!, 1],
                offset: i * gStrides[2]! + j * gStrides[3]!,
              },
              part.storage,
              { shape: win, strides: [sn, sc, sh * w, sw], offset: i * w + j },
            );
          }
        }
        if (acc === null) acc = part;
        else {
          const sum: Tensor = acc.add(part);
          acc.dispose();
          part.dispose();
          acc = sum;
        }
      }
    }
    return [acc];
  });
}
