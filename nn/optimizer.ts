/**
 * The `Optimizer` base class: parameter bookkeeping, per-parameter state
 * tensors that live on the parameter's backend, `step()` run under `noGrad`
 * inside `tidy` with no readback, and state dicts for checkpoints and resume.
 *
 * By default the built-in optimizers update each parameter with the backend's
 * fused kernel (the `optimizerStep` routine of `tensor/routines/optim/`: one
 * pass, one WebGPU dispatch per parameter, parameter and state rewritten in
 * place); `{ fused: false }`
 * selects the reference composition of ordinary tensor ops.
 *
 * @module
 */
import { optimizerUpdates, ownMemory } from "../tensor/routines/optim/mod.ts";
import { keep, noGrad, tidy } from "../tensor/engine.ts";
import { fmtShape, ShapeError } from "../tensor/errors.ts";
import { Tensor, tensor, zeros } from "../tensor/tensor.ts";

/** A hyper-parameter value. */
export type HyperParam = number | boolean | number[];

/** A state tensor as a tensor or as host data (e.g. read from a file). */
export type StateSource = Tensor | { shape: readonly number[]; data: Float32Array | Float64Array };

/**
 * An optimizer's state: everything `loadStateDict` needs to continue a run
 * exactly where `stateDict` was taken.
 */
export interface OptimizerStateDict {
  /** Number of `step()` calls. */
  step: number;
  /** The hyper-parameters (`lr`, `betas`, …) by name. */
  hyperParams: Record<string, HyperParam>;
  /** Per parameter, how many updates it received (parameters without a gradient are skipped). */
  paramSteps: number[];
  /**
   * Per-parameter state tensors named `"<parameter index>.<name>"` with
   * PyTorch's names (`"0.exp_avg"`, `"3.momentum_buffer"`).
   */
  state: Record<string, Tensor>;
}

/** What {@link Optimizer.loadStateDict} accepts: a state dict whose tensors may be host data. */
export interface OptimizerStateSource {
  /** Number of `step()` calls (default 0). */
  step?: number;
  /** Hyper-parameters to restore (default: keep the current ones). */
  hyperParams?: Record<string, HyperParam>;
  /** Per-parameter update counts (default: all equal to `step`). */
  paramSteps?: number[];
  /** The state tensors by `"<index>.<name>"`. */
  state: Record<string, StateSource>;
}

/**
 * Base class of the optimizers. Subclasses implement {@link Optimizer.update}
 * for one parameter (the reference composition of tensor ops), and may
 * implement {@link Optimizer.fusedUpdate} (one backend kernel, in place);
 * `step()` calls one of them for every parameter that has a gradient, under
 * `noGrad` and inside `tidy`, so temporaries are freed and nothing is read
 * back.
 */
export abstract class Optimizer {
  /** The parameters being optimised. */
  readonly params: readonly Tensor[];
  /** The learning rate (may be changed between steps, e.g. by a schedule). */
  lr: number;
  /**
   * Whether `step()` uses the fused in-place update kernel where the
   * subclass has one (default true); false runs the reference composition.
   */
  readonly fused: boolean;
  #step = 0;
  #paramSteps: number[];
  #state: Map<string, Tensor>[];

  /**
   * Set up the parameters and an empty state.
   *
   * @param params the parameters (leaves that require a gradient)
   * @param lr the learning rate
   * @param fused use the fused update kernel where the subclass has one (default true)
   */
  constructor(params: Iterable<Tensor>, lr: number, fused = true) {
    this.params = [...params];
    const name = this.constructor.name;
    if (this.params.length === 0) {
      throw new RangeError(`Cannot create ${name}: the parameter list is empty`);
    }
    this.params.forEach((p, i) => {
      if (!(p instanceof Tensor)) {
        throw new TypeError(`Cannot create ${name}: parameter ${i} is not a Tensor`);
      }
      if (p.node) {
        throw new TypeError(
          `Cannot create ${name}: parameter ${i} of shape ${
            fmtShape(p.shape)
          } is not a leaf (it was computed by ${p.node.op})`,
        );
      }
    });
    if (new Set(this.params).size !== this.params.length) {
      throw new TypeError(`Cannot create ${name}: a parameter appears more than once`);
    }
    checkNonNegative(name, "lr", lr);
    if (typeof fused !== "boolean") {
      throw new TypeError(`Cannot create ${name}: fused must be a boolean, got ${fused}`);
    }
    this.lr = lr;
    this.fused = fused;
    this.#paramSteps = this.params.map(() => 0);
    this.#state = this.params.map(() => new Map());
  }

  /** Number of `step()` calls so far. */
  get stepCount(): number {
    return this.#step;
  }

  /** Names of the per-parameter state tensors this optimizer may keep. */
  protected abstract readonly stateNames: readonly string[];

  /**
   * Compute one parameter's update and write it with `param.assign`. Runs
   * under `noGrad` inside `tidy`.
   *
   * @param index the parameter's position
   * @param param the parameter
   * @param grad its gradient
   * @param t how many updates this parameter has had, this one included (1 on the first)
   */
  protected abstract update(index: number, param: Tensor, grad: Tensor, t: number): void;

  /**
   * Update one parameter in place with the backend's fused kernel, if the
   * optimizer has one (this base version has none and returns false, so
   * `step()` falls back to {@link Optimizer.update}). Runs under `noGrad`
   * inside `tidy`; state tensors come from {@link Optimizer.fusedState}.
   *
   * @param _index the parameter's position
   * @param _param the parameter
   * @param _grad its gradient (same backend and dtype)
   * @param _t how many updates this parameter has had, this one included
   * @returns whether the update was done
   */
  protected fusedUpdate(_index: number, _param: Tensor, _grad: Tensor, _t: number): boolean {
    return false;
  }

  /** The hyper-parameters by name (lr included). */
  abstract hyperParams(): Record<string, HyperParam>;

  /**
   * Set hyper-parameters from a state dict (names were checked).
   *
   * @param h the values by name
   */
  protected abstract setHyperParams(h: Record<string, HyperParam>): void;

  /**
   * A state tensor of a parameter, or undefined before it exists.
   *
   * @param index the parameter's position
   * @param name the state's name
   * @returns the tensor or undefined
   */
  protected getState(index: number, name: string): Tensor | undefined {
    return this.#state[index]!.get(name);
  }

  /**
   * Set a state tensor of a parameter: the first time `t` itself is kept,
   * afterwards the existing tensor takes `t`'s data (so tensors handed out by
   * `stateDict()` stay live).
   *
   * @param index the parameter's position
   * @param name the state's name
   * @param t the new value
   */
  protected setState(index: number, name: string, t: Tensor): void {
    const cur = this.#state[index]!.get(name);
    if (cur) cur.assign(t);
    else this.#state[index]!.set(name, keep(t.detach()));
  }

  /**
   * A state tensor for an in-place update: created as zeros on the
   * parameter's backend and dtype when it does not exist yet (`created` is
   * then true); an existing one whose memory another tensor shares is first
   * given its own copy ({@link ownMemory}).
   *
   * @param index the parameter's position
   * @param name the state's name
   * @returns the state tensor and whether it was just created
   */
  protected fusedState(index: number, name: string): { state: Tensor; created: boolean } {
    const p = this.params[index]!;
    const cur = this.#state[index]!.get(name);
    if (cur) {
      ownMemory(cur);
      return { state: cur, created: false };
    }
    const z = keep(zeros([...p.shape], { backend: p.backend, dtype: p.dtype }));
    this.#state[index]!.set(name, z);
    return { state: z, created: true };
  }

  /** Update every parameter that has a gradient (parameters without one are skipped). */
  step(): void {
    noGrad(() =>
      tidy(() =>
        // The fused updates of all parameters go to the backend together (multi-tensor).
        optimizerUpdates(() =>
          this.params.forEach((p, i) => {
            const g = p.grad;
            if (!g || g.isDisposed) return;
            if (g.backend !== p.backend || g.dtype !== p.dtype) {
              throw new TypeError(
                `Cannot step ${this.constructor.name}: parameter ${i} is ${p.dtype} on ${p.backend} ` +
                  `but its gradient is ${g.dtype} on ${g.backend}`,
              );
            }
            const t = ++this.#paramSteps[i]!;
            if (!(this.fused && this.fusedUpdate(i, p, g, t))) this.update(i, p, g, t);
          })
        )
      )
    );
    this.#step++;
  }

  /** Dispose every parameter's gradient (`grad` becomes null). */
  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  /**
   * The state: step count, hyper-parameters, per-parameter update counts and
   * state tensors (the live tensors, not copies; read them before the next
   * `step()` changes them).
   *
   * @returns the state dict
   */
  stateDict(): OptimizerStateDict {
    const state: Record<string, Tensor> = {};
    this.#state.forEach((m, i) => {
      for (const [n, t] of m) state[`${i}.${n}`] = t;
    });
    return {
      step: this.#step,
      hyperParams: this.hyperParams(),
      paramSteps: [...this.#paramSteps],
      state,
    };
  }

  /**
   * Restore a state taken by {@link Optimizer.stateDict} (possibly from a
   * file). Everything is checked before anything changes; the current state
   * tensors are replaced by copies of the given ones.
   *
   * @param sd the state dict; its tensors may be host arrays `{ shape, data }`
   */
  loadStateDict(sd: OptimizerStateSource): void {
    const name = this.constructor.name;
    const fail = (why: string) => new Error(`Cannot load ${name} state: ${why}`);
    if (typeof sd !== "object" || sd === null || typeof sd.state !== "object") {
      throw fail("expected an object with a 'state' record");
    }
    const step = sd.step ?? 0;
    if (!Number.isInteger(step) || step < 0) throw fail(`step ${step} is not a count`);
    const paramSteps = sd.paramSteps ?? this.params.map(() => step);
    if (
      !Array.isArray(paramSteps) || paramSteps.length !== this.params.length ||
      paramSteps.some((s) => !Number.isInteger(s) || s < 0)
    ) {
      throw fail(
        `paramSteps ${JSON.stringify(paramSteps)} must be ${this.params.length} counts, ` +
          "one per parameter",
      );
    }
    const own = this.hyperParams();
    for (const [k, v] of Object.entries(sd.hyperParams ?? {})) {
      if (!(k in own)) {
        throw fail(`unknown hyper-parameter '${k}' (known: ${Object.keys(own).join(", ")})`);
      }
      if (typeof v !== typeof own[k] || Array.isArray(v) !== Array.isArray(own[k])) {
        throw fail(
          `hyper-parameter '${k}' is ${JSON.stringify(v)}, expected a value like ${
            JSON.stringify(own[k])
          }`,
        );
      }
    }
    const parsed: [number, string, StateSource][] = [];
    for (const [key, src] of Object.entries(sd.state)) {
      const m = /^(\d+)\.(.+)$/.exec(key);
      const i = m ? Number(m[1]) : -1;
      if (!m || i >= this.params.length || !this.stateNames.includes(m[2]!)) {
        throw fail(
          `unexpected state tensor '${key}' (expected '<index>.<name>' with index below ${this.params.length} ` +
            `and name one of ${this.stateNames.join(", ")})`,
        );
      }
      const p = this.params[i]!;
      if (p.shape.length !== src.shape.length || p.shape.some((d, j) => d !== src.shape[j])) {
        throw new ShapeError(
          "loadStateDict",
          [p.shape, src.shape],
          `Cannot load ${name} state '${key}': expected shape ${fmtShape(p.shape)}, got ${
            fmtShape(src.shape)
          }`,
        );
      }
      if (src instanceof Tensor && (src.backend !== p.backend || src.dtype !== p.dtype)) {
        throw fail(
          `state tensor '${key}' is ${src.dtype} on ${src.backend} but parameter ${i} is ` +
            `${p.dtype} on ${p.backend}; pass host arrays instead`,
        );
      }
      parsed.push([i, m[2]!, src]);
    }
    noGrad(() => {
      for (const m of this.#state) {
        for (const t of m.values()) t.dispose();
        m.clear();
      }
      for (const [i, n, src] of parsed) {
        const p = this.params[i]!;
        const t = src instanceof Tensor
          ? src.clone()
          : tensor(src.data, [...p.shape], { backend: p.backend, dtype: p.dtype });
        this.#state[i]!.set(n, keep(t));
      }
    });
    this.#step = step;
    this.#paramSteps = [...paramSteps];
    if (sd.hyperParams) this.setHyperParams({ ...own, ...sd.hyperParams });
  }

  /** Release every state tensor. The parameters are not touched. */
  dispose(): void {
    for (const m of this.#state) {
      for (const t of m.values()) t.dispose();
      m.clear();
    }
  }
}

/** Throw unless `v` is a finite number ≥ 0. @internal */
export function checkNonNegative(opt: string, what: string, v: number): void {
  if (typeof v !== "number" || !(v >= 0) || !Number.isFinite(v)) {
    throw new RangeError(`Cannot create ${opt}: ${what} must be a finite number >= 0, got ${v}`);
  }
}

/** Throw unless `v` is in [0, 1). @internal */
export function checkUnit(opt: string, what: string, v: number): void {
  if (typeof v !== "number" || !(v >= 0 && v < 1)) {
    throw new RangeError(`Cannot create ${opt}: ${what} must be in [0, 1), got ${v}`);
  }
}
