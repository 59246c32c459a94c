/**
 * `memory()`: live tensors and bytes, plus the backends' own counters
 * (GPU buffers, pooled bytes, submits) where they keep them.
 *
 * @module
 */
import { liveTensorCount } from "./engine.ts";
import { liveTensorBytes } from "./tensor.ts";
import { getBackend } from "./engine.ts";
import type { BackendName } from "./backend.ts";

/** What {@link memory} reports. */
export interface MemoryInfo {
  /** Live (not disposed) tensor objects, graph-saved aliases included. */
  tensors: number;
  /** Bytes of the memory those tensors hold (shared memory counted once). */
  bytes: number;
  /** Per-backend counters (for WebGPU: buffers, pooled bytes, submits, readbacks…). */
  backends: Partial<Record<BackendName, Record<string, number>>>;
}

/**
 * Report live tensors and memory.
 *
 * @returns counts of live tensors and bytes and each initialised backend's counters
 */
export function memory(): MemoryInfo {
  const backends: MemoryInfo["backends"] = {};
  for (const name of ["cpu", "webgpu"] as const) {
    try {
      const b = getBackend(name) as { stats?: () => Record<string, number> };
      if (typeof b.stats === "function") backends[name] = b.stats();
    } catch {
      // backend not initialised
    }
  }
  return { tensors: liveTensorCount(), bytes: liveTensorBytes(), backends };
}
