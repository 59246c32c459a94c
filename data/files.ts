/**
 * File helpers shared by pictures, metrics and checkpoints.
 *
 * @module
 */

/** The Node built-in modules the file functions use, by specifier. */
export interface Builtins {
  /** Synchronous file access. */
  "node:fs": typeof import("node:fs");
  /** Asynchronous file access. */
  "node:fs/promises": typeof import("node:fs/promises");
  /** Path joining and splitting. */
  "node:path": typeof import("node:path");
  /** gzip. */
  "node:zlib": typeof import("node:zlib");
  /** `createRequire` (package resolution). */
  "node:module": typeof import("node:module");
}

/**
 * A Node built-in module, fetched when a function that touches files first
 * needs it (`process.getBuiltinModule`, which Deno and Node provide). No
 * module of this package imports `node:` at its top, so the package loads in a
 * browser page, where the in-memory functions work and the file functions
 * throw this error.
 *
 * @param name the specifier
 * @returns the module
 * @throws Error when the runtime has no Node built-ins (a browser)
 */
export function builtin<K extends keyof Builtins>(name: K): Builtins[K] {
  const proc = (globalThis as { process?: { getBuiltinModule?(id: string): unknown } }).process;
  const m = proc?.getBuiltinModule?.(name);
  if (!m) {
    throw new Error(`Cannot use ${name}: this runtime has no file system (it needs Deno or Node)`);
  }
  return m as Builtins[K];
}

function tempName(path: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return `${path}.tmp-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function toBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === "string" ? new TextEncoder().encode(data) : data;
}

/** The error of a failed write, naming the destination (not the temporary file). */
function writeError(path: string, e: unknown): Error {
  const code = (e as { code?: string })?.code;
  const why = code === "ENOSPC"
    ? "no space left on the device"
    : code === "EFBIG"
    ? "the file is larger than this process may write (file size limit)"
    : code === "EACCES" || code === "EPERM" ||
        (typeof Deno !== "undefined" &&
          (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable))
    ? `permission denied (${e instanceof Error ? e.message : String(e)})`
    : e instanceof Error
    ? e.message
    : String(e);
  return new Error(`Cannot write '${path}': ${why}`, { cause: e });
}

/** {@link builtin} for a write to `path`: the error of a runtime without files names it. */
function forWrite<K extends keyof Builtins>(path: string, name: K): Builtins[K] {
  try {
    return builtin(name);
  } catch (e) {
    throw writeError(path, e);
  }
}

/**
 * Write a file atomically: the bytes go to `path.tmp-<random>` in the same
 * folder, are flushed to disk, and the temporary file is renamed over `path`.
 * A reader (or a crash) sees either the old file or the complete new one, never
 * a partial write. Parent folders are created. On failure the temporary file
 * is removed and an error naming `path` and the reason (no space left,
 * permission denied, …) is thrown, with the system's error as its `cause`.
 *
 * @param path the destination
 * @param data the bytes, or text written as UTF-8
 * @example
 * ```ts
 * import { writeFileAtomic } from "./files.ts";
 * await writeFileAtomic(Deno.makeTempDirSync() + "/metrics.json", '{"loss":0.1}\n');
 * ```
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempName(path);
  const { mkdir, open, rename, rm } = forWrite(path, "node:fs/promises");
  try {
    await mkdir(builtin("node:path").dirname(path), { recursive: true });
    const fh = await open(tmp, "wx");
    try {
      await fh.writeFile(toBytes(data));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw writeError(path, e);
  }
}

/**
 * Synchronous {@link writeFileAtomic}.
 *
 * @param path the destination
 * @param data the bytes, or text written as UTF-8
 * @example
 * ```ts
 * import { writeFileAtomicSync } from "./files.ts";
 * writeFileAtomicSync(Deno.makeTempDirSync() + "/a.txt", "hello\n");
 * ```
 */
export function writeFileAtomicSync(path: string, data: Uint8Array | string): void {
  const tmp = tempName(path);
  const { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } = forWrite(
    path,
    "node:fs",
  );
  try {
    mkdirSync(builtin("node:path").dirname(path), { recursive: true });
    const fd = openSync(tmp, "wx");
    try {
      const bytes = toBytes(data);
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try {
      rmSync(tmp, { force: true });
    } catch { /* already gone */ }
    throw writeError(path, e);
  }
}
