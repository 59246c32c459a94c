"""PyTorch side of bench/vs_torch.ts: the same models as our benchmarks, timed on request.

Started by bench/vs_torch.ts as a long-lived process (so that both sides can be
interleaved round by round on the same machine load). Protocol, one JSON object
per line:

  -> {"case": "lstm", "n": 5}           run 5 timed repetitions of a case
  <- {"case": "lstm", "ms": [..5 times..]}

The first line it prints describes the setup (torch version, threads, BLAS).
Cases (random data of the real shapes, seed 0, float32):

  lstm, gru      one training step of the headline model: 2-layer LSTM/GRU of 64
                 over 15 steps of 49 features, batch 100, Linear 64->49, MSE, Adam
                 1e-3 (zero_grad, forward, backward, step, loss.item())
  gen-lstm,
  gen-gru        complete 1,000 images: the 8 top patches in one forward, then 7
                 single steps each fed the previous prediction (as generateBottom)
  classify       one step of the row classifier: LSTM(28->128) over 28 rows, batch
                 128, Linear(128->10) on the last step, cross-entropy, RMSprop 1e-3
  gan            one GAN step, batch 128: D on real+noise and detached fake+noise
                 (targets 0.9/0.1), Adam; then G (targets 1), Adam (issue 16)

Run with OMP_WAIT_POLICY=PASSIVE (set by vs_torch.ts): otherwise OpenMP threads
spin against OpenBLAS's and PyTorch runs 2-2.5x slower on two cores.
"""

import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def blas():
    """Which BLAS libblas.so.3 resolves to, and what torch says it was built with."""
    path = "/usr/lib/x86_64-linux-gnu/libblas.so.3"
    real = os.path.realpath(path) if os.path.exists(path) else None
    built = [l.strip() for l in torch.__config__.show().splitlines() if "BLAS" in l]
    return {"libblas": real, "built": built}


def headline(cell):
    torch.manual_seed(0)
    rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(49, 64, 2, batch_first=True)
    head = nn.Linear(64, 49)
    opt = torch.optim.Adam([*rnn.parameters(), *head.parameters()], lr=1e-3)
    x, target = torch.rand(100, 15, 49), torch.rand(100, 15, 49)

    def step():
        opt.zero_grad()
        loss = F.mse_loss(head(rnn(x)[0]), target)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def generation(cell):
    torch.manual_seed(0)
    rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(49, 64, 2, batch_first=True)
    head = nn.Linear(64, 49)
    images = torch.rand(1000, 8, 49)

    def run():
        with torch.no_grad():
            out, state = rnn(images)
            pred = head(out[:, -1])
            for _ in range(7):
                out, state = rnn(pred[:, None], state)
                pred = head(out[:, 0])
            return float(pred[0, 0])

    return run


def classify():
    torch.manual_seed(0)
    lstm, fc = nn.LSTM(28, 128, batch_first=True), nn.Linear(128, 10)
    opt = torch.optim.RMSprop([*lstm.parameters(), *fc.parameters()], lr=1e-3, alpha=0.9, eps=1e-7)
    x, labels = torch.rand(128, 28, 28), torch.randint(0, 10, (128,))

    def step():
        opt.zero_grad()
        out, _ = lstm(x)
        loss = F.cross_entropy(fc(out[:, -1]), labels)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def gan():
    # the GAN of examples/gan.ts, as fixtures/gan_torch.py defines and trains it
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures"))
    from gan_torch import discriminator, gan_step, generator, optimizers

    torch.manual_seed(0)
    g, d = generator(), discriminator()
    og, od = optimizers(g, d)
    real = torch.rand(128, 784) * 2 - 1

    def step():
        loss_d, loss_g, _, _ = gan_step(g, d, og, od, real)
        return loss_d.item() + loss_g.item()

    return step


BUILD = {
    "lstm": lambda: headline("lstm"),
    "gru": lambda: headline("gru"),
    "gen-lstm": lambda: generation("lstm"),
    "gen-gru": lambda: generation("gru"),
    "classify": classify,
    "gan": gan,
}


def main():
    if os.environ.get("TORCH_THREADS"):
        torch.set_num_threads(int(os.environ["TORCH_THREADS"]))
    print(json.dumps({
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "openblas_timeout": os.environ.get("OPENBLAS_THREAD_TIMEOUT"), "blas": blas(),
        "cases": list(BUILD)}), flush=True)
    built = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        name = req["case"]
        if name not in built:
            built[name] = BUILD[name]()
            for _ in range(3):
                built[name]()  # warm-up
        ms = []
        for _ in range(int(req["n"])):
            t0 = time.perf_counter()
            built[name]()
            ms.append((time.perf_counter() - t0) * 1000)
        print(json.dumps({"case": name, "ms": ms}), flush=True)


if __name__ == "__main__":
    main()
