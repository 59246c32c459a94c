/**
 * The registry of fused routines: named one-model kernels (an LSTM time step,
 * an optimizer update, …) that are not part of the primitive
 * {@link Backend} interface. Each routine folder under `tensor/routines/`
 * holds its argument types, its CPU kernel, its WGSL source and WebGPU launch
 * code, and the differentiable tensor-level op that calls them; its kernel
 * modules register themselves here, keyed by backend name and routine name,
 * when they are imported, and the routine's op runs them with
 * {@link runRoutine}.
 *
 * A new routine needs: a folder `tensor/routines/<name>/` with `args.ts`
 * (the kernel arguments, on storages), `cpu.ts` and `webgpu.ts` (each ending
 * in `registerRoutine(...)` calls), and a `mod.ts` that imports both kernel
 * modules and exports the op on tensors that `nn/` uses.
 *
 * @module
 */
import type { Backend, BackendName } from "../backend.ts";

/** A routine's kernel on one backend: records (or runs) the routine with `args`. */
export type RoutineKernel<A> = (be: Backend, args: A) => void;

/**
 * Facts a kernel states about itself for the routine's op to plan with
 * (e.g. `whhT: true`: the recurrent step kernel reads the transposed weights
 * when given them).
 */
export type RoutineTraits = Readonly<Record<string, boolean>>;

interface Entry {
  kernel: RoutineKernel<never>;
  traits: RoutineTraits;
}

const kernels = new Map<BackendName, Map<string, Entry>>();

/**
 * Register the kernel of routine `name` on backend `backend` (called once by
 * the routine's kernel module when it is imported).
 *
 * @param backend the backend the kernel runs on
 * @param name the routine's name, e.g. "lstmStep"
 * @param kernel the kernel: receives the backend instance and the arguments
 * @param traits facts about the kernel that the routine's op may ask
 *   ({@link routineTrait})
 * @example
 * ```ts
 * import { registerRoutine, runRoutine } from "./registry.ts";
 * import { CpuBackend } from "../cpu/backend.ts";
 * let seen = 0;
 * registerRoutine<number>("cpu", "exampleRoutine", (_be, n) => (seen = n));
 * runRoutine(new CpuBackend(), "exampleRoutine", 3);
 * console.assert(seen === 3);
 * ```
 */
export function registerRoutine<A>(
  backend: BackendName,
  name: string,
  kernel: RoutineKernel<A>,
  traits: RoutineTraits = {},
): void {
  let table = kernels.get(backend);
  if (!table) kernels.set(backend, table = new Map());
  if (table.has(name)) {
    throw new Error(`Cannot register routine ${name} on ${backend} twice`);
  }
  table.set(name, { kernel: kernel as RoutineKernel<never>, traits });
}

/**
 * Whether backend `backend` has a kernel for routine `name`.
 *
 * @param backend a backend name
 * @param name a routine name
 * @returns true when a kernel is registered
 */
export function hasRoutine(backend: BackendName, name: string): boolean {
  return kernels.get(backend)?.has(name) ?? false;
}

/**
 * A trait the kernel of routine `name` on `be` registered (false when it did
 * not, or when there is no such kernel).
 *
 * @param be a backend
 * @param name a routine name
 * @param trait the trait's name
 * @returns its value
 */
export function routineTrait(be: Backend, name: string, trait: string): boolean {
  return kernels.get(be.name)?.get(name)?.traits[trait] ?? false;
}

/**
 * Run routine `name` on backend instance `be` with `args`.
 *
 * @param be the backend whose storages `args` holds
 * @param name the routine's name
 * @param args the routine's arguments
 * @throws Error naming the routine, the backend and the registered routines
 *   when the backend has no kernel for it
 */
export function runRoutine<A>(be: Backend, name: string, args: A): void {
  const kernel = kernels.get(be.name)?.get(name)?.kernel as RoutineKernel<A> | undefined;
  if (!kernel) {
    const known = [...(kernels.get(be.name)?.keys() ?? [])].join(", ") || "none";
    throw new Error(
      `Cannot run routine ${name} on the ${be.name} backend: no kernel registered (registered: ${known})`,
    );
  }
  kernel(be, args);
}
