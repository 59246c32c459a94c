/**
 * Error classes of the engine. Messages follow one style: what failed, then a
 * colon and the current state ("Cannot matmul tensors of shapes [3, 4] and
 * [5, 6]: inner dimensions 4 and 5 differ").
 *
 * @module
 */

/** A shape that an op cannot accept. Carries the op name and the shapes involved. */
export class ShapeError extends TypeError {
  /** The op that rejected its input. */
  readonly op: string;
  /** The shapes involved, in argument order. */
  readonly shapes: readonly (readonly number[])[];
  /**
   * Create the error.
   *
   * @param op the op name
   * @param shapes the shapes involved
   * @param message the full message
   */
  constructor(op: string, shapes: readonly (readonly number[])[], message: string) {
    super(message);
    this.name = "ShapeError";
    this.op = op;
    this.shapes = shapes;
  }
}

/** A tensor (or its memory) was used after `dispose()`. */
export class DisposedError extends Error {
  /**
   * Create the error.
   *
   * @param message the full message
   */
  constructor(message: string) {
    super(message);
    this.name = "DisposedError";
  }
}

/** Format a shape as `[2, 3]`. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}
