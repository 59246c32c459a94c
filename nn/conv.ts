/**
 * `Conv2d` and `MaxPool2d` on `[N, C, H, W]` inputs, built from two small
 * differentiable data-movement ops of `tensor/routines/conv/` — constant
 * padding and `unfold` (im2col: every kernel window as a column, in one copy)
 * — followed by one batched matmul (convolution) or a max over the window
 * axis (pooling). They therefore run on every backend.
 *
 * @module
 */
import type { BackendName, DType } from "../tensor/backend.ts";
import { fmtShape, ShapeError } from "../tensor/errors.ts";
import { matmul } from "../tensor/ops/matmul.ts";
import { pad2d, unfold2d } from "../tensor/routines/conv/mod.ts";
import { rand, type Tensor } from "../tensor/tensor.ts";
import { checkSize } from "./linear.ts";
import { Module } from "./module.ts";

/** A size given once for both spatial dimensions or as `[height, width]`. */
export type Size2 = number | readonly [number, number];

function pair(layer: string, what: string, v: Size2, min: number): [number, number] {
  const p: [number, number] = typeof v === "number" ? [v, v] : [v[0], v[1]];
  if (!p.every((d) => Number.isInteger(d) && d >= min)) {
    throw new RangeError(
      `Cannot use ${layer} with ${what} ${JSON.stringify(v)}: expected ${
        min === 0 ? "a non-negative" : "a positive"
      } integer or a pair of them`,
    );
  }
  return p;
}

function check4d(layer: string, x: Tensor, channels?: number): void {
  if (x.rank !== 4 || (channels !== undefined && x.shape[1] !== channels)) {
    throw new ShapeError(
      layer,
      [x.shape],
      `Cannot apply ${layer} to a tensor of shape ${fmtShape(x.shape)}: expected [N, ${
        channels ?? "C"
      }, H, W]`,
    );
  }
}

function outSize(
  layer: string,
  x: Tensor,
  k: [number, number],
  s: [number, number],
  p: [number, number],
): [number, number] {
  const h = x.shape[2]! + 2 * p[0], w = x.shape[3]! + 2 * p[1];
  if (h < k[0] || w < k[1]) {
    throw new ShapeError(
      layer,
      [x.shape],
      `Cannot apply ${layer} to a tensor of shape ${fmtShape(x.shape)}: the padded input ` +
        `${h}×${w} is smaller than the ${k[0]}×${k[1]} kernel`,
    );
  }
  return [Math.floor((h - k[0]) / s[0]) + 1, Math.floor((w - k[1]) / s[1]) + 1];
}

/** Stride and padding of {@link conv2d} and {@link maxPool2d}. */
export interface WindowOptions {
  /** Step between windows (default 1 for conv2d, the kernel size for maxPool2d). */
  stride?: Size2;
  /** Padding on each side (default 0): zeros for conv2d, -∞ for maxPool2d. */
  padding?: Size2;
}

/**
 * The function behind {@link Conv2d} (PyTorch's `F.conv2d`): zero padding,
 * im2col ({@link unfold2d}) and one batched matmul with the filters.
 *
 * @param x input `[N, C, H, W]`
 * @param weight filters `[O, C, kh, kw]`
 * @param bias `[O]`, or null/undefined for none
 * @param opts stride (1), padding (0)
 * @returns `[N, O, Ho, Wo]`, `Ho = ⌊(H + 2·ph − kh) / sh⌋ + 1`
 */
export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias?: Tensor | null,
  opts: WindowOptions = {},
): Tensor {
  const [o, c, kh, kw] = weight.shape as [number, number, number, number];
  if (weight.rank !== 4) {
    throw new ShapeError(
      "conv2d",
      [x.shape, weight.shape],
      `Cannot convolve with a weight of shape ${fmtShape(weight.shape)}: expected [O, C, kh, kw]`,
    );
  }
  check4d("conv2d", x, c);
  const s = pair("conv2d", "stride", opts.stride ?? 1, 1);
  const [ph, pw] = pair("conv2d", "padding", opts.padding ?? 0, 0);
  const [ho, wo] = outSize("conv2d", x, [kh, kw], s, [ph, pw]);
  const n = x.shape[0]!, ck = c * kh * kw;
  const temps: Tensor[] = [];
  const t = (v: Tensor): Tensor => (temps.push(v), v);
  const xp = ph > 0 || pw > 0 ? t(pad2d(x, ph, pw, 0)) : x;
  const cols = t(t(unfold2d(xp, kh, kw, s[0], s[1])).reshape([n, ck, ho * wo]));
  let y = t(matmul(t(weight.reshape([o, ck])), cols)); // [N, O, Ho·Wo]
  if (bias) y = t(y.add(t(bias.reshape([o, 1]))));
  const out = y.reshape([n, o, ho, wo]);
  for (const v of temps) v.dispose();
  return out;
}

/**
 * The function behind {@link MaxPool2d} (PyTorch's `F.max_pool2d`): -∞
 * padding, the windows as one axis ({@link unfold2d}) and a max over it.
 * Tied maxima in a window share its gradient equally.
 *
 * @param x input `[N, C, H, W]`
 * @param kernelSize window size
 * @param opts stride (default the kernel size), padding (0, at most half the kernel)
 * @returns `[N, C, Ho, Wo]`
 */
export function maxPool2d(x: Tensor, kernelSize: Size2, opts: WindowOptions = {}): Tensor {
  check4d("maxPool2d", x);
  const [kh, kw] = pair("maxPool2d", "kernelSize", kernelSize, 1);
  const s = pair("maxPool2d", "stride", opts.stride ?? kernelSize, 1);
  const [ph, pw] = pair("maxPool2d", "padding", opts.padding ?? 0, 0);
  if (2 * ph > kh || 2 * pw > kw) {
    throw new RangeError(
      `Cannot max-pool: padding [${ph}, ${pw}] must be at most half the kernel size [${kh}, ${kw}]`,
    );
  }
  const [ho, wo] = outSize("maxPool2d", x, [kh, kw], s, [ph, pw]);
  const [n, c] = x.shape as [number, number];
  const temps: Tensor[] = [];
  const t = (v: Tensor): Tensor => (temps.push(v), v);
  const xp = ph > 0 || pw > 0 ? t(pad2d(x, ph, pw, -Infinity)) : x;
  const win = t(t(unfold2d(xp, kh, kw, s[0], s[1])).reshape([n, c, kh * kw, ho, wo]));
  const out = win.max(2);
  for (const v of temps) v.dispose();
  return out;
}

/** Options of {@link Conv2d}. */
export interface Conv2dOptions {
  /** Step between windows (default 1). */
  stride?: Size2;
  /** Zeros added on each side of the height and width (default 0). */
  padding?: Size2;
  /** Learn an additive bias per output channel (default true). */
  bias?: boolean;
  /** Backend of the parameters (default: the one `init` chose). */
  backend?: BackendName;
  /** Element type (default float32). */
  dtype?: DType;
}

/**
 * 2-D convolution (cross-correlation, as in PyTorch) of `[N, inChannels, H, W]`
 * inputs. `weight` is `[outChannels, inChannels, kh, kw]` and `bias`
 * `[outChannels]`, both initialised uniformly in `[-1/√fanIn, 1/√fanIn)` with
 * `fanIn = inChannels · kh · kw` (PyTorch's default). Computed as im2col
 * ({@link unfold2d}) and one batched matmul.
 */
export class Conv2d extends Module {
  /** Input channels. */
  readonly inChannels: number;
  /** Output channels. */
  readonly outChannels: number;
  /** Kernel `[kh, kw]`. */
  readonly kernelSize: [number, number];
  /** Stride `[sh, sw]`. */
  readonly stride: [number, number];
  /** Zero padding `[ph, pw]`. */
  readonly padding: [number, number];
  /** The filters `[outChannels, inChannels, kh, kw]`. */
  readonly weight: Tensor;
  /** The bias `[outChannels]`, or null. */
  readonly bias: Tensor | null;

  /**
   * Create the layer with PyTorch's default initialisation.
   *
   * @param inChannels input channels
   * @param outChannels output channels
   * @param kernelSize kernel size, one number or `[kh, kw]`
   * @param opts stride (1), padding (0), bias (true), backend, dtype
   */
  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: Size2,
    opts: Conv2dOptions = {},
  ) {
    super();
    checkSize("Conv2d", "inChannels", inChannels);
    checkSize("Conv2d", "outChannels", outChannels);
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = pair("Conv2d", "kernelSize", kernelSize, 1);
    this.stride = pair("Conv2d", "stride", opts.stride ?? 1, 1);
    this.padding = pair("Conv2d", "padding", opts.padding ?? 0, 0);
    const [kh, kw] = this.kernelSize;
    const bound = 1 / Math.sqrt(inChannels * kh * kw);
    const o = { backend: opts.backend, dtype: opts.dtype, low: -bound, high: bound };
    this.weight = this.registerParameter("weight", rand([outChannels, inChannels, kh, kw], o));
    this.bias = (opts.bias ?? true) ? this.registerParameter("bias", rand([outChannels], o)) : null;
  }

  /**
   * Convolve.
   *
   * @param x input `[N, inChannels, H, W]`
   * @returns `[N, outChannels, Ho, Wo]`, `Ho = ⌊(H + 2·ph − kh) / sh⌋ + 1`
   */
  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding });
  }
}

/** Options of {@link MaxPool2d}. */
export interface MaxPool2dOptions {
  /** Step between windows (default: the kernel size). */
  stride?: Size2;
  /** Implicit -∞ added on each side (default 0; at most half the kernel). */
  padding?: Size2;
}

/**
 * 2-D max pooling of `[N, C, H, W]` inputs over `kh × kw` windows (output size
 * rounded down, as PyTorch's default). Tied maxima in a window share its
 * gradient equally (PyTorch gives it all to one of them).
 */
export class MaxPool2d extends Module {
  /** Window `[kh, kw]`. */
  readonly kernelSize: [number, number];
  /** Stride `[sh, sw]`. */
  readonly stride: [number, number];
  /** Padding `[ph, pw]`. */
  readonly padding: [number, number];

  /**
   * Create the layer.
   *
   * @param kernelSize window size, one number or `[kh, kw]`
   * @param opts the stride as a number or pair (default the kernel size), or
   *   `{ stride, padding }`
   */
  constructor(kernelSize: Size2, opts: Size2 | MaxPool2dOptions = {}) {
    super();
    const o: MaxPool2dOptions = typeof opts === "number" || Array.isArray(opts)
      ? { stride: opts as Size2 }
      : opts as MaxPool2dOptions;
    this.kernelSize = pair("MaxPool2d", "kernelSize", kernelSize, 1);
    this.stride = pair("MaxPool2d", "stride", o.stride ?? kernelSize, 1);
    this.padding = pair("MaxPool2d", "padding", o.padding ?? 0, 0);
    if (this.padding.some((p, i) => 2 * p > this.kernelSize[i]!)) {
      throw new RangeError(
        `Cannot create MaxPool2d: padding ${fmtShape(this.padding)} must be at most half ` +
          `the kernel size ${fmtShape(this.kernelSize)}`,
      );
    }
  }

  /**
   * Pool.
   *
   * @param x input `[N, C, H, W]`
   * @returns `[N, C, Ho, Wo]`, `Ho = ⌊(H + 2·ph − kh) / sh⌋ + 1`
   */
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, { stride: this.stride, padding: this.padding });
  }
}
