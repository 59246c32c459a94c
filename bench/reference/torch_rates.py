"""PyTorch's one-thread rates on the shapes our generation and GAN steps run.

Prints GFLOP/s of F.linear (x·Wᵀ + b) for the matmul shapes of generating 1,000
completions and of the GAN's step, and ns per element of sigmoid and tanh over
256,000 values, to compare with `deno run -A bench/cpu_matmul.ts` (our strip
kernel) on the same machine. Medians of five timed batches.

  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/reference/torch_rates.py
"""

import time

import torch

torch.set_num_threads(1)


def median_time(f, n):
    for _ in range(3):
        f()
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            f()
        times.append((time.perf_counter() - t0) / n)
    times.sort()
    return times[2]


for m, k, n in [(256, 256, 256), (8000, 64, 256), (1000, 64, 256), (1000, 49, 256),
                (128, 1024, 784), (128, 784, 512)]:
    a, w, b = torch.rand(m, k), torch.rand(n, k), torch.rand(n)
    s = median_time(lambda: torch.nn.functional.linear(a, w, b), max(3, int(2e9 / (2 * m * n * k))))
    print(f"torch 1 thread linear [{m},{k}]x[{k},{n}]: {s * 1e6:.0f} us {2 * m * n * k / s / 1e9:.1f} GFLOP/s")
x = torch.rand(1000, 256) * 8 - 4
for name, f in [("sigmoid", torch.sigmoid), ("tanh", torch.tanh)]:
    s = median_time(lambda: f(x), 200)
    print(f"torch 1 thread {name} of 256,000: {s * 1e6:.0f} us {s * 1e9 / 256000:.2f} ns/element")
