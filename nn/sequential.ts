/**
 * `Sequential`: modules applied one after another, registered as children
 * "0", "1", … so that state-dict names match PyTorch's `nn.Sequential`.
 *
 * @module
 */
import type { Tensor } from "../tensor/tensor.ts";
import { Module } from "./module.ts";

/** A module whose `forward` maps one tensor to one tensor. */
export type Layer = Module & { forward(x: Tensor): Tensor };

/**
 * A chain of layers: `forward(x)` applies each in order. Children are named
 * "0", "1", … (PyTorch's names), so `new Sequential(new Linear(2, 3), new ReLU())`
 * has parameters `0.weight` and `0.bias`.
 *
 * @example
 * ```ts
 * import { Sequential } from "./sequential.ts";
 * import { Linear } from "./linear.ts";
 * import { ReLU } from "./activations.ts";
 * const net = new Sequential(new Linear(2, 3, { backend: "cpu" }), new ReLU());
 * console.assert(net.namedParameters()[0]![0] === "0.weight");
 * ```
 */
export class Sequential extends Module {
  /** The layers in order. */
  readonly layers: readonly Layer[];

  /**
   * Chain layers.
   *
   * @param layers the layers, applied in the order given
   */
  constructor(...layers: Layer[]) {
    super();
    layers.forEach((m, i) => {
      if (!(m instanceof Module) || typeof m.forward !== "function") {
        throw new TypeError(
          `Cannot create Sequential: argument ${i} is not a module with a forward(x) method`,
        );
      }
      this.registerModule(String(i), m);
    });
    this.layers = [...layers];
  }

  /**
   * Apply every layer in order. Intermediate results are disposed as soon as
   * the next layer has consumed them (the graph keeps what backward needs).
   *
   * @param x the input
   * @returns the last layer's output
   */
  forward(x: Tensor): Tensor {
    let cur = x;
    for (const layer of this.layers) {
      const next = layer.forward(cur);
      if (cur !== x && next !== cur) cur.dispose();
      cur = next;
    }
    return cur;
  }

  /** Number of layers. */
  get length(): number {
    return this.layers.length;
  }
}
