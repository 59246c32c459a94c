/**
 * Reverse-mode automatic differentiation over a dynamic graph.
 *
 * Every differentiable op that has an input requiring a gradient attaches a
 * {@link Node} to its output: the inputs (graph edges), the tensors its
 * backward rule needs (kept alive even if the caller disposes them) and the
 * rule itself, written with ordinary tensor ops so it runs on every backend.
 * The backward pass over these nodes is `backward.ts` (this module imports
 * no op, so every op can import it).
 *
 * @module
 */
import { keep } from "./engine.ts";
import type { Tensor } from "./tensor.ts";

/** A backward rule: upstream gradient and saved tensors in, one gradient (or null) per input out. */
export type BackwardRule = (g: Tensor, saved: readonly Tensor[]) => (Tensor | null)[];

/** A recorded op in the graph. */
export interface Node {
  /** Op name, used in error messages. */
  readonly op: string;
  /** The op's inputs. */
  readonly inputs: readonly Tensor[];
  /** Tensors the rule needs (private aliases). */
  saved: Tensor[];
  /** The backward rule. */
  readonly rule: BackwardRule;
  /** Whether `saved` was freed (by a backward pass or because nothing can reach it). */
  released: boolean;
  /** Holders of this node: its output tensor (until disposed) and consuming nodes. */
  consumers: number;
}

/**
 * Attach a graph node to `out` if gradients are on and an input requires one.
 *
 * @param op the op name
 * @param out the op's output
 * @param inputs the op's differentiable inputs
 * @param save tensors the rule will need
 * @param rule the backward rule
 * @returns out
 */
export function record(
  op: string,
  out: Tensor,
  inputs: readonly Tensor[],
  save: readonly Tensor[],
  rule: BackwardRule,
): Tensor {
  if (!inputs.some((t) => t.requiresGrad)) return out;
  out.requiresGrad = true;
  for (const t of inputs) if (t.node) t.node.consumers++;
  const saved = save.map((t) => keep(t.detach()));
  out.node = { op, inputs, saved, rule, released: false, consumers: 1 };
  return out;
}

/**
 * Drop one holder of `node` (its output tensor was disposed, or a consuming
 * node went away). When none is left, no backward() can reach the node: free
 * its saved tensors and drop its own inputs' nodes in turn. @internal
 */
export function dropNode(node: Node): void {
  const stack = [node];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (--n.consumers > 0) continue;
    releaseNode(n);
    for (const t of n.inputs) if (t.node) stack.push(t.node);
  }
}

/** Free a node's saved tensors (a backward pass ran its rule, or nothing can reach it). @internal */
export function releaseNode(node: Node): void {
  for (const t of node.saved) t.dispose();
  node.saved = [];
  node.released = true;
}
