/**
 * Host-side index planning for the elementwise and copy kernels: merge
 * dimensions that every operand walks contiguously, then classify each
 * operand as one repeated contiguous block (`(i / div) % mod`) or fall back to
 * N-d strides.
 *
 * @module
 */
import { MAX_DIMS } from "../wgsl/elementwise.ts";

/** Shape and per-operand strides after merging. */
export interface Merged {
  /** Merged shape (size-1 dimensions dropped; [] for one element). */
  shape: number[];
  /** Strides of each operand over the merged shape. */
  strides: number[][];
}

/**
 * Drop size-1 dimensions and merge neighbours `d`, `d + 1` wherever every
 * operand has `stride[d] = stride[d + 1] · shape[d + 1]`.
 *
 * @param shape the iteration shape
 * @param strides each operand's strides over `shape`
 * @returns the merged shape and strides (same element order)
 */
export function mergeDims(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
): Merged {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = shape.length - 1; d >= 0; d--) {
    const size = shape[d]!;
    if (size === 1) continue;
    const last = outShape.length - 1;
    if (
      last >= 0 &&
      strides.every((s, k) => s[d]! === outStrides[k]![last]! * outShape[last]!)
    ) {
      outShape[last]! *= size;
      continue;
    }
    outShape.push(size);
    strides.forEach((s, k) => outStrides[k]!.push(s[d]!));
  }
  return { shape: outShape.reverse(), strides: outStrides.map((s) => s.reverse()) };
}

/** An operand read at `(i / div) % mod` of the flat output index. */
export interface Block {
  /** Divisor: product of the broadcast dimensions after the block. */
  div: number;
  /** Modulus: number of elements of the block. */
  mod: number;
}

/**
 * The block form of an operand over a merged shape, or null when its strides
 * are not one contiguous run between broadcast dimensions.
 *
 * @param shape merged shape
 * @param strides the operand's strides
 * @returns div and mod, or null
 */
export function asBlock(shape: readonly number[], strides: readonly number[]): Block | null {
  const nz = strides.map((s, d) => (s !== 0 ? d : -1)).filter((d) => d >= 0);
  if (nz.length === 0) return { div: 1, mod: 1 };
  const p = nz[0]!, q = nz[nz.length - 1]!;
  if (q - p + 1 !== nz.length || strides[q] !== 1) return null;
  let mod = 1;
  for (let d = q; d >= p; d--) {
    if (strides[d] !== mod) return null;
    mod *= shape[d]!;
  }
  let div = 1;
  for (let d = q + 1; d < shape.length; d++) div *= shape[d]!;
  return { div, mod };
}

/** How a broadcasting elementwise dispatch indexes its operands. */
export type Plan =
  | { layout: "same" }
  | { layout: "block"; blocks: Block[] }
  | { layout: "strided"; shape: number[]; strides: number[][] };

/**
 * Choose the cheapest indexing for operands with the given strides over an
 * output shape.
 *
 * @param op the op name, for the error
 * @param outShape output shape
 * @param strides each operand's strides
 * @returns the plan
 * @throws RangeError when more than MAX_DIMS dimensions remain after merging
 */
export function planElementwise(
  op: string,
  outShape: readonly number[],
  strides: readonly (readonly number[])[],
): Plan {
  const m = mergeDims(outShape, strides);
  const n = m.shape.reduce((a, b) => a * b, 1);
  const blocks = m.strides.map((s) => asBlock(m.shape, s));
  if (blocks.every((b) => b !== null)) {
    if (blocks.every((b) => b!.div === 1 && b!.mod === n)) return { layout: "same" };
    return { layout: "block", blocks: blocks as Block[] };
  }
  if (m.shape.length > MAX_DIMS) {
    throw new RangeError(
      `Cannot run ${op} on WebGPU: ${m.shape.length} dimensions remain after merging, at most ${MAX_DIMS} supported`,
    );
  }
  return { layout: "strided", shape: m.shape, strides: m.strides };
}
