/**
 * Process-wide engine state: the backends, the default backend chosen by
 * `init`, the gradient mode, the `tidy` scope stack and the live-tensor
 * counters behind `memory()`.
 *
 * @module
 */
import type { Backend, BackendName } from "./backend.ts";
import { CpuBackend } from "./cpu/backend.ts";

/** Something the engine can dispose at the end of a scope. */
export interface Disposable {
  /** Release the memory. Idempotent. */
  dispose(): void;
  /** Whether it was released. */
  readonly isDisposed: boolean;
}

/** Facts about the WebGPU adapter in use. */
export interface AdapterInfo {
  /** Vendor string or id. */
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

/** What `init` decided. */
export interface InitResult {
  /** The backend new tensors use by default. */
  backend: BackendName;
  /** The adapter, when the backend is WebGPU. */
  adapter: AdapterInfo | null;
  /** One line saying which backend and why. */
  message: string;
}

/** Options of {@link init}. */
export interface InitOptions {
  /** "webgpu", "cpu" or "auto" (WebGPU on a hardware adapter, else CPU). Default "auto". */
  backend?: "auto" | BackendName;
  /** Print the one-line message (default true). */
  log?: boolean;
  /** For tests: a stand-in for the WebGPU request. */
  requestWebGPU?: () => Promise<{ backend: Backend; info: AdapterInfo } | { error: string }>;
}

const backends = new Map<BackendName, Backend>();
let defaultName: BackendName = "cpu";
let adapter: AdapterInfo | null = null;

/** The CPU backend (created on first use). */
export function cpuBackend(): Backend {
  let b = backends.get("cpu");
  if (!b) {
    b = new CpuBackend();
    backends.set("cpu", b);
  }
  return b;
}

/**
 * Look up a backend by name.
 *
 * @throws Error when the WebGPU backend was not initialised
 */
export function getBackend(name?: BackendName): Backend {
  const n = name ?? defaultName;
  if (n === "cpu") return cpuBackend();
  const b = backends.get(n);
  if (!b) {
    throw new Error(
      `Cannot use the ${n} backend: it is not initialised; call await init({ backend: "${n}" }) first`,
    );
  }
  return b;
}

/** Name of the default backend. */
export function defaultBackendName(): BackendName {
  return defaultName;
}

/** The WebGPU adapter in use, or null. */
export function adapterInfo(): AdapterInfo | null {
  return adapter;
}

async function defaultRequestWebGPU(): Promise<
  { backend: Backend; info: AdapterInfo } | { error: string }
> {
  const { requestWebGPU } = await import("./webgpu/device.ts");
  return await requestWebGPU();
}

/**
 * Choose the default backend. `auto` takes WebGPU when a hardware adapter
 * exists and the CPU otherwise (also when the only adapter is a software
 * fallback such as llvmpipe, which runs on the same CPU cores), printing one
 * line that says which and why.
 *
 * @param opts backend choice
 * @returns what was chosen
 * @throws Error when "webgpu" is demanded and no adapter exists
 */
export async function init(opts: InitOptions = {}): Promise<InitResult> {
  const want = opts.backend ?? "auto";
  if (want !== "auto" && want !== "cpu" && want !== "webgpu") {
    throw new TypeError(`Cannot init backend "${want}": expected "auto", "webgpu" or "cpu"`);
  }
  let result: InitResult;
  if (want === "cpu") {
    defaultName = "cpu";
    result = { backend: "cpu", adapter: null, message: "wgrad: using the CPU backend (requested)" };
  } else {
    const got = await (opts.requestWebGPU ?? defaultRequestWebGPU)();
    if ("error" in got) {
      if (want === "webgpu") {
        throw new Error(`Cannot initialise the WebGPU backend: ${got.error}`);
      }
      defaultName = "cpu";
      result = {
        backend: "cpu",
        adapter: null,
        message: `wgrad: using the CPU backend (WebGPU unavailable: ${got.error})`,
      };
    } else if (want === "auto" && got.info.isFallback) {
      // A software adapter (llvmpipe, WARP, SwiftShader) emulates the GPU on the CPU
      // cores; the CPU backend does the same work with less overhead.
      defaultName = "cpu";
      result = {
        backend: "cpu",
        adapter: null,
        message: `wgrad: using the CPU backend (the only WebGPU adapter, ${
          got.info.description || got.info.device || "unnamed"
        }, is a software fallback; choose backend "webgpu" to use it anyway)`,
      };
    } else {
      backends.set("webgpu", got.backend);
      adapter = got.info;
      defaultName = "webgpu";
      result = {
        backend: "webgpu",
        adapter: got.info,
        message:
          `wgrad: using WebGPU on ${got.info.description || got.info.device || "an adapter"}` +
          `${got.info.isFallback ? " (fallback adapter)" : ""}`,
      };
    }
  }
  if (opts.log ?? true) console.error(result.message);
  return result;
}

// ---- gradient mode -------------------------------------------------------

let gradEnabled = true;

/** Whether ops record the graph now. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/**
 * Run `fn` without recording the graph (like `torch.no_grad()`).
 *
 * @param fn a synchronous function
 * @returns what `fn` returns
 */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    const r = fn();
    if (r instanceof Promise) {
      throw new TypeError("Cannot run noGrad() on an async function: pass a synchronous function");
    }
    return r;
  } finally {
    gradEnabled = prev;
  }
}

// ---- scopes and counters -------------------------------------------------

const scopes: Set<Disposable>[] = [];
let liveTensors = 0;

/** Called by every new tensor: counts it and tracks it in the open scope. */
export function track(t: Disposable): void {
  liveTensors++;
  scopes[scopes.length - 1]?.add(t);
}

/** Called by a tensor's dispose. */
export function untrack(t: Disposable): void {
  liveTensors--;
  scopes[scopes.length - 1]?.delete(t);
}

/** Number of live (not disposed) tensors. */
export function liveTensorCount(): number {
  return liveTensors;
}

/**
 * Keep a tensor alive past the `tidy` scopes that are open now.
 *
 * @param t the tensor to keep
 * @returns t
 */
export function keep<T extends Disposable>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

function collect(value: unknown, into: Set<unknown>, depth = 0): void {
  if (value === null || typeof value !== "object" || depth > 4) return;
  if ("isDisposed" in value && "dispose" in value) {
    into.add(value);
    return;
  }
  if (Array.isArray(value)) { for (const v of value) collect(v, into, depth + 1); }
  else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, into, depth + 1);
  }
}

/**
 * Run `fn` and dispose every tensor created inside it except those it returns
 * (directly, in an array or in a plain object) and those passed to `keep`.
 *
 * @param fn a synchronous function
 * @returns what `fn` returns
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) {
      throw new TypeError("Cannot run tidy() on an async function: pass a synchronous function");
    }
  } finally {
    scopes.pop();
  }
  const kept = new Set<unknown>();
  collect(result, kept);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (kept.has(t)) parent?.add(t);
    else if (!t.isDisposed) t.dispose();
  }
  return result;
}
