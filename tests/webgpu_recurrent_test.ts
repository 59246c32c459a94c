/**
 * Fused LSTM/GRU steps on WebGPU ↔ CPU: three forward and three backward
 * steps through sequence buffers where h_{t−1} and h_t share a storage,
 * with and without saved gates, the last step without a next-step gradient.
 */
import type { Backend, Storage } from "../tensor/backend.ts";
import { CpuBackend } from "../tensor/cpu/backend.ts";
import { assertClose } from "./_gradcheck.ts";
import { gpuTest, randArray } from "./_gpu.ts";

const cpu = new CpuBackend();
const B = 5, H = 7, T = 3;

/** Run LSTM and GRU forward + backward over T steps; return every output storage. */
async function run(be: Backend) {
  const up = (n: number, seed: number) => be.upload(randArray(n, seed, -1, 1), "float32");
  // LSTM: sequence buffer hs [B, T+1, H] (h and hOut share storage), cs likewise
  const x = up(B * T * 4 * H, 1),
    whh = up(4 * H * H, 2),
    hs = up(B * (T + 1) * H, 3),
    cs = up(B * (T + 1) * H, 4);
  const gates = be.upload(new Float32Array(B * T * 4 * H), "float32"); // slot 1 stays 0
  for (let t = 0; t < T; t++) {
    be.lstmStep({
      batch: B,
      hidden: H,
      x: { storage: x, offset: t * 4 * H, stride: T * 4 * H },
      h: { storage: hs, offset: t * H, stride: (T + 1) * H },
      c: { storage: cs, offset: t * H, stride: (T + 1) * H },
      whh,
      hOut: { storage: hs, offset: (t + 1) * H, stride: (T + 1) * H },
      cOut: { storage: cs, offset: (t + 1) * H, stride: (T + 1) * H },
      gates: t === 1 ? null : { storage: gates, offset: t * 4 * H, stride: T * 4 * H },
    });
  }
  // backward
  const dh = up(B * T * H, 5), dc = up(B * H, 6), dg = be.alloc(B * T * 4 * H, "float32");
  for (let t = T - 1; t >= 0; t--) {
    be.lstmStepBackward({
      batch: B,
      hidden: H,
      dh: { storage: dh, offset: t * H, stride: T * H },
      cPrev: { storage: cs, offset: t * H, stride: (T + 1) * H },
      c: { storage: cs, offset: (t + 1) * H, stride: (T + 1) * H },
      gates: { storage: gates, offset: (t === 1 ? 0 : t) * 4 * H, stride: T * 4 * H },
      whh,
      dc,
      dg: { storage: dg, offset: t * 4 * H, stride: T * 4 * H },
      dgNext: t === T - 1 ? null : (t + 1) * 4 * H,
    });
  }
  // GRU
  const xg = up(B * T * 3 * H, 7),
    wg = up(3 * H * H, 8),
    bg = up(3 * H, 9),
    hg = up(B * (T + 1) * H, 10);
  const saved = be.upload(new Float32Array(B * T * 4 * H), "float32");
  for (let t = 0; t < T; t++) {
    be.gruStep({
      batch: B,
      hidden: H,
      x: { storage: xg, offset: t * 3 * H, stride: T * 3 * H },
      h: { storage: hg, offset: t * H, stride: (T + 1) * H },
      whh: wg,
      bhh: bg,
      hOut: { storage: hg, offset: (t + 1) * H, stride: (T + 1) * H },
      saved: t === 1 ? null : { storage: saved, offset: t * 4 * H, stride: T * 4 * H },
    });
  }
  const dhz = up(B * H, 11),
    dgx = be.alloc(B * T * 3 * H, "float32"),
    dgh = be.alloc(B * T * 3 * H, "float32");
  for (let t = T - 1; t >= 0; t--) {
    be.gruStepBackward({
      batch: B,
      hidden: H,
      dh: { storage: dh, offset: t * H, stride: T * H },
      h: { storage: hg, offset: t * H, stride: (T + 1) * H },
      saved: { storage: saved, offset: (t === 1 ? 0 : t) * 4 * H, stride: T * 4 * H },
      whh: wg,
      dhz,
      dgx: { storage: dgx, offset: t * 3 * H, stride: T * 3 * H },
      dgh: { storage: dgh, offset: t * 3 * H, stride: T * 3 * H },
      dghNext: t === T - 1 ? null : (t + 1) * 3 * H,
    });
  }
  const out: Record<string, Float32Array> = {};
  for (
    const [k, s] of Object.entries(
      { hs, cs, gates, dg, dc, hg, saved, dgx, dgh, dhz } as Record<string, Storage>,
    )
  ) out[k] = new Float32Array(await be.read(s));
  return out;
}

gpuTest("lstmStep/gruStep and their backward steps match CPU over 3 steps", async (gpu) => {
  const g = await run(gpu), c = await run(cpu);
  for (const k of Object.keys(c)) assertClose(g[k]!, c[k]!, { rtol: 1e-5, atol: 1e-6, label: k });
  await gpu.flush();
});
