/**
 * The page's drawing pad as numbers: a 28×28 grid of ink in [0, 1] that pen
 * strokes raise. A stroke is a polyline in grid coordinates (x to the right,
 * y down, one unit per pixel); a pixel takes the ink of its centre's distance
 * to the nearest segment: full within {@link PEN_CORE}, fading linearly to
 * none over {@link PEN_EDGE}, never lowered by a later stroke. The arithmetic
 * is plain `+ − × ÷` and `Math.sqrt` (correctly rounded everywhere), so a
 * browser and Deno turn the same points into the same bytes. Only the rows
 * above {@link TOP_ROWS} take ink: the bottom half is the model's.
 *
 * @module
 */

/** Pixels per side. */
export const SIZE = 28;
/** Rows the user draws (the top half). */
export const TOP_ROWS = 14;
/** Distance from a stroke's centre line within which a pixel takes full ink. */
export const PEN_CORE = 0.5;
/** Distance beyond {@link PEN_CORE} over which the ink fades to none. */
export const PEN_EDGE = 1.0;

/** A point in grid coordinates. */
export type Point = readonly [x: number, y: number];

/**
 * Raise the ink of the pixels near the segment from (x0, y0) to (x1, y1); a
 * segment of length 0 is a dot.
 *
 * @param ink the grid, `SIZE × SIZE` row-major, values in [0, 1]
 * @param a the start
 * @param b the end
 */
export function inkSegment(ink: Float32Array, a: Point, b: Point): void {
  const [x0, y0] = a, [x1, y1] = b;
  const reach = PEN_CORE + PEN_EDGE;
  const dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
  const i0 = Math.max(0, Math.floor(Math.min(y0, y1) - reach));
  const i1 = Math.min(TOP_ROWS - 1, Math.floor(Math.max(y0, y1) + reach));
  const j0 = Math.max(0, Math.floor(Math.min(x0, x1) - reach));
  const j1 = Math.min(SIZE - 1, Math.floor(Math.max(x0, x1) + reach));
  for (let i = i0; i <= i1; i++) {
    const py = i + 0.5;
    for (let j = j0; j <= j1; j++) {
      const px = j + 0.5;
      let t = len2 > 0 ? ((px - x0) * dx + (py - y0) * dy) / len2 : 0;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      const ex = px - (x0 + t * dx), ey = py - (y0 + t * dy);
      const d = Math.sqrt(ex * ex + ey * ey);
      const v = d <= PEN_CORE ? 1 : d >= reach ? 0 : (reach - d) / PEN_EDGE;
      const k = i * SIZE + j;
      if (v > ink[k]!) ink[k] = v;
    }
  }
}

/**
 * Ink a list of strokes onto a fresh grid.
 *
 * @param strokes polylines in grid coordinates (a single point is a dot)
 * @returns the grid, values in [0, 1]
 */
export function inkStrokes(strokes: readonly (readonly Point[])[]): Float32Array {
  const ink = new Float32Array(SIZE * SIZE);
  for (const s of strokes) {
    for (let i = 0; i < s.length; i++) inkSegment(ink, s[i === 0 ? 0 : i - 1]!, s[i]!);
  }
  return ink;
}

/**
 * The grid as MNIST-style bytes (0 background, 255 full ink): the page's
 * input to the models, which read it as bytes / 255.
 *
 * @param ink the grid, values in [0, 1]
 * @returns `SIZE × SIZE` bytes
 */
export function inkBytes(ink: Float32Array): Uint8Array {
  const out = new Uint8Array(ink.length);
  for (let k = 0; k < ink.length; k++) out[k] = Math.round(ink[k]! * 255);
  return out;
}
