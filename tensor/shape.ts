/**
 * Shape arithmetic shared by the ops: sizes, contiguous strides, NumPy
 * broadcasting and axis normalisation.
 *
 * @module
 */
import { fmtShape, ShapeError } from "./errors.ts";

/** Number of elements of a shape (1 for a 0-d shape). */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major contiguous strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Whether two shapes are equal. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The NumPy broadcast of several shapes.
 *
 * @throws ShapeError naming the op when the shapes do not broadcast
 */
export function broadcastShapes(op: string, ...shapes: (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i]!;
      if (d === out[o] || d === 1) continue;
      if (out[o] === 1) out[o] = d;
      else {
        throw new ShapeError(
          op,
          shapes,
          `Cannot broadcast shapes ${shapes.map(fmtShape).join(" and ")} in ${op}: ` +
            `dimension ${o} is ${out[o]} in one and ${d} in another`,
        );
      }
    }
  }
  return out;
}

/** Strides that read a contiguous tensor of `shape` as if it had `outShape` (0 where broadcast). */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const own = stridesOf(shape);
  const out = new Array<number>(outShape.length).fill(0);
  const lead = outShape.length - shape.length;
  for (let i = 0; i < shape.length; i++) out[lead + i] = shape[i] === 1 ? 0 : own[i]!;
  return out;
}

/**
 * Normalise one axis (negative counts from the end).
 *
 * @throws RangeError naming the op and the shape when out of range
 */
export function normAxis(op: string, axis: number, rank: number, shape: readonly number[]): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new RangeError(
      `Cannot apply ${op} along axis ${axis}: tensor of shape ${fmtShape(shape)} has ${rank} ` +
        `dimension${rank === 1 ? "" : "s"} (valid axes ${-rank}..${rank - 1})`,
    );
  }
  return axis < 0 ? axis + rank : axis;
}

/** Normalise an axis list (undefined = all axes), sorted and without duplicates. */
export function normAxes(
  op: string,
  axis: number | readonly number[] | undefined,
  shape: readonly number[],
): number[] {
  const rank = shape.length;
  if (axis === undefined) return [...Array(rank).keys()];
  const list = typeof axis === "number" ? [axis] : axis;
  const out = [...new Set(list.map((a) => normAxis(op, a, rank, shape)))].sort((a, b) => a - b);
  if (out.length !== list.length) {
    throw new RangeError(`Cannot apply ${op} along axes [${list.join(", ")}]: an axis repeats`);
  }
  return out;
}
