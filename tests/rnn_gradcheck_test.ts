/**
 * Gradient checks of the fused recurrent ops and modules against central
 * finite differences in float64 on the CPU backend (max relative error
 * < 1e-6): `lstmLayer`/`gruLayer` with respect to every input, through the
 * output sequence and the final states, and 2-layer LSTM/GRU modules with
 * respect to the input, the initial state and every parameter.
 */
import assert from "node:assert/strict";
import { cat, type Tensor } from "../mod.ts";
import { GRU, gru, type GruLayerWeights } from "../nn/gru.ts";
import { LSTM, lstm, type LstmLayerWeights } from "../nn/lstm.ts";
import { gruLayer, lstmLayer } from "../tensor/routines/rnn/mod.ts";
import { gradCheck, rand64 } from "./_gradcheck.ts";

const TOL = 1e-6;
const B = 3, T = 4, IN = 5, H = 7;

/** Everything a layer returns, flattened into one [B, ·] tensor. */
function packAll(r: { output: Tensor; hT?: Tensor; cT?: Tensor; h?: Tensor; c?: Tensor }): Tensor {
  const parts = [r.output.reshape([r.output.shape[0]!, -1])];
  for (const s of [r.hT, r.cT]) if (s) parts.push(s);
  return cat(parts, 1);
}

function disposeAll(ts: Tensor[]): void {
  for (const t of ts) {
    t.zeroGrad();
    t.dispose();
  }
}

async function check(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[]): Promise<void> {
  const { maxRelError, where } = await gradCheck(fn, inputs);
  assert.ok(maxRelError < TOL, `max relative error ${maxRelError} at ${where}`);
}

Deno.test("lstmLayer gradients (xproj, W_hh, h0, c0 through output, h_T, c_T) match finite differences", async () => {
  const inputs = [
    rand64([B, T, 4 * H], 1, { lo: -1.5, hi: 1.5 }),
    rand64([4 * H, H], 2, { lo: -0.6, hi: 0.6 }),
    rand64([B, H], 3, { lo: -1, hi: 1 }),
    rand64([B, H], 4, { lo: -1, hi: 1 }),
  ];
  await check((x, w, h0, c0) => packAll(lstmLayer(x!, w!, h0!, c0!)), inputs);
  disposeAll(inputs);
});

Deno.test("lstmLayer gradient through c_T alone and with a single time step", async () => {
  const inputs = [
    rand64([2, 1, 12], 5, { lo: -1.5, hi: 1.5 }),
    rand64([12, 3], 6, { lo: -0.6, hi: 0.6 }),
    rand64([2, 3], 7, { lo: -1, hi: 1 }),
    rand64([2, 3], 8, { lo: -1, hi: 1 }),
  ];
  await check((x, w, h0, c0) => lstmLayer(x!, w!, h0!, c0!).cT, inputs);
  await check((x, w, h0, c0) => packAll(lstmLayer(x!, w!, h0!, c0!)), inputs);
  disposeAll(inputs);
});

Deno.test("gruLayer gradients (gx, W_hh, b_hh, h0 through output and h_T) match finite differences", async () => {
  const inputs = [
    rand64([B, T, 3 * H], 11, { lo: -1.5, hi: 1.5 }),
    rand64([3 * H, H], 12, { lo: -0.6, hi: 0.6 }),
    rand64([3 * H], 13, { lo: -0.6, hi: 0.6 }),
    rand64([B, H], 14, { lo: -1, hi: 1 }),
  ];
  await check((x, w, b, h0) => packAll(gruLayer(x!, w!, b!, h0!)), inputs);
  await check((x, w, b, h0) => gruLayer(x!, w!, b!, h0!).hT, inputs);
  disposeAll(inputs);
});

Deno.test("2-layer LSTM module gradients (input, state, all 8 parameters) match finite differences", async () => {
  const m = new LSTM(IN, H, { numLayers: 2, backend: "cpu", dtype: "float64" });
  const params = m.parameters();
  assert.equal(params.length, 8);
  const x = rand64([B, T, IN], 21);
  const h0 = rand64([2, B, H], 22, { lo: -1, hi: 1 });
  const c0 = rand64([2, B, H], 23, { lo: -1, hi: 1 });
  const fn = (xs: Tensor, h: Tensor, c: Tensor, ...p: Tensor[]) => {
    const layers: LstmLayerWeights[] = [0, 1].map((k) => ({
      weightIh: p[4 * k]!,
      weightHh: p[4 * k + 1]!,
      biasIh: p[4 * k + 2]!,
      biasHh: p[4 * k + 3]!,
    }));
    const r = lstm(xs, layers, { h, c });
    return cat(
      [r.output.reshape([B, -1]), r.state.h.reshape([B, -1]), r.state.c.reshape([B, -1])],
      1,
    );
  };
  // parameters() is PyTorch's order, and forward runs the same function of them.
  m.layers.forEach((l, k) => {
    const own = [l.weightIh, l.weightHh, l.biasIh, l.biasHh];
    assert.ok(own.every((t, i) => t === params[4 * k + i]), `layer ${k} parameter order`);
  });
  await check((xs, h, c, ...p) => fn(xs!, h!, c!, ...p), [x, h0, c0, ...params]);
  disposeAll([x, h0, c0]);
  m.dispose();
});

Deno.test("2-layer GRU module gradients (input, state, all 8 parameters) match finite differences", async () => {
  const m = new GRU(IN, H, { numLayers: 2, backend: "cpu", dtype: "float64" });
  const params = m.parameters();
  assert.equal(params.length, 8);
  const x = rand64([B, T, IN], 31);
  const h0 = rand64([2, B, H], 32, { lo: -1, hi: 1 });
  const fn = (xs: Tensor, h: Tensor, ...p: Tensor[]) => {
    const layers: GruLayerWeights[] = [0, 1].map((k) => ({
      weightIh: p[4 * k]!,
      weightHh: p[4 * k + 1]!,
      biasIh: p[4 * k + 2]!,
      biasHh: p[4 * k + 3]!,
    }));
    const r = gru(xs, layers, { h });
    return cat([r.output.reshape([B, -1]), r.state.h.reshape([B, -1])], 1);
  };
  m.layers.forEach((l, k) => {
    const own = [l.weightIh, l.weightHh, l.biasIh, l.biasHh];
    assert.ok(own.every((t, i) => t === params[4 * k + i]), `layer ${k} parameter order`);
  });
  await check((xs, h, ...p) => fn(xs!, h!, ...p), [x, h0, ...params]);
  disposeAll([x, h0]);
  m.dispose();
});
