/**
 * Shared WebGPU setup for tests: one lazily created backend per test process,
 * and a way to declare GPU tests that report as ignored (never passed) when
 * there is no adapter — or fail when the environment demands a GPU (`CI` or
 * `WGRAD_REQUIRE_GPU=1`).
 *
 * @module
 */
import { requestWebGPU } from "../tensor/webgpu/device.ts";
import type { WebGPUBackend } from "../tensor/webgpu/backend.ts";
import type { Backend, Storage } from "../tensor/backend.ts";
import { gpuRequired } from "./_env.ts";
import { init } from "../tensor/engine.ts";

export { gpuRequired };

let probe: Promise<WebGPUBackend | null> | null = null;

/**
 * The process's WebGPU backend, or null when no adapter exists.
 *
 * @returns the backend or null
 * @throws Error when no adapter exists and {@link gpuRequired} is true
 */
export function gpuBackend(): Promise<WebGPUBackend | null> {
  probe ??= requestWebGPU().then((got) => {
    if ("error" in got) {
      if (gpuRequired()) {
        throw new Error(`A WebGPU adapter is required (CI or WGRAD_REQUIRE_GPU=1): ${got.error}`);
      }
      console.error(`wgrad tests: WebGPU tests ignored: ${got.error}`);
      return null;
    }
    return got.backend;
  });
  return probe;
}

/** Whether an adapter exists (resolved once, before tests are registered). */
const available: boolean = await (async () => {
  if (gpuRequired()) return true; // register the tests so that they fail loudly
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (!gpu) return false;
  return (await gpuBackend()) !== null;
})();

/**
 * Declare a test that needs the WebGPU backend. Without an adapter it is
 * registered with `ignore: true` (reported as ignored), unless a GPU is
 * required, in which case it runs and fails.
 *
 * @param name test name
 * @param fn the test body, given the backend
 */
export function gpuTest(name: string, fn: (gpu: WebGPUBackend) => Promise<void> | void): void {
  Deno.test({
    name,
    ignore: !available,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const gpu = await gpuBackend();
      if (!gpu) throw new Error("WebGPU backend unavailable");
      await fn(gpu);
    },
  });
}

/** Deterministic float32 test data in [lo, hi) (mulberry32). */
export function randArray(n: number, seed: number, lo = -2, hi = 2): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}

/** Product of a shape's dimensions. */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Row-major strides of a shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d]!;
  }
  return s;
}

/**
 * Run the same kernel on two backends with the same inputs and return both
 * outputs (GPU first). The output starts as `init` (default zeros), so kernels
 * that write only part of it (copy) are compared on the whole storage.
 *
 * @param backends [gpu, cpu]
 * @param inputs host inputs
 * @param outSize output elements
 * @param kernel records the kernel on one backend
 * @param init optional initial output contents
 * @returns [gpu result, cpu result]
 */
export async function runBoth(
  backends: [Backend, Backend],
  inputs: Float32Array[],
  outSize: number,
  kernel: (
    b: Backend,
    ins: Storage[],
    out: Storage,
  ) => void,
  init?: Float32Array,
): Promise<[Float32Array, Float32Array]> {
  const results: Float32Array[] = [];
  for (const b of backends) {
    const ins = inputs.map((x) => b.upload(x, "float32"));
    const out = b.upload(init ?? new Float32Array(outSize), "float32");
    kernel(b, ins, out);
    results.push(new Float32Array(await b.read(out)));
    for (const s of [...ins, out]) b.free(s);
  }
  return [results[0]!, results[1]!];
}

/** Make `gpu` the engine's WebGPU backend (for `.to("webgpu")`), keeping the CPU as the default. */
export async function useGpu(gpu: WebGPUBackend): Promise<void> {
  const info = { vendor: "", architecture: "", device: "", description: "test", isFallback: false };
  await init({
    backend: "webgpu",
    log: false,
    requestWebGPU: () => Promise.resolve({ backend: gpu, info }),
  });
  await init({ backend: "cpu", log: false });
}
