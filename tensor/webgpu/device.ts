/**
 * Acquire the process's one WebGPU device and build the backend on it.
 *
 * Deno specifics handled here: `navigator.gpu` may be missing and
 * `requestAdapter()` may return null without a reason (no Vulkan/GL driver);
 * `adapter.info` must be read before `requestDevice()` (the adapter is
 * invalidated afterwards); `device.lost` is feature-detected. The request is
 * made once per process and its promise cached.
 *
 * Environment: `WGRAD_MATMUL=blocked|tiled|simple` forces the matmul variant
 * (otherwise a short autotune picks it), `WGRAD_DEBUG=validate` submits each
 * dispatch inside a validation error scope, `WGRAD_DEBUG=shaders` prints each
 * new shader, `WGRAD_GPU_BATCH=n` sets dispatches per submit.
 *
 * @module
 */
import { MATMUL_VARIANTS, type MatmulVariant } from "../wgsl/matmul.ts";
import { WebGPUBackend } from "./backend.ts";
import { autotuneMatmul, type MatmulChoice } from "./matmul.ts";

/** Facts about the adapter, read before the device was created. */
export interface WebGPUInfo {
  /** Vendor string or id (may be "0" or empty). */
  vendor: string;
  /** Architecture (often empty). */
  architecture: string;
  /** Device string or id. */
  device: string;
  /** Human-readable description, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  description: string;
  /** Whether the adapter is a fallback (software) adapter. */
  isFallback: boolean;
}

/** What {@link requestWebGPU} resolves to. */
export type WebGPURequest =
  | { backend: WebGPUBackend; info: WebGPUInfo; matmul: MatmulChoice }
  | { error: string };

/** Limits raised to the adapter's maximum when requesting the device. */
const REQUESTED_LIMITS = [
  "maxStorageBuffersPerShaderStage",
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
] as const;

let cached: Promise<WebGPURequest> | null = null;

function env(name: string): string | undefined {
  if (typeof Deno === "undefined") return undefined; // a browser page
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env
  }
}

/**
 * The WebGPU backend on this process's device, created on the first call.
 * Never throws for a missing adapter: resolves to `{ error }` with the reason.
 *
 * @returns the backend with adapter facts, or why there is none
 * @example
 * ```ts
 * import { requestWebGPU } from "./device.ts";
 * const got = await requestWebGPU();
 * if ("error" in got) console.error(got.error);
 * ```
 */
export function requestWebGPU(): Promise<WebGPURequest> {
  cached ??= create().catch((e: unknown) => ({
    error: `WebGPU initialisation failed: ${e instanceof Error ? e.message : String(e)}`,
  }));
  return cached;
}

async function create(): Promise<WebGPURequest> {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (!gpu) return { error: "navigator.gpu is not available in this runtime" };
  const adapter = await gpu.requestAdapter();
  if (!adapter) {
    return {
      error: typeof Deno === "undefined"
        ? "no WebGPU adapter found (the browser offers none: WebGPU may be off, e.g. Chromium " +
          "on Linux needs --enable-unsafe-webgpu)"
        : "no WebGPU adapter found (on Linux without a GPU install mesa-vulkan-drivers and set " +
          "DENO_WEBGPU_BACKEND=vulkan)",
    };
  }
  const ai = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const info: WebGPUInfo = {
    vendor: ai.vendor ?? "",
    architecture: ai.architecture ?? "",
    device: ai.device ?? "",
    description: ai.description ?? "",
    isFallback: ai.isFallbackAdapter ??
      (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
  };
  const requiredLimits: Record<string, number> = {};
  for (const name of REQUESTED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({ requiredLimits });
  const debug = env("WGRAD_DEBUG") ?? "";
  const batch = Number(env("WGRAD_GPU_BATCH") ?? "");
  const backend = new WebGPUBackend(device, {
    validate: debug.includes("validate"),
    printShaders: debug.includes("shaders"),
    batchSize: Number.isInteger(batch) && batch > 0 ? batch : undefined,
  });
  const forced = env("WGRAD_MATMUL");
  let matmul: MatmulChoice;
  if (forced !== undefined && forced !== "" && forced !== "auto") {
    if (!MATMUL_VARIANTS.includes(forced as MatmulVariant)) {
      return {
        error: `WGRAD_MATMUL=${forced} is not a matmul variant: expected ${
          MATMUL_VARIANTS.join(", ")
        } or auto`,
      };
    }
    matmul = { variant: forced as MatmulVariant, timings: [], reason: "forced by WGRAD_MATMUL" };
  } else {
    matmul = await autotuneMatmul(backend.rt);
  }
  backend.rt.strictAliasing = await rejectsAliasing(device);
  backend.matmulChoice = matmul.variant;
  backend.software = info.isFallback || /llvmpipe|lavapipe|swiftshader/i.test(
    `${info.description} ${info.device}`,
  );
  return { backend, info, matmul };
}

/**
 * Whether the device rejects one buffer bound to two writable bindings of a
 * dispatch: encodes (never submits) such a dispatch inside an error scope.
 */
async function rejectsAliasing(device: GPUDevice): Promise<boolean> {
  const code = "@group(0) @binding(0) var<storage, read_write> a: array<f32>;\n" +
    "@group(0) @binding(1) var<storage, read_write> b: array<f32>;\n" +
    "@compute @workgroup_size(1) fn main() { a[0] = b[1]; }\n";
  const buf = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
  device.pushErrorScope("validation");
  try {
    const pipeline = device.createComputePipeline({
      layout: "auto",
      compute: { module: device.createShaderModule({ code }), entryPoint: "main" },
    });
    const group = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: buf } }, {
        binding: 1,
        resource: { buffer: buf },
      }],
    });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(1);
    pass.end();
    enc.finish();
  } catch {
    // WebGPU reports through the error scope; a runtime that throws has no verdict here
  }
  const err = await device.popErrorScope();
  buf.destroy();
  return err !== null;
}
