/**
 * Pictures a person looks at: PNG encoding of grayscale and RGB images,
 * grids of digits (with an optional coloured seam and tinted regions), and
 * decoding of a user's PNG to grayscale. PNG coding is done by the npm package
 * `fast-png`.
 *
 * @example
 * ```ts
 * import { imageGridPng } from "./png.ts";
 * import { writeFileAtomic } from "./files.ts";
 * const images = new Float32Array(4 * 28 * 28).fill(0.5);
 * const png = imageGridPng({ images, n: 4, h: 28, w: 28, cols: 2, pad: 2, scale: 2, seamRow: 14 });
 * await writeFileAtomic(Deno.makeTempDirSync() + "/grid.png", png);
 * ```
 *
 * @module
 */

import { decode, encode } from "fast-png";

/** An RGB colour, each channel 0..255. */
export type Rgb = readonly [number, number, number];

function toByte(v: number): number {
  if (!(v > 0)) return 0; // also NaN
  if (v >= 1) return 255;
  return Math.round(v * 255);
}

function toBytes(src: Uint8Array | Float32Array, name: string, expected: number): Uint8Array {
  if (src.length !== expected) {
    throw new RangeError(`${name}: expected ${expected} values, got ${src.length}`);
  }
  if (src instanceof Uint8Array) return src;
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = toByte(src[i]!);
  return out;
}

function checkSize(name: string, width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(
      `${name}: width and height must be positive integers, got ${width}×${height}`,
    );
  }
}

/**
 * Encode a grayscale image as an 8-bit grayscale PNG.
 *
 * @param gray `height × width` pixels, row-major: bytes, or floats in [0, 1]
 *   (clamped, rounded to the nearest of 256 levels)
 * @param width image width in pixels
 * @param height image height in pixels
 * @returns the PNG file bytes
 * @example
 * ```ts
 * import { encodePng } from "./png.ts";
 * const png = encodePng(new Float32Array(28 * 28), 28, 28);
 * console.assert(png[1] === 0x50); // "PNG"
 * ```
 */
export function encodePng(
  gray: Uint8Array | Float32Array,
  width: number,
  height: number,
): Uint8Array {
  checkSize("encodePng", width, height);
  const data = toBytes(gray, "encodePng", width * height);
  return encode({ width, height, data, channels: 1, depth: 8 });
}

/**
 * Encode an RGB image as an 8-bit RGB PNG.
 *
 * @param rgb `height × width × 3` values, row-major, interleaved R,G,B: bytes,
 *   or floats in [0, 1]
 * @param width image width in pixels
 * @param height image height in pixels
 * @returns the PNG file bytes
 */
export function encodePngRgb(
  rgb: Uint8Array | Float32Array,
  width: number,
  height: number,
): Uint8Array {
  checkSize("encodePngRgb", width, height);
  const data = toBytes(rgb, "encodePngRgb", width * height * 3);
  return encode({ width, height, data, channels: 3, depth: 8 });
}

/** A decoded grayscale picture. */
export interface GrayImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** `height × width` values in [0, 1], row-major (0 = black, 1 = white). */
  pixels: Float32Array;
}

/** Options of {@link decodePngGray}. */
export interface DecodePngOptions {
  /**
   * What transparent pixels are composited over (default "white", as image
   * viewers show them). Use "black" for white strokes on a transparent background.
   */
  background?: "white" | "black";
  /**
   * The size the image must have. Checked against the PNG header before
   * anything is decoded, so a huge image is refused at once instead of after
   * allocating its pixels.
   */
  expect?: { width: number; height: number };
}

/** What a PNG header says about the image. */
export interface PngHeader {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Bits per sample (1, 2, 4, 8 or 16). */
  depth: number;
  /** PNG colour type (0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA). */
  colorType: number;
}

const PNG_SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

/**
 * Read a PNG's size from its signature and IHDR chunk (the first 33 bytes),
 * without decoding the image.
 *
 * @param bytes the PNG file contents (or at least its first 33 bytes)
 * @returns width, height, bit depth and colour type
 * @throws {Error} when the bytes do not start with a PNG signature and an IHDR chunk
 * @example
 * ```ts
 * import { encodePng, pngHeader } from "./png.ts";
 * console.assert(pngHeader(encodePng(new Uint8Array(6), 3, 2)).width === 3);
 * ```
 */
export function pngHeader(bytes: Uint8Array): PngHeader {
  if (bytes.length < 8 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b)) {
    throw new Error("not a PNG file (wrong signature)");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (
    bytes.length < 33 || view.getUint32(8) !== 13 ||
    String.fromCharCode(...bytes.subarray(12, 16)) !== "IHDR"
  ) {
    throw new Error("not a PNG file (no IHDR chunk after the signature)");
  }
  const width = view.getUint32(16), height = view.getUint32(20);
  if (width === 0 || height === 0) throw new Error(`PNG header gives a size of ${width}×${height}`);
  return { width, height, depth: bytes[24]!, colorType: bytes[25]! };
}

/**
 * Decode a PNG (any colour type and bit depth: gray, gray+alpha, RGB, RGBA,
 * palette; 1 to 16 bits) to grayscale in [0, 1]. Colour is converted with the
 * BT.601 luma weights (0.299 R + 0.587 G + 0.114 B); alpha is composited over
 * `opts.background`. With `opts.expect` the size is checked in the header
 * first; otherwise it is returned as is.
 *
 * @param bytes the PNG file contents
 * @param opts background for transparent pixels
 * @returns width, height and gray pixels
 * @throws {Error} when the bytes are not a valid PNG (the message of fast-png),
 *   or, with `opts.expect`, when the header gives another size (before decoding)
 * @example
 * ```ts
 * import { decodePngGray, encodePng } from "./png.ts";
 * const img = decodePngGray(encodePng(new Uint8Array([0, 255]), 2, 1));
 * console.assert(img.width === 2 && img.pixels[1] === 1);
 * ```
 */
export function decodePngGray(bytes: Uint8Array, opts: DecodePngOptions = {}): GrayImage {
  if (opts.expect) {
    const { width, height } = pngHeader(bytes);
    if (width !== opts.expect.width || height !== opts.expect.height) {
      throw new RangeError(
        `the image is ${width}×${height}, not ${opts.expect.width}×${opts.expect.height}`,
      );
    }
  }
  const png = decode(bytes);
  const { width, height } = png;
  const n = width * height;
  const bg = (opts.background ?? "white") === "white" ? 1 : 0;
  let channels = png.channels;
  let max = (1 << png.depth) - 1;
  let samples: ArrayLike<number>;
  if (png.palette) {
    // Palette entries are [r, g, b] or [r, g, b, a] (8 bits each).
    const pal = png.palette;
    const idx = unpackBits(png.data as Uint8Array, width, height, 1, png.depth);
    channels = pal[0]?.length ?? 3;
    const out = new Uint8Array(n * channels);
    for (let i = 0; i < n; i++) {
      const c = pal[idx[i]!];
      if (c === undefined) throw new Error(`PNG palette index ${idx[i]} out of range`);
      for (let k = 0; k < channels; k++) out[i * channels + k] = c[k] ?? 255;
    }
    samples = out;
    max = 255;
  } else if (png.depth < 8) {
    samples = unpackBits(png.data as Uint8Array, width, height, channels, png.depth);
  } else {
    samples = png.data;
  }
  const pixels = new Float32Array(n);
  const hasAlpha = channels === 2 || channels === 4;
  for (let i = 0; i < n; i++) {
    const s = i * channels;
    let g: number;
    if (channels <= 2) g = samples[s]! / max;
    else {
      g = (0.299 * samples[s]! + 0.587 * samples[s + 1]! + 0.114 * samples[s + 2]!) / max;
    }
    if (hasAlpha) {
      const a = samples[s + channels - 1]! / max;
      g = g * a + bg * (1 - a);
    }
    pixels[i] = Math.min(1, Math.max(0, g));
  }
  return { width, height, pixels };
}

/** Unpack 1/2/4/8-bit samples (rows padded to whole bytes) to one byte each. */
function unpackBits(
  data: Uint8Array,
  width: number,
  height: number,
  channels: number,
  depth: number,
): Uint8Array {
  const perRow = width * channels;
  if (depth === 8) return data.subarray(0, perRow * height);
  const rowBytes = Math.ceil((perRow * depth) / 8);
  const out = new Uint8Array(perRow * height);
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < perRow; x++) {
      const bit = x * depth;
      const byte = data[y * rowBytes + (bit >> 3)]!;
      out[y * perRow + x] = (byte >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}

/** Options of {@link imageGrid}. */
export interface ImageGridOptions {
  /** `n × h × w` pixels, row-major: floats in [0, 1] (clamped) or bytes. */
  images: Float32Array | Uint8Array;
  /** Number of images. */
  n: number;
  /** Image height in pixels. */
  h: number;
  /** Image width in pixels. */
  w: number;
  /** Images per grid row. */
  cols: number;
  /** Padding in output pixels between cells and around the grid (default 2). */
  pad?: number;
  /** Integer upscale of each image pixel (nearest neighbour; default 1). */
  scale?: number;
  /**
   * Draw a seam across every cell at the top edge of this image row (e.g. 14
   * marks where the given top half ends and the generated bottom half starts).
   */
  seamRow?: number;
  /** Seam colour (default red `[255, 64, 64]`). */
  seamColor?: Rgb;
  /** Seam thickness in output pixels (default `max(1, round(scale / 4))`). */
  seamWidth?: number;
  /**
   * Pixels to tint: `n × h × w` or `h × w` (shared by all cells); where the
   * mask is non-zero the gray value `v` is drawn as `v · maskColor`, e.g. to
   * show generated pixels in another colour than given ones.
   */
  mask?: Uint8Array | Float32Array;
  /** Tint of masked pixels (default light blue `[90, 200, 255]`). */
  maskColor?: Rgb;
  /** Colour of the padding and of empty cells (default gray `[96, 96, 96]`). */
  padColor?: Rgb;
}

/** An RGB picture: `height × width × 3` bytes, row-major, interleaved. */
export interface RgbImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** The pixels, R,G,B per pixel. */
  rgb: Uint8Array;
}

/**
 * Compose images into a grid picture. Cell `k` sits at grid row
 * `⌊k / cols⌋`, column `k mod cols`; the picture is
 * `cols·w·scale + (cols+1)·pad` wide and `rows·h·scale + (rows+1)·pad` high
 * with `rows = ⌈n / cols⌉`. Cell `k`'s top-left pixel is at
 * `(pad + c·(w·scale + pad), pad + r·(h·scale + pad))`.
 *
 * @param opts images, geometry, and optional seam and mask
 * @returns the RGB picture (encode it with {@link encodePngRgb}, or use {@link imageGridPng})
 * @example
 * ```ts
 * import { imageGrid } from "./png.ts";
 * const g = imageGrid({ images: new Float32Array(3 * 4), n: 3, h: 2, w: 2, cols: 2, pad: 1 });
 * console.assert(g.width === 2 * 2 + 3 && g.height === 2 * 2 + 3);
 * ```
 */
export function imageGrid(opts: ImageGridOptions): RgbImage {
  const { images, n, h, w, cols } = opts;
  const pad = opts.pad ?? 2;
  const scale = opts.scale ?? 1;
  for (const [k, v] of [["n", n], ["h", h], ["w", w], ["cols", cols], ["scale", scale]] as const) {
    if (!Number.isInteger(v) || v < (k === "n" ? 0 : 1)) {
      throw new RangeError(`imageGrid: ${k} must be a positive integer, got ${v}`);
    }
  }
  if (!Number.isInteger(pad) || pad < 0) {
    throw new RangeError(`imageGrid: pad must be a non-negative integer, got ${pad}`);
  }
  const px = h * w;
  if (images.length < n * px) {
    throw new RangeError(
      `imageGrid: ${n} images of ${h}×${w} need ${n * px} values, got ${images.length}`,
    );
  }
  const mask = opts.mask;
  const maskShared = mask !== undefined && mask.length === px;
  if (mask !== undefined && !maskShared && mask.length < n * px) {
    throw new RangeError(
      `imageGrid: mask must have ${px} (shared) or ${n * px} values, got ${mask.length}`,
    );
  }
  const maskColor = opts.maskColor ?? [90, 200, 255];
  const padColor = opts.padColor ?? [96, 96, 96];
  const seamColor = opts.seamColor ?? [255, 64, 64];
  const seamWidth = opts.seamWidth ?? Math.max(1, Math.round(scale / 4));
  const gridRows = Math.max(1, Math.ceil(n / cols));
  const cw = w * scale, ch = h * scale;
  const width = cols * cw + (cols + 1) * pad;
  const height = gridRows * ch + (gridRows + 1) * pad;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    rgb[3 * i] = padColor[0];
    rgb[3 * i + 1] = padColor[1];
    rgb[3 * i + 2] = padColor[2];
  }
  const bytes = images instanceof Uint8Array;
  for (let k = 0; k < n; k++) {
    const x0 = pad + (k % cols) * (cw + pad);
    const y0 = pad + Math.floor(k / cols) * (ch + pad);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const src = k * px + y * w + x;
        const g = bytes ? images[src]! : toByte(images[src]!);
        let r = g, gg = g, b = g;
        if (mask !== undefined && mask[maskShared ? y * w + x : src]! !== 0) {
          r = Math.round((g * maskColor[0]) / 255);
          gg = Math.round((g * maskColor[1]) / 255);
          b = Math.round((g * maskColor[2]) / 255);
        }
        for (let sy = 0; sy < scale; sy++) {
          let o = 3 * ((y0 + y * scale + sy) * width + x0 + x * scale);
          for (let sx = 0; sx < scale; sx++, o += 3) {
            rgb[o] = r;
            rgb[o + 1] = gg;
            rgb[o + 2] = b;
          }
        }
      }
    }
    if (opts.seamRow !== undefined && opts.seamRow > 0 && opts.seamRow < h) {
      const top = y0 + opts.seamRow * scale - Math.floor(seamWidth / 2);
      for (let yy = Math.max(y0, top); yy < Math.min(y0 + ch, top + seamWidth); yy++) {
        for (let xx = x0; xx < x0 + cw; xx++) {
          const o = 3 * (yy * width + xx);
          rgb[o] = seamColor[0];
          rgb[o + 1] = seamColor[1];
          rgb[o + 2] = seamColor[2];
        }
      }
    }
  }
  return { width, height, rgb };
}

/**
 * {@link imageGrid} encoded as an RGB PNG.
 *
 * @param opts as {@link imageGrid}
 * @returns the PNG file bytes
 */
export function imageGridPng(opts: ImageGridOptions): Uint8Array {
  const g = imageGrid(opts);
  return encodePngRgb(g.rgb, g.width, g.height);
}
