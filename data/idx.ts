/**
 * Reader and writer for the IDX format of the MNIST files
 * (http://yann.lecun.com/exdb/mnist/): a big-endian header of a magic number
 * `0x0000 TT DD` (TT = element type, DD = number of dimensions), `DD` 32-bit
 * sizes, then the elements. Only unsigned bytes (type `0x08`) are supported,
 * which is what MNIST and its relatives (Fashion-MNIST, EMNIST, KMNIST) use.
 *
 * Files may be raw or gzip-compressed; gzip is detected by its `1f 8b` magic.
 * Every problem is a {@link DataError} that names the file and what was wrong.
 *
 * @module
 */

import { builtin, writeFileAtomicSync } from "./files.ts";

/**
 * A data file that cannot be used: missing, truncated, corrupt or of the wrong
 * kind. The message says which file and what was wrong; `file` holds the path.
 *
 * @example
 * ```ts
 * import { DataError } from "./idx.ts";
 * const e = new DataError("/tmp/x", "Cannot read MNIST images from '/tmp/x': file not found");
 * console.assert(e.file === "/tmp/x");
 * ```
 */
export class DataError extends Error {
  /** The path of the file that was being read. */
  readonly file: string;

  /**

   * Create the error.

   *
   * @param file the path of the offending file
   * @param message the full, human-readable message
   * @param options standard error options (e.g. `cause`)
   */
  constructor(file: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DataError";
    this.file = file;
  }
}

/** The kinds of IDX file that MNIST uses, with their magic numbers. */
export type IdxKind = "images" | "labels";

/** Magic number of an IDX file of unsigned-byte labels: type 0x08, 1 dimension. */
export const IDX_LABELS_MAGIC = 0x00000801;
/** Magic number of an IDX file of unsigned-byte images: type 0x08, 3 dimensions. */
export const IDX_IMAGES_MAGIC = 0x00000803;

/** The contents of an IDX file of unsigned bytes. */
export interface IdxArray {
  /** The declared sizes, e.g. `[60000, 28, 28]` for images or `[60000]` for labels. */
  dims: number[];
  /** The elements in row-major order; `data.length` is the product of `dims`. */
  data: Uint8Array;
}

/** Options of {@link parseIdx} and {@link readIdx}. */
export interface ReadIdxOptions {
  /**
   * The expected kind: "images" demands magic 0x00000803 (3 dimensions),
   * "labels" demands 0x00000801 (1 dimension). Without it any unsigned-byte IDX
   * file with 1 to 4 dimensions is accepted.
   */
  kind?: IdxKind;
  /**
   * What the file should contain, for messages: "Cannot read {what} from 'path'".
   * Defaults to "MNIST images" / "MNIST labels" / "IDX data" after `kind`.
   */
  what?: string;
}

const TYPE_NAMES: Record<number, string> = {
  0x08: "unsigned byte",
  0x09: "signed byte",
  0x0b: "16-bit integer",
  0x0c: "32-bit integer",
  0x0d: "32-bit float",
  0x0e: "64-bit float",
};

function hex8(n: number): string {
  return "0x" + (n >>> 0).toString(16).padStart(8, "0");
}

function describe(opts: ReadIdxOptions | undefined): string {
  if (opts?.what) return opts.what;
  if (opts?.kind === "images") return "MNIST images";
  if (opts?.kind === "labels") return "MNIST labels";
  return "IDX data";
}

/** True when `bytes` starts with the gzip magic `1f 8b`. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Parse the bytes of an IDX file (raw or gzip) already in memory.
 *
 * The magic number, the number of dimensions (against `opts.kind`), and the
 * file length against the declared sizes are all checked; a short file is
 * reported as truncated, a long one as having trailing bytes.
 *
 * @param bytes the file contents
 * @param file the path, used only in error messages
 * @param opts expected kind and description
 * @returns the sizes and a view of the elements (no copy for raw input)
 * @throws {DataError} when the contents are not a valid IDX file of that kind
 * @example
 * ```ts
 * import { encodeIdx, parseIdx } from "./idx.ts";
 * const bytes = encodeIdx([3], new Uint8Array([1, 2, 3]));
 * console.assert(parseIdx(bytes, "mem", { kind: "labels" }).data[2] === 3);
 * ```
 */
export function parseIdx(bytes: Uint8Array, file: string, opts?: ReadIdxOptions): IdxArray {
  const prefix = `Cannot read ${describe(opts)} from '${file}'`;
  const fail = (what: string, cause?: unknown): never => {
    throw new DataError(file, `${prefix}: ${what}`, cause === undefined ? undefined : { cause });
  };
  let raw = bytes;
  if (isGzip(bytes)) {
    const { gunzipSync } = builtin("node:zlib");
    try {
      raw = new Uint8Array(gunzipSync(bytes));
    } catch (e) {
      fail(
        `gzip data is corrupt or truncated (${e instanceof Error ? e.message : String(e)})`,
        e,
      );
    }
  }
  if (raw.length < 4) {
    fail(`file is truncated: expected at least a 4-byte header, found ${raw.length} bytes`);
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const magic = view.getUint32(0, false);
  const type = (magic >>> 8) & 0xff;
  const ndim = magic & 0xff;
  const expectedMagic = opts?.kind === "images"
    ? IDX_IMAGES_MAGIC
    : opts?.kind === "labels"
    ? IDX_LABELS_MAGIC
    : undefined;
  if ((magic >>> 16) !== 0 || TYPE_NAMES[type] === undefined) {
    fail(
      `not an IDX file: bad magic number ${hex8(magic)}` +
        (expectedMagic !== undefined ? ` (expected ${hex8(expectedMagic)})` : ""),
    );
  }
  if (type !== 0x08) {
    fail(
      `unsupported element type 0x${type.toString(16).padStart(2, "0")} (${TYPE_NAMES[type]}); ` +
        `only unsigned bytes (0x08) are supported`,
    );
  }
  if (expectedMagic !== undefined && magic !== expectedMagic) {
    const got = ndim === 1
      ? "labels (1 dimension)"
      : ndim === 3
      ? "images (3 dimensions)"
      : `${ndim} dimensions`;
    fail(
      `wrong magic number ${hex8(magic)}, expected ${hex8(expectedMagic)} for ${opts!.kind}; ` +
        `the file holds ${got}`,
    );
  }
  if (ndim < 1 || ndim > 4) fail(`unsupported number of dimensions ${ndim} (expected 1 to 4)`);
  const headerBytes = 4 + 4 * ndim;
  if (raw.length < headerBytes) {
    fail(`file is truncated: expected a ${headerBytes}-byte header, found ${raw.length} bytes`);
  }
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < ndim; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    count *= d;
  }
  const expected = headerBytes + count;
  if (!Number.isSafeInteger(expected)) fail(`declared sizes [${dims.join(", ")}] are too large`);
  if (raw.length < expected) {
    fail(
      `file is truncated: expected ${expected} bytes, found ${raw.length}` +
        ` (header declares sizes [${dims.join(", ")}])`,
    );
  }
  if (raw.length > expected) {
    fail(
      `file has ${raw.length - expected} unexpected trailing bytes: expected ${expected} bytes, ` +
        `found ${raw.length} (header declares sizes [${dims.join(", ")}])`,
    );
  }
  return { dims, data: raw.subarray(headerBytes, expected) };
}

function readFailure(path: string, opts: ReadIdxOptions | undefined, e: unknown): DataError {
  const code = (e as { code?: string } | null)?.code;
  const why = code === "ENOENT"
    ? "file not found"
    : code === "EISDIR"
    ? "it is a directory, not a file"
    : code === "EACCES"
    ? "permission denied"
    : e instanceof Error
    ? e.message
    : String(e);
  return new DataError(path, `Cannot read ${describe(opts)} from '${path}': ${why}`, { cause: e });
}

/**
 * Read and parse an IDX file (raw or gzip).
 *
 * @param path the file to read
 * @param opts expected kind and description
 * @returns the sizes and the elements
 * @throws {DataError} when the file is missing, unreadable or invalid
 * @example
 * ```ts
 * import { readIdx } from "./idx.ts";
 * const labels = await readIdx("t10k-labels-idx1-ubyte", { kind: "labels" }).catch(() => null);
 * ```
 */
export async function readIdx(path: string, opts?: ReadIdxOptions): Promise<IdxArray> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await builtin("node:fs/promises").readFile(path));
  } catch (e) {
    throw readFailure(path, opts, e);
  }
  return parseIdx(bytes, path, opts);
}

/**
 * Synchronous {@link readIdx}.
 *
 * @param path the file to read
 * @param opts expected kind and description
 * @returns the sizes and the elements
 * @throws {DataError} when the file is missing, unreadable or invalid
 */
export function readIdxSync(path: string, opts?: ReadIdxOptions): IdxArray {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(builtin("node:fs").readFileSync(path));
  } catch (e) {
    throw readFailure(path, opts, e);
  }
  return parseIdx(bytes, path, opts);
}

/**
 * Encode unsigned bytes as an IDX file (magic `0x000008DD`, big-endian sizes).
 *
 * @param dims the sizes, 1 to 255 of them
 * @param data the elements; its length must be the product of `dims`
 * @param opts `gzip: true` compresses the result
 * @returns the file contents
 * @example
 * ```ts
 * import { encodeIdx } from "./idx.ts";
 * const bytes = encodeIdx([2, 2, 2], new Uint8Array(8));
 * console.assert(bytes.length === 16 + 8);
 * ```
 */
export function encodeIdx(
  dims: readonly number[],
  data: Uint8Array,
  opts?: { gzip?: boolean },
): Uint8Array {
  if (dims.length < 1 || dims.length > 255) {
    throw new RangeError(`Cannot encode IDX: need 1 to 255 dimensions, got ${dims.length}`);
  }
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new RangeError(
      `Cannot encode IDX: sizes [${
        dims.join(", ")
      }] hold ${count} elements, data has ${data.length}`,
    );
  }
  const header = 4 + 4 * dims.length;
  const out = new Uint8Array(header + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x00000800 | dims.length, false);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, header);
  return opts?.gzip ? new Uint8Array(builtin("node:zlib").gzipSync(out)) : out;
}

/**
 * Write an IDX file (used by tests and by tools that export data). The file is
 * written to a temporary name and renamed, so readers never see half a file.
 *
 * @param path where to write; parent folders are created
 * @param dims the sizes
 * @param data the elements
 * @param opts `gzip: true` writes a gzip-compressed file
 * @example
 * ```ts
 * import { writeIdx } from "./idx.ts";
 * writeIdx(Deno.makeTempDirSync() + "/labels-idx1-ubyte", [3], new Uint8Array([5, 0, 4]));
 * ```
 */
export function writeIdx(
  path: string,
  dims: readonly number[],
  data: Uint8Array,
  opts?: { gzip?: boolean },
): void {
  writeFileAtomicSync(path, encodeIdx(dims, data, opts));
}
