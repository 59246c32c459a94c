/**
 * CPU-vs-WebGPU parity at the tensor level: every op case of the gradient
 * checks, plus larger awkward shapes that reach the GPU kernels' tiled and
 * multi-workgroup paths, forward values and gradients, in float32.
 */
import { init } from "../tensor/engine.ts";
import { type NestedArray, type Tensor, tensor } from "../mod.ts";
import { assertClose, randomValues } from "./_gradcheck.ts";
import { type OpCase, opCases } from "./_op_cases.ts";
import { gpuTest } from "./_gpu.ts";
import { cat, matmul } from "../mod.ts";

const extra: OpCase[] = [
  { name: "matmul 33×65·65×17", shapes: [[33, 65], [65, 17]], fn: ([a, b]) => a!.matmul(b!) },
  {
    name: "matmul 127×1·1×129 transB",
    shapes: [[127, 1], [129, 1]],
    fn: ([a, b]) => matmul(a!, b!, { transB: true }),
  },
  {
    name: "matmul batched 3×37×70·70×41 transA",
    shapes: [[3, 70, 37], [70, 41]],
    fn: ([a, b]) => matmul(a!, b!, { transA: true }),
  },
  { name: "sum [3, 1031] axis 1", shapes: [[3, 1031]], fn: ([x]) => x!.sum(1) },
  { name: "sum all [61, 67]", shapes: [[61, 67]], fn: ([x]) => x!.sum() },
  { name: "max [257, 3] axis 0", shapes: [[257, 3]], fn: ([x]) => x!.max(0) },
  { name: "mean [5, 7, 9] axes [0, 2]", shapes: [[5, 7, 9]], fn: ([x]) => x!.mean([0, 2]) },
  { name: "softmax [7, 300]", shapes: [[7, 300]], fn: ([x]) => x!.softmax() },
  { name: "logSoftmax [130, 10]", shapes: [[130, 10]], fn: ([x]) => x!.logSoftmax() },
  {
    name: "add [1, 31, 1] + [5, 1, 17]",
    shapes: [[1, 31, 1], [5, 1, 17]],
    fn: ([a, b]) => a!.add(b!),
  },
  { name: "mul [65537] * []", shapes: [[65537], []], fn: ([a, b]) => a!.mul(b!) },
  { name: "transpose [33, 65]", shapes: [[33, 65]], fn: ([x]) => x!.transpose() },
  { name: "tanh [1000]", shapes: [[1000]], fn: ([x]) => x!.mul(20).tanh() },
  { name: "sigmoid saturating", shapes: [[64]], fn: ([x]) => x!.mul(400).sigmoid() },
  {
    name: "cat [2, 33] [2, 1] axis 1 then slice",
    shapes: [[2, 33], [2, 1]],
    fn: ([a, b]) => cat([a!, b!], 1).slice([1, 3], [1, 30]),
  },
];

const cases = [...opCases, ...extra];

async function run(
  c: OpCase,
  backend: "cpu" | "webgpu",
): Promise<{ y: Float32Array; grads: Float32Array[] }> {
  const inputs = c.shapes.map((s, i) => {
    const n = s.reduce((a, b) => a * b, 1);
    return tensor(Float32Array.from(randomValues(n, 5 + 13 * i, c.range)), s, {
      backend,
      requiresGrad: true,
    });
  });
  const k = (v: NestedArray) => tensor(v, undefined, { backend });
  const y = c.fn(inputs, k);
  const w = tensor(Float32Array.from(randomValues(y.size, 77, { lo: -1, hi: 1 })), [...y.shape], {
    backend,
  });
  y.backward(w);
  const out = {
    y: (await y.data()) as Float32Array,
    grads: await Promise.all(
      inputs.map(async (x: Tensor) => (await x.grad!.data()) as Float32Array),
    ),
  };
  for (const x of inputs) {
    x.grad?.dispose();
    x.dispose();
  }
  y.dispose();
  w.dispose();
  return out;
}

for (const c of cases) {
  gpuTest(`${c.name} on WebGPU matches the CPU backend (forward and gradients)`, async () => {
    await init({ backend: "webgpu", log: false });
    await init({ backend: "cpu", log: false });
    const cpu = await run(c, "cpu");
    const gpu = await run(c, "webgpu");
    assertClose(gpu.y, cpu.y, { rtol: 2e-4, atol: 2e-5, label: "forward" });
    gpu.grads.forEach((g, i) =>
      assertClose(g, cpu.grads[i]!, { rtol: 2e-4, atol: 2e-5, label: `gradient ${i}` })
    );
  });
}
