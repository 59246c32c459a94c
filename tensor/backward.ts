/**
 * The backward pass of reverse-mode automatic differentiation over the graph
 * of {@link Node}s that ops record (`autograd.ts`). `backward()` orders the
 * graph with an explicit stack (no recursion: an unrolled recurrent net is
 * deep), sums broadcast gradients back to each input's shape in one place,
 * accumulates into re-used nodes and leaves, and frees each node's saved
 * tensors once its rule ran (unless `retainGraph`).
 *
 * @module
 */
import { keep, noGrad, tidy } from "./engine.ts";
import { fmtShape, ShapeError } from "./errors.ts";
import { sameShape } from "./shape.ts";
import type { Tensor } from "./tensor.ts";
import { releaseNode } from "./autograd.ts";
import { sumTo } from "./ops/reduce.ts";

/** Tensors reachable from `root` through nodes, in topological order (inputs first). */
function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>([root]);
  const stack: [Tensor, number][] = [[root, 0]];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const next = inputs[i]!;
      if (next.requiresGrad && !visited.has(next)) {
        visited.add(next);
        stack.push([next, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order;
}

/**
 * Backpropagate from `root` (see {@link Tensor.backward}).
 *
 * @param root the tensor to differentiate
 * @param grad the upstream gradient (default 1 for a one-element root)
 * @param retainGraph keep saved tensors for another backward
 */
export function backward(root: Tensor, grad: Tensor | undefined, retainGraph: boolean): void {
  if (!root.requiresGrad) {
    throw new Error(
      `Cannot run backward() from a tensor of shape ${fmtShape(root.shape)}: ` +
        "it does not require a gradient (no input had requiresGrad, or it was made under noGrad)",
    );
  }
  if (grad === undefined && root.size !== 1) {
    throw new ShapeError(
      "backward",
      [root.shape],
      `Cannot run backward() without a gradient from a tensor of shape ${
        fmtShape(root.shape)
      }: it is not a scalar; pass the upstream gradient`,
    );
  }
  if (grad !== undefined && !sameShape(grad.shape, root.shape)) {
    throw new ShapeError(
      "backward",
      [root.shape, grad.shape],
      `Cannot run backward() with a gradient of shape ${fmtShape(grad.shape)} ` +
        `for a tensor of shape ${fmtShape(root.shape)}`,
    );
  }
  const order = topoOrder(root);
  noGrad(() => {
    const grads = new Map<Tensor, Tensor>();
    grads.set(
      root,
      // The seed is a deferred constant: a rule that takes it as a value runs no fill.
      grad ? grad.detach() : root.filledLater(root.shape, 1),
    );
    for (let k = order.length - 1; k >= 0; k--) {
      const t = order[k]!;
      const g = grads.get(t);
      grads.delete(t);
      const node = t.node;
      if (!node) {
        if (g) accumulateLeaf(t, g);
        continue;
      }
      if (node.released) {
        g?.dispose();
        for (const x of grads.values()) x.dispose();
        throw new Error(
          `Cannot run backward() through ${node.op} a second time: its saved tensors were ` +
            "freed by the first backward(); pass { retainGraph: true } to the first call",
        );
      }
      if (g) {
        const raw = tidy(() => node.rule(g, node.saved));
        // A rule may hand back its upstream gradient, a saved tensor, or one tensor for
        // several inputs: give each input its own alias so each can be disposed alone.
        const gi = raw.map((x, i) =>
          x && (x === g || raw.indexOf(x) < i || node.saved.includes(x)) ? x.detach() : x
        );
        node.inputs.forEach((input, i) => {
          const gx = gi[i] ?? null;
          if (gx === null) return;
          if (!input.requiresGrad) {
            gx.dispose();
            return;
          }
          const reduced = sumTo(gx, input.shape);
          if (reduced !== gx) gx.dispose();
          if (!sameShape(reduced.shape, input.shape)) {
            throw new ShapeError(
              node.op,
              [input.shape, reduced.shape],
              `Cannot backpropagate through ${node.op}: gradient of shape ${
                fmtShape(reduced.shape)
              } for an input of shape ${fmtShape(input.shape)}`,
            );
          }
          const prev = grads.get(input);
          if (prev) {
            grads.set(input, prev.add(reduced));
            prev.dispose();
            reduced.dispose();
          } else grads.set(input, reduced);
        });
        g.dispose();
      }
      if (!retainGraph) releaseNode(node);
    }
  });
}

function accumulateLeaf(t: Tensor, g: Tensor): void {
  if (t.grad && !t.grad.isDisposed) {
    const sum = t.grad.add(g);
    t.grad.dispose();
    g.dispose();
    t.grad = keep(sum);
  } else {
    t.grad = keep(g);
  }
}
