/**
 * `Module`: the base class of layers. A module registers its parameters,
 * buffers (non-trained state such as BatchNorm's running statistics) and
 * child modules by name, so that `namedParameters()` and `stateDict()` give
 * PyTorch's dotted names (`lstm.weight_ih_l0`, `head.bias`) and checkpoints
 * move between wgrad and PyTorch unchanged.
 *
 * @module
 */
import { fmtShape, ShapeError } from "../tensor/errors.ts";
import { keep, noGrad } from "../tensor/engine.ts";
import { Tensor, tensor } from "../tensor/tensor.ts";

/** Options of {@link Module.loadStateDict}. */
export interface LoadOptions {
  /** Require exactly the module's keys (default true). */
  strict?: boolean;
}

/** Base class of all layers. */
export abstract class Module {
  /** Training mode (affects Dropout and BatchNorm). */
  training = true;
  #params = new Map<string, Tensor>();
  #buffers = new Map<string, Tensor>();
  #children = new Map<string, Module>();

  /**
   * Register a trainable tensor under `name` (it gets `requiresGrad`).
   *
   * @param name the state-dict name within this module
   * @param t the tensor
   * @returns t
   */
  protected registerParameter(name: string, t: Tensor): Tensor {
    t.requiresGrad = true;
    this.#params.set(name, keep(t));
    return t;
  }

  /**
   * Register non-trained state saved in the state dict (e.g. running means).
   *
   * @param name the state-dict name within this module
   * @param t the tensor
   * @returns t
   */
  protected registerBuffer(name: string, t: Tensor): Tensor {
    this.#buffers.set(name, keep(t));
    return t;
  }

  /**
   * Register a child module; its names get the prefix `name.`.
   *
   * @param name the child's name
   * @param m the child
   * @returns m
   */
  protected registerModule<M extends Module>(name: string, m: M): M {
    this.#children.set(name, m);
    return m;
  }

  /** A registered buffer (for subclasses that update it). */
  protected buffer(name: string): Tensor {
    const b = this.#buffers.get(name);
    if (!b) throw new Error(`Cannot find buffer '${name}' in ${this.constructor.name}`);
    return b;
  }

  /** Replace a registered buffer's tensor (the old one is disposed). */
  protected setBuffer(name: string, t: Tensor): void {
    const old = this.#buffers.get(name);
    this.#buffers.set(name, keep(t));
    if (old && old !== t) old.dispose();
  }

  /** Parameters with dotted names, in registration order. */
  namedParameters(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.#params) out.push([prefix + n, t]);
    for (const [n, m] of this.#children) out.push(...m.namedParameters(`${prefix}${n}.`));
    return out;
  }

  /** All trainable parameters. */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Buffers with dotted names. */
  namedBuffers(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.#buffers) out.push([prefix + n, t]);
    for (const [n, m] of this.#children) out.push(...m.namedBuffers(`${prefix}${n}.`));
    return out;
  }

  /** Child modules with their names. */
  namedChildren(): [string, Module][] {
    return [...this.#children];
  }

  /** Set training mode on this module and its children. */
  train(mode = true): this {
    this.training = mode;
    for (const m of this.#children.values()) m.train(mode);
    return this;
  }

  /** Set evaluation mode (same as `train(false)`). */
  eval(): this {
    return this.train(false);
  }

  /** Parameters and buffers by PyTorch state-dict name (the tensors themselves, not copies). */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [n, t] of this.namedParameters()) out[n] = t;
    for (const [n, t] of this.namedBuffers()) out[n] = t;
    return out;
  }

  /**
   * Copy values into the parameters and buffers. Names and shapes are checked
   * before anything is written, so a bad dict changes nothing.
   *
   * @param state tensors or host arrays by state-dict name
   * @param opts strict (default true): missing or unexpected keys are errors
   */
  loadStateDict(
    state: Record<string, Tensor | { shape: readonly number[]; data: Float32Array | Float64Array }>,
    opts: LoadOptions = {},
  ): void {
    const own = this.stateDict();
    const strict = opts.strict ?? true;
    const missing = Object.keys(own).filter((k) => !(k in state));
    const unexpected = Object.keys(state).filter((k) => !(k in own));
    if (strict && (missing.length > 0 || unexpected.length > 0)) {
      const parts = [];
      if (missing.length) parts.push(`missing ${missing.map((k) => `'${k}'`).join(", ")}`);
      if (unexpected.length) {
        parts.push(`unexpected ${unexpected.map((k) => `'${k}'`).join(", ")}`);
      }
      throw new Error(`Cannot load state dict into ${this.constructor.name}: ${parts.join("; ")}`);
    }
    for (const [k, t] of Object.entries(own)) {
      const src = state[k];
      if (!src) continue;
      const a = t.shape, b = src.shape;
      if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
        throw new ShapeError(
          "loadStateDict",
          [a, b],
          `Cannot load '${k}' into ${this.constructor.name}: expected shape ${fmtShape(a)}, got ${
            fmtShape(b)
          }`,
        );
      }
    }
    noGrad(() => {
      for (const [k, t] of Object.entries(own)) {
        const src = state[k];
        if (!src) continue;
        if (!(src instanceof Tensor)) {
          const v = tensor(src.data, [...t.shape], { backend: t.backend, dtype: t.dtype });
          t.assign(v);
          v.dispose();
        } else {
          const s = src;
          if (s.backend === t.backend && s.dtype === t.dtype) {
            const c = s.clone();
            t.assign(c);
            c.dispose();
          } else {
            throw new TypeError(
              `Cannot load '${k}': source tensor is ${s.dtype} on ${s.backend}, ` +
                `the module's is ${t.dtype} on ${t.backend}; pass host arrays instead`,
            );
          }
        }
      }
    });
  }

  /** Dispose every parameter's gradient. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /** Release all parameters and buffers. */
  dispose(): void {
    for (const t of [...this.parameters(), ...this.namedBuffers().map(([, b]) => b)]) {
      t.zeroGrad();
      t.dispose();
    }
  }
}
