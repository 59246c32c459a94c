/**
 * Fused LSTM/GRU steps on WebGPU ↔ CPU: three forward and three backward
 * steps through sequence buffers where h_{t−1} and h_t share a storage,
 * with and without saved gates, the last step without a next-step gradient;
 * and the forward steps on awkward sizes with and without W_hhᵀ (`whhT`,
 * the tvec4/tscalar kernels), aligned and misaligned row views, each
 * WebGPU step also copying h_{t−1} out (`hPrev`, exactly the rows it read).
 */
import type { Backend, Storage } from "../tensor/backend.ts";
import { CpuBackend } from "../tensor/cpu/backend.ts";
import { assertClose } from "./_gradcheck.ts";
import { gpuTest, randArray } from "./_gpu.ts";
import {
  gruStep,
  gruStepBackward,
  lstmStep,
  lstmStepBackward,
} from "../tensor/routines/rnn/mod.ts";
import { placeholder } from "../tensor/routines/rnn/webgpu.ts";

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
    lstmStep(be, {
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
    lstmStepBackward(be, {
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
    gruStep(be, {
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
    gruStepBackward(be, {
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

/**
 * Two forward LSTM and GRU steps of B rows, H units through sequence buffers
 * whose rows start `pad` elements in (pad 1 misaligns the vec4 views),
 * reading W_hhᵀ when `transposed`; returns every output storage.
 */
async function forward(be: Backend, B: number, H: number, transposed: boolean, pad: number) {
  const T = 2, S = pad + (T + 1) * H, w = 1 / Math.sqrt(H);
  const up = (a: Float32Array) => be.upload(a, "float32");
  /** W [G·H, H] and its transpose [H, G·H]. */
  const weights = (G: number, seed: number) => {
    const a = randArray(G * H * H, seed, -w, w), t = new Float32Array(a.length);
    for (let r = 0; r < G * H; r++) for (let k = 0; k < H; k++) t[k * G * H + r] = a[r * H + k]!;
    return { whh: up(a), whhT: transposed ? up(t) : undefined };
  };
  const seq = (seed: number) => up(randArray(B * S, seed, -1, 1));
  const lw = weights(4, 21), gw = weights(3, 22);
  const x = up(randArray(B * T * 4 * H, 23, -1, 1)), hs = seq(24), cs = seq(25);
  const gates = be.alloc(B * T * 4 * H, "float32");
  const xg = up(randArray(B * T * 3 * H, 26, -1, 1)), hg = seq(27);
  // step 0 saves nothing: zeros there, so both backends read the same
  const bg = up(randArray(3 * H, 28, -w, w)), saved = up(new Float32Array(B * T * 4 * H));
  const at = (storage: Storage, t: number) => ({ storage, offset: pad + t * H, stride: S });
  // h_{t−1} copied out by the steps (WebGPU only): rows [B, T, H] after `pad` elements
  const hpS = pad + T * H, gpu = be.name === "webgpu";
  const hpL = be.alloc(B * hpS, "float32"), hpG = be.alloc(B * hpS, "float32");
  const hp = (storage: Storage, t: number) =>
    gpu ? { storage, offset: pad + t * H, stride: hpS } : null;
  for (let t = 0; t < T; t++) {
    lstmStep(be, {
      batch: B,
      hidden: H,
      x: { storage: x, offset: t * 4 * H, stride: T * 4 * H },
      h: at(hs, t),
      c: at(cs, t),
      ...lw,
      hOut: at(hs, t + 1),
      cOut: at(cs, t + 1),
      gates: { storage: gates, offset: t * B * 4 * H, stride: 4 * H },
      hPrev: hp(hpL, t),
    });
    gruStep(be, {
      batch: B,
      hidden: H,
      x: { storage: xg, offset: t * 3 * H, stride: T * 3 * H },
      h: at(hg, t),
      ...gw,
      bhh: bg,
      hOut: at(hg, t + 1),
      saved: t === 0 ? null : { storage: saved, offset: t * B * 4 * H, stride: 4 * H },
      hPrev: hp(hpG, t),
    });
  }
  const out: Record<string, Float32Array> = {};
  for (const [k, s] of Object.entries({ hs, cs, gates, hg, saved } as Record<string, Storage>)) {
    out[k] = new Float32Array(await be.read(s));
  }
  if (gpu) {
    for (const [name, copy] of [["hs", hpL], ["hg", hpG]] as const) {
      const got = new Float32Array(await be.read(copy)),
        seqAll = out[name]!;
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < T; t++) {
          for (let j = 0; j < H; j++) {
            const g = got[b * hpS + pad + t * H + j], want = seqAll[b * S + pad + t * H + j];
            if (g !== want) {
              throw new Error(
                `${name} hPrev[${b}, ${t}, ${j}] = ${g}, h_{t−1} = ${want} (B=${B} H=${H})`,
              );
            }
          }
        }
      }
    }
  }
  return out;
}

gpuTest(
  "lstmStep/gruStep forward with and without whhT match CPU on awkward sizes",
  async (gpu) => {
    const cases: [number, number, number][] = [];
    for (const H of [7, 8, 64, 65]) for (const B of [1, 3, 100]) cases.push([B, H, 0]);
    cases.push([3, 8, 1], [100, 64, 1], [3, 7, 1]);
    for (const [B, H, pad] of cases) {
      const c = await forward(cpu, B, H, false, pad);
      for (const transposed of [false, true]) {
        const g = await forward(gpu, B, H, transposed, pad);
        for (const k of Object.keys(c)) {
          const label = `${k} B=${B} H=${H} pad=${pad} whhT=${transposed}`;
          assertClose(g[k]!, c[k]!, { rtol: 1e-5, atol: 2e-6, label });
        }
      }
    }
    await gpu.flush();
  },
);

gpuTest("lstmStepBackward with dcZero ignores dc: the bits of a zero-filled dc", async (gpu) => {
  for (const [B, H] of [[5, 7], [3, 8], [100, 64]] as const) {
    const up = (n: number, seed: number) => gpu.upload(randArray(n, seed, -1, 1), "float32");
    const c = up(B * H, 1), cPrev = up(B * H, 2), dh = up(B * H, 3), whh = up(4 * H * H, 4);
    const gates = gpu.upload(randArray(B * 4 * H, 5, 0.05, 0.95), "float32");
    const step = async (dcInit: Float32Array, dcZero: boolean) => {
      const dc = gpu.upload(dcInit, "float32"), dg = gpu.alloc(B * 4 * H, "float32");
      const rowsOf = (storage: Storage, stride: number) => ({ storage, offset: 0, stride });
      const [hRows, gRows] = [(st: Storage) => rowsOf(st, H), (st: Storage) => rowsOf(st, 4 * H)];
      const args = { batch: B, hidden: H, whh, dc, dgNext: null, dcZero };
      lstmStepBackward(gpu, {
        ...args,
        dh: hRows(dh),
        cPrev: hRows(cPrev),
        c: hRows(c),
        gates: gRows(gates),
        dg: gRows(dg),
      });
      const out = [new Float32Array(await gpu.read(dg)), new Float32Array(await gpu.read(dc))];
      gpu.free(dc);
      gpu.free(dg);
      return out;
    };
    const got = await step(randArray(B * H, 6, -5, 5), true);
    const want = await step(new Float32Array(B * H), false);
    for (const k of [0, 1]) {
      if (!got[k]!.every((v, i) => Object.is(v, want[k]![i]))) {
        throw new Error(`${k ? "dc" : "dg"} differs with dcZero (B=${B} H=${H})`);
      }
    }
    for (const s of [c, cPrev, dh, whh, gates]) gpu.free(s);
  }
});

gpuTest("zeroState steps ignore h and c: the bits of steps reading zero states", async (gpu) => {
  // NaN in the buffers bound for absent roles: a kernel that read them would show it
  for (let i = 0; i < 8; i++) {
    gpu.rt.device.queue.writeBuffer(
      placeholder(gpu.rt, i).buffer,
      0,
      new Float32Array(64).fill(NaN),
    );
  }
  const same = async (what: string, a: Storage[], b: Storage[]) => {
    for (let i = 0; i < a.length; i++) {
      const [x, y] = [
        new Float32Array(await gpu.read(a[i]!)),
        new Float32Array(await gpu.read(b[i]!)),
      ];
      if (!x.every((v, k) => Object.is(v, y[k]))) throw new Error(`${what}: output ${i} differs`);
    }
  };
  for (const [B, H] of [[5, 7], [3, 8], [100, 64]] as const) {
    const up = (n: number, seed: number) => gpu.upload(randArray(n, seed, -1, 1), "float32");
    const zero = gpu.upload(new Float32Array(B * H), "float32"), junk = up(B * H, 99);
    const r = (storage: Storage, w: number) => ({ storage, offset: 0, stride: w * H });
    for (const transposed of [false, true]) {
      const what = `B=${B} H=${H} whhT=${transposed}`;
      const lx = up(B * 4 * H, 1), lw = up(4 * H * H, 2), gxs = up(B * 3 * H, 3);
      const gw = up(3 * H * H, 4), bh = up(3 * H, 5);
      const lwT = transposed ? up(4 * H * H, 6) : undefined;
      const gwT = transposed ? up(3 * H * H, 7) : undefined;
      const outs = (zeroState: boolean) => {
        const o = [B * H, B * H, B * 4 * H, B * H, B * H, B * 4 * H, B * H].map((n) =>
          gpu.upload(new Float32Array(n).fill(NaN), "float32")
        );
        const h = zeroState ? junk : zero;
        lstmStep(gpu, {
          batch: B,
          hidden: H,
          x: r(lx, 4),
          h: r(h, 1),
          c: r(h, 1),
          whh: lw,
          whhT: lwT,
          hOut: r(o[0]!, 1),
          cOut: r(o[1]!, 1),
          gates: r(o[2]!, 4),
          hPrev: r(o[3]!, 1),
          zeroState,
        });
        gruStep(gpu, {
          batch: B,
          hidden: H,
          x: r(gxs, 3),
          h: r(h, 1),
          whh: gw,
          whhT: gwT,
          bhh: bh,
          hOut: r(o[4]!, 1),
          saved: r(o[5]!, 4),
          hPrev: r(o[6]!, 1),
          zeroState,
        });
        return o;
      };
      await same(`forward ${what}`, outs(true), outs(false));
    }
    // backward step 0: LSTM reads c_{−1} (cPrev), GRU h_{−1}
    const g4 = gpu.upload(randArray(B * 4 * H, 8, 0.05, 0.95), "float32");
    const dh = up(B * H, 9), c = up(B * H, 10), w4 = up(4 * H * H, 11), w3 = up(3 * H * H, 12);
    const back = (zeroState: boolean) => {
      const prev = zeroState ? junk : zero;
      const o = [B * H, B * 4 * H, B * H, B * 3 * H, B * 3 * H].map((n, i) =>
        gpu.upload(i === 0 || i === 2 ? randArray(n, 13 + i) : new Float32Array(n), "float32")
      );
      const base = { batch: B, hidden: H, dh: r(dh, 1), zeroState };
      lstmStepBackward(gpu, {
        ...base,
        cPrev: r(prev, 1),
        c: r(c, 1),
        gates: r(g4, 4),
        whh: w4,
        dc: o[0]!,
        dg: r(o[1]!, 4),
        dgNext: null,
      });
      gruStepBackward(gpu, {
        ...base,
        h: r(prev, 1),
        saved: r(g4, 4),
        whh: w3,
        dhz: o[2]!,
        dgx: r(o[3]!, 3),
        dgh: r(o[4]!, 3),
        dghNext: null,
      });
      return o;
    };
    await same(`backward B=${B} H=${H}`, back(true), back(false));
  }
});
