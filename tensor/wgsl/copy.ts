/**
 * Strided copy WGSL: `dst[dstView(idx)] = src[srcView(idx)]` for every index
 * of the (merged) view shape.
 *
 * @module
 */
import { bindings, entry1d, PARAMS_WGSL, type ShaderSource } from "./common.ts";
import { MAX_DIMS } from "./elementwise.ts";

/** Parameter slot of the source offset in the strided layout. */
export const COPY_SRC_OFFSET_SLOT = 2 + 3 * MAX_DIMS;

/**
 * Copy shader.
 *
 * Bindings: `src` (read), `dst` (write). Invocation `gid` < n = P[0] copies
 * element `gid` of the view in row-major order.
 *
 * - `contiguous`: P = [n, srcOffset, dstOffset]; both views are contiguous
 *   after merging dimensions.
 * - `strided`: P = [n, ndim, shape × {@link MAX_DIMS}, src strides (i32) ×
 *   {@link MAX_DIMS}, dst strides (i32) × {@link MAX_DIMS}, srcOffset,
 *   dstOffset]; strides may be negative or 0.
 *
 * @param strided whether the views need the N-d decomposition
 * @returns the shader
 */
export function copyShader(strided: boolean): ShaderSource {
  const s = 2 + MAX_DIMS, d = 2 + 2 * MAX_DIMS, o = COPY_SRC_OFFSET_SLOT;
  const body = strided
    ? `  if (gid >= pu(0u)) { return; }
  var si = pi(${o}u);
  var di = pi(${o + 1}u);
  var rem = gid;
  for (var k = i32(pu(1u)) - 1; k >= 0; k--) {
    let size = pu(2u + u32(k));
    let c = i32(rem % size);
    rem = rem / size;
    si += c * pi(${s}u + u32(k));
    di += c * pi(${d}u + u32(k));
  }
  dst[u32(di)] = src[u32(si)];`
    : `  if (gid >= pu(0u)) { return; }
  dst[pu(2u) + gid] = src[pu(1u) + gid];`;
  const code = PARAMS_WGSL + bindings(["src"], ["dst"]) + entry1d(body);
  return { key: `copy:${strided ? "strided" : "contiguous"}`, code, reads: 1, writes: 1 };
}

/**
 * Row copy over vec4s: a 2-D view of `rows` × `cols` elements whose rows
 * are contiguous on both sides, with cols, both row strides and both offsets
 * multiples of 4 (the slices and shifts of the recurrent layers). No index
 * decomposition loop; one invocation per vec4.
 *
 * Bindings: P = [n4 = rows · cols / 4, cols / 4, srcOffset / 4, srcStride / 4,
 * dstOffset / 4, dstStride / 4]; `src` (read), `dst` (write), both
 * `array<vec4<f32>>`.
 *
 * @returns the shader
 */
export function copyRows4Shader(): ShaderSource {
  const body = `  if (gid >= pu(0u)) { return; }
  let c4 = pu(1u);
  let r = gid / c4; let c = gid - r * c4;
  dst[pu(4u) + r * pu(5u) + c] = src[pu(2u) + r * pu(3u) + c];`;
  const code = PARAMS_WGSL + bindings(["src"], ["dst"], "vec4<f32>") + entry1d(body);
  return { key: "copy:rows4", code, reads: 1, writes: 1 };
}
