/**
 * File helpers shared by pictures, metrics and checkpoints.
 *
 * @module
 */

import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";

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
    : code === "EACCES" || code === "EPERM" || e instanceof Deno.errors.PermissionDenied ||
        e instanceof Deno.errors.NotCapable
    ? `permission denied (${e instanceof Error ? e.message : String(e)})`
    : e instanceof Error
    ? e.message
    : String(e);
  return new Error(`Cannot write '${path}': ${why}`, { cause: e });
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
  try {
    await mkdir(dirname(path), { recursive: true });
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
  try {
    mkdirSync(dirname(path), { recursive: true });
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
