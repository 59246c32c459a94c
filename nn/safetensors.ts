/**
 * Reading and writing the safetensors format: an 8-byte little-endian header
 * length `N`, `N` bytes of UTF-8 JSON header
 * (`{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}`,
 * padded with spaces), then the raw little-endian tensor data. Offsets are
 * relative to the first byte after the header.
 *
 * Files written here are laid out as the reference implementation lays them
 * out: header keys sorted, the header padded so that the data section starts
 * on an 8-byte boundary, tensors stored back to back (no gaps, which strict
 * readers reject) with wider dtypes first, so that every tensor starts at a
 * multiple of its element size.
 *
 * @module
 */

/** The dtypes that {@linkcode encodeSafetensors} writes. */
export type SafetensorsWriteDtype = "F32" | "F64";

/**
 * The dtypes that {@linkcode decodeSafetensors} reads. Floating-point data of
 * at most 32 bits and small integers become `Float32Array`; `F64`, `I32`,
 * `U32`, `I64` and `U64` become `Float64Array` (64-bit integers beyond 2^53
 * lose precision).
 */
export type SafetensorsReadDtype =
  | "F64"
  | "F32"
  | "F16"
  | "BF16"
  | "I64"
  | "U64"
  | "I32"
  | "U32"
  | "I16"
  | "U16"
  | "I8"
  | "U8"
  | "BOOL";

/** One tensor to write: its dtype, its shape and its row-major data. */
export interface SafetensorsTensor {
  /** The stored dtype; must match the array type of `data`. */
  dtype: SafetensorsWriteDtype;
  /** The shape; `[]` is a scalar (one element). */
  shape: number[];
  /** Row-major elements, exactly the product of `shape` of them. */
  data: Float32Array | Float64Array;
}

/** One tensor read from a file. */
export interface DecodedSafetensorsTensor {
  /** The dtype of `data`: `"F32"` for a `Float32Array`, `"F64"` for a `Float64Array`. */
  dtype: SafetensorsWriteDtype;
  /** The dtype as stored in the file. */
  storedDtype: SafetensorsReadDtype;
  /** The shape. */
  shape: number[];
  /**
   * Row-major elements. Where the file stores F32 (F64) data aligned to 4 (8)
   * bytes on a little-endian host this is a view into the input bytes, not a
   * copy: copy it before changing the input.
   */
  data: Float32Array | Float64Array;
}

/** What {@linkcode decodeSafetensors} returns. */
export interface DecodedSafetensors {
  /** The tensors by name, in header order. */
  tensors: Record<string, DecodedSafetensorsTensor>;
  /** The `__metadata__` entries (an empty object when the file has none). */
  metadata: Record<string, string>;
}

/**
 * A safetensors file that cannot be read. The message names the source and,
 * where one is involved, the tensor: "Cannot read tensor 'w' from
 * 'model.safetensors': data_offsets [0, 100] hold 100 bytes but shape [256, 49]
 * of F32 needs 50176".
 */
export class SafetensorsError extends SyntaxError {
  /** Where the bytes came from (a path, or `"<buffer>"`). */
  readonly source: string;
  /** The tensor involved, or `undefined` for an error in the file as a whole. */
  readonly tensor: string | undefined;
  /**
   * Create the error.
   *
   * @param source where the bytes came from
   * @param tensor the tensor involved, if any
   * @param detail what is wrong, after the colon
   * @param options the underlying error, if any
   */
  constructor(source: string, tensor: string | undefined, detail: string, options?: ErrorOptions) {
    const what = tensor === undefined ? `'${source}'` : `tensor '${tensor}' from '${source}'`;
    super(`Cannot read ${what}: ${detail}`, options);
    this.name = "SafetensorsError";
    this.source = source;
    this.tensor = tensor;
  }
}

const ITEM_SIZE: Record<SafetensorsReadDtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  U64: 8,
  I32: 4,
  U32: 4,
  I16: 2,
  U16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A byte is a multiple of this many bytes into the data section where each tensor may start. */
const ALIGN = 8;

const METADATA_KEY = "__metadata__";

function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function shapeString(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/**
 * Encodes tensors and optional string metadata as a safetensors file.
 *
 * Header keys are sorted; the header is padded with spaces so the data starts
 * on an 8-byte boundary; tensors are stored back to back, F64 before F32 and
 * by name within a dtype, so each starts at a multiple of its element size.
 *
 * @param tensors the tensors by name (any name but `"__metadata__"`)
 * @param metadata string-to-string entries stored as `"__metadata__"`
 * @returns the file's bytes
 * @throws {TypeError} for a tensor whose shape, dtype or data do not agree
 */
export function encodeSafetensors(
  tensors: Record<string, SafetensorsTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const names = Object.keys(tensors).sort();
  for (const name of names) {
    const t = tensors[name];
    const bad = (detail: string) => new TypeError(`Cannot write tensor '${name}': ${detail}`);
    if (name === METADATA_KEY) throw bad(`the name "${METADATA_KEY}" is reserved`);
    if (t.dtype !== "F32" && t.dtype !== "F64") {
      throw bad(`dtype ${JSON.stringify(t.dtype)} is not F32 or F64`);
    }
    const want = t.dtype === "F32" ? Float32Array : Float64Array;
    if (!(t.data instanceof want)) {
      throw bad(`dtype ${t.dtype} needs a ${want.name}, got ${t.data?.constructor?.name}`);
    }
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(`shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`);
    }
    const n = elementCount(t.shape);
    if (t.data.length !== n) {
      throw bad(`shape ${shapeString(t.shape)} needs ${n} elements, data has ${t.data.length}`);
    }
  }
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") {
        throw new TypeError(`Cannot write metadata '${k}': value ${String(v)} is not a string`);
      }
    }
  }

  // Data order: wider dtypes first, then by name; no gaps.
  const order = [...names].sort((a, b) => {
    const d = ITEM_SIZE[tensors[b].dtype] - ITEM_SIZE[tensors[a].dtype];
    return d !== 0 ? d : a < b ? -1 : a > b ? 1 : 0;
  });
  const offsets = new Map<string, [number, number]>();
  let end = 0;
  for (const name of order) {
    const t = tensors[name];
    const size = t.data.length * ITEM_SIZE[t.dtype];
    offsets.set(name, [end, end + size]);
    end += size;
  }

  const header: Record<string, unknown> = {};
  if (metadata !== undefined && Object.keys(metadata).length > 0) {
    const sorted: Record<string, string> = {};
    for (const k of Object.keys(metadata).sort()) sorted[k] = metadata[k];
    header[METADATA_KEY] = sorted;
  }
  for (const name of names) {
    const t = tensors[name];
    define(header, name, { dtype: t.dtype, shape: [...t.shape], data_offsets: offsets.get(name) });
  }
  let headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(headerBytes.length / ALIGN) * ALIGN;
  if (padded !== headerBytes.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(headerBytes);
    headerBytes = p;
  }

  const out = new Uint8Array(8 + headerBytes.length + end);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  const base = 8 + headerBytes.length;
  for (const name of order) {
    const t = tensors[name];
    const [begin] = offsets.get(name)!;
    if (LITTLE_ENDIAN) {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), base + begin);
    } else if (t.dtype === "F32") {
      for (let i = 0; i < t.data.length; i++) {
        view.setFloat32(base + begin + 4 * i, t.data[i], true);
      }
    } else {
      for (let i = 0; i < t.data.length; i++) {
        view.setFloat64(base + begin + 8 * i, t.data[i], true);
      }
    }
  }
  return out;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Sets an own property, so that a key like "__proto__" stays a plain entry. */
function define<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function readData(
  bytes: Uint8Array,
  start: number,
  count: number,
  dtype: SafetensorsReadDtype,
): Float32Array | Float64Array {
  const abs = bytes.byteOffset + start;
  if (LITTLE_ENDIAN && dtype === "F32") {
    if (abs % 4 === 0) return new Float32Array(bytes.buffer, abs, count);
    return new Float32Array(bytes.slice(start, start + count * 4).buffer);
  }
  if (LITTLE_ENDIAN && dtype === "F64") {
    if (abs % 8 === 0) return new Float64Array(bytes.buffer, abs, count);
    return new Float64Array(bytes.slice(start, start + count * 8).buffer);
  }
  const view = new DataView(bytes.buffer, abs, count * ITEM_SIZE[dtype]);
  switch (dtype) {
    case "F32": {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    }
    case "F64": {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
      return out;
    }
    case "F16": {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
      return out;
    }
    case "BF16": {
      const out = new Float32Array(count);
      const word = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < count; i++) {
        word.setUint32(0, view.getUint16(2 * i, true) << 16);
        out[i] = word.getFloat32(0);
      }
      return out;
    }
    case "I64": {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = Number(view.getBigInt64(8 * i, true));
      return out;
    }
    case "U64": {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = Number(view.getBigUint64(8 * i, true));
      return out;
    }
    case "I32": {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, true);
      return out;
    }
    case "U32": {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getUint32(4 * i, true);
      return out;
    }
    case "I16": {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(2 * i, true);
      return out;
    }
    case "U16": {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getUint16(2 * i, true);
      return out;
    }
    case "I8": {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt8(i);
      return out;
    }
    case "U8":
    case "BOOL": {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getUint8(i);
      return out;
    }
  }
}

/**
 * Decodes a safetensors file.
 *
 * Reads F32 and F64 as they are (zero-copy views where the data is aligned to
 * its element size on a little-endian host, copies otherwise) and converts
 * F16, BF16, the integer dtypes and BOOL (see {@linkcode SafetensorsReadDtype}).
 * Tensors may overlap or appear out of order as long as each lies inside the
 * data section and holds exactly shape × itemsize bytes.
 *
 * @param bytes the whole file
 * @param source where the bytes came from, for error messages
 * @returns the tensors by name and the metadata
 * @throws {SafetensorsError} when the file is too short for its header, the
 *   header is not a JSON object of well-formed entries, a dtype is unknown, or
 *   a tensor's data_offsets are out of range or do not match its shape
 */
export function decodeSafetensors(bytes: Uint8Array, source = "<buffer>"): DecodedSafetensors {
  const fail = (detail: string, tensor?: string, cause?: unknown) =>
    new SafetensorsError(source, tensor, detail, cause === undefined ? undefined : { cause });
  if (bytes.length < 8) {
    throw fail(`file is ${bytes.length} bytes, too short for the 8-byte header length`);
  }
  const headerLen = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLen > BigInt(bytes.length - 8)) {
    throw fail(
      `header length ${headerLen} goes beyond the end of the file ` +
        `(${bytes.length} bytes, ${bytes.length - 8} after the length)`,
    );
  }
  const n = Number(headerLen);
  let header: unknown;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n));
    header = JSON.parse(text);
  } catch (e) {
    throw fail(
      `header is not UTF-8 JSON: ${e instanceof Error ? e.message : String(e)}`,
      undefined,
      e,
    );
  }
  if (!isRecord(header)) {
    throw fail(`header is not a JSON object but ${Array.isArray(header) ? "an array" : header}`);
  }

  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const tensors: Record<string, DecodedSafetensorsTensor> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (!isRecord(entry)) throw fail(`"${METADATA_KEY}" is not an object`);
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== "string") {
          throw fail(`"${METADATA_KEY}" entry '${k}' is ${JSON.stringify(v)}, not a string`);
        }
        define(metadata, k, v);
      }
      continue;
    }
    if (!isRecord(entry)) {
      throw fail(`header entry is ${JSON.stringify(entry)}, not an object`, name);
    }
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== "string" || !Object.hasOwn(ITEM_SIZE, dtype)) {
      throw fail(
        `unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(ITEM_SIZE).join(", ")})`,
        name,
      );
    }
    const dt = dtype as SafetensorsReadDtype;
    if (
      !Array.isArray(shape) ||
      !shape.every((d): d is number => Number.isSafeInteger(d) && d >= 0)
    ) {
      throw fail(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`, name);
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o): o is number => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      throw fail(
        `data_offsets ${JSON.stringify(offsets)} is not a pair [begin, end] of ` +
          `non-negative integers with begin <= end`,
        name,
      );
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataLen) {
      throw fail(
        `data_offsets [${begin}, ${end}] go beyond the ${dataLen}-byte data section ` +
          `(file truncated?)`,
        name,
      );
    }
    const count = elementCount(shape);
    const need = count * ITEM_SIZE[dt];
    if (end - begin !== need) {
      throw fail(
        `data_offsets [${begin}, ${end}] hold ${end - begin} bytes but shape ` +
          `${shapeString(shape)} of ${dt} needs ${need}`,
        name,
      );
    }
    const data = readData(bytes, dataStart + begin, count, dt);
    define(tensors, name, {
      dtype: data instanceof Float32Array ? "F32" : "F64",
      storedDtype: dt,
      shape: [...shape],
      data,
    });
  }
  return { tensors, metadata };
}
