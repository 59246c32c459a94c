/**
 * Helpers that write WebAssembly binary modules by hand (the CPU backend's
 * SIMD kernels in `cpu/simd.ts` and the Philox generator in `random.ts`).
 *
 * @module
 */

/**
 * Unsigned LEB128 encoding of `n`.
 *
 * @param n a non-negative integer below 2^32
 * @returns its bytes
 */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/**
 * Signed LEB128 encoding of `v` (for `i32.const` / `i64.const` immediates).
 *
 * @param v an integer below 2^53 in magnitude
 * @returns its bytes
 */
export function sleb(v: number): number[] {
  let n = BigInt(v);
  const out: number[] = [];
  for (;;) {
    const byte = Number(n & 0x7fn);
    n >>= 7n;
    if ((n === 0n && (byte & 0x40) === 0) || (n === -1n && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/**
 * A section: id, byte length, contents.
 *
 * @param id the section id (1 type, 2 import, 3 function, 5 memory, 7 export, 10 code)
 * @param body its contents
 * @returns its bytes
 */
export function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

/**
 * A vector: count then items.
 *
 * @param items the encoded items
 * @returns its bytes
 */
export function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

/**
 * A WebAssembly module: magic, version 1, then the given sections.
 *
 * @param sections the encoded sections, in order
 * @returns the module's bytes
 */
export function wasm(...sections: number[][]): Uint8Array {
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...sections.flat()]);
}
