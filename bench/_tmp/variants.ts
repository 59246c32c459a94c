import { requestWebGPU } from "../../tensor/webgpu/device.ts";
import { PARAMS_WGSL, SIGMOID_WGSL, TANH_WGSL, entry1d } from "../../tensor/wgsl/common.ts";
const got = await requestWebGPU();
if ("error" in got) throw new Error(got.error);
const gpu = got.backend; const rt = gpu.rt;
const B = 100, H = 64, T = 15;
const up = (n: number) => gpu.upload(new Float32Array(n).map(() => Math.random() - 0.5), "float32") as any;
const x = up(B * T * 4 * H), w = up(4 * H * H), hs = up(B * (T + 1) * H), cs = up(B * H), co = up(B * H), g = up(B * 4 * H);
const head = PARAMS_WGSL + SIGMOID_WGSL + TANH_WGSL;
function decl(names: string[], vec: string[] = []) {
  return names.map((n, i) => `@group(0) @binding(${i + 1}) var<storage, read_write> ${n}: array<${vec.includes(n) ? "vec4<f32>" : "f32"}>;`).join("\n") + "\n";
}
// baseline: 1 row per invocation, scalar
const base = head + decl(["X", "Hs", "C", "W", "HO", "CO", "G"]) + entry1d(`
  let B = pu(0u); let H = pu(1u); let T = pu(2u); let t = pu(3u);
  if (gid >= B * H) { return; }
  let b = gid / H; let j = gid % H;
  let xo = b * T * 4u * H + t * 4u * H + j; let ho = b * (T + 1u) * H + t * H;
  var a0 = X[xo]; var a1 = X[xo + H]; var a2 = X[xo + 2u * H]; var a3 = X[xo + 3u * H];
  let w0 = j * H; let hh = H * H;
  for (var k = 0u; k < H; k++) { let hv = Hs[ho + k]; a0 += W[w0 + k] * hv; a1 += W[w0 + hh + k] * hv; a2 += W[w0 + 2u * hh + k] * hv; a3 += W[w0 + 3u * hh + k] * hv; }
  let ig = sigmoid_(a0); let fg = sigmoid_(a1); let gg = tanh_(a2); let og = sigmoid_(a3);
  let cn = fg * C[b * H + j] + ig * gg; CO[b * H + j] = cn; HO[ho + H + j] = og * tanh_(cn);
  let go = b * 4u * H + j; G[go] = ig; G[go + H] = fg; G[go + 2u * H] = gg; G[go + 3u * H] = og;
`, 64);
// vec4 along k: W and h read as vec4
const vec = head + decl(["X", "Hs", "C", "W", "HO", "CO", "G", "W4", "H4"], ["W4", "H4"]) + entry1d(`
  let B = pu(0u); let H = pu(1u); let T = pu(2u); let t = pu(3u);
  if (gid >= B * H) { return; }
  let b = gid / H; let j = gid % H;
  let xo = b * T * 4u * H + t * 4u * H + j; let ho = b * (T + 1u) * H + t * H;
  var a0 = X[xo]; var a1 = X[xo + H]; var a2 = X[xo + 2u * H]; var a3 = X[xo + 3u * H];
  let n4 = H / 4u; let w0 = j * n4; let hh = H * n4; let h4o = ho / 4u;
  for (var k = 0u; k < n4; k++) { let hv = H4[h4o + k]; a0 += dot(W4[w0 + k], hv); a1 += dot(W4[w0 + hh + k], hv); a2 += dot(W4[w0 + 2u * hh + k], hv); a3 += dot(W4[w0 + 3u * hh + k], hv); }
  let ig = sigmoid_(a0); let fg = sigmoid_(a1); let gg = tanh_(a2); let og = sigmoid_(a3);
  let cn = fg * C[b * H + j] + ig * gg; CO[b * H + j] = cn; HO[ho + H + j] = og * tanh_(cn);
  let go = b * 4u * H + j; G[go] = ig; G[go + H] = fg; G[go + 2u * H] = gg; G[go + 3u * H] = og;
`, 64);
// 4 batch rows per invocation, scalar
const rows4 = head + decl(["X", "Hs", "C", "W", "HO", "CO", "G"]) + entry1d(`
  let B = pu(0u); let H = pu(1u); let T = pu(2u); let t = pu(3u);
  let nq = (B + 3u) / 4u;
  if (gid >= nq * H) { return; }
  let q = gid / H; let j = gid % H;
  let hh = H * H; let w0 = j * H;
  var acc: array<vec4<f32>, 4>;
  var hb: array<u32, 4>;
  for (var r = 0u; r < 4u; r++) { let b = min(q * 4u + r, B - 1u); hb[r] = b * (T + 1u) * H + t * H; acc[r] = vec4<f32>(0.0); }
  let h0 = hb[0]; let h1 = hb[1]; let h2 = hb[2]; let h3 = hb[3];
  var s0 = vec4<f32>(0.0); var s1 = vec4<f32>(0.0); var s2 = vec4<f32>(0.0); var s3 = vec4<f32>(0.0);
  for (var k = 0u; k < H; k++) {
    let wv = vec4<f32>(W[w0 + k], W[w0 + hh + k], W[w0 + 2u * hh + k], W[w0 + 3u * hh + k]);
    s0 += wv * Hs[h0 + k]; s1 += wv * Hs[h1 + k]; s2 += wv * Hs[h2 + k]; s3 += wv * Hs[h3 + k];
  }
  let ss = array<vec4<f32>, 4>(s0, s1, s2, s3);
  for (var r = 0u; r < 4u; r++) {
    let b = q * 4u + r; if (b >= B) { break; }
    let xo = b * T * 4u * H + t * 4u * H + j; let ho = b * (T + 1u) * H + t * H;
    let a = ss[r] + vec4<f32>(X[xo], X[xo + H], X[xo + 2u * H], X[xo + 3u * H]);
    let ig = sigmoid_(a.x); let fg = sigmoid_(a.y); let gg = tanh_(a.z); let og = sigmoid_(a.w);
    let cn = fg * C[b * H + j] + ig * gg; CO[b * H + j] = cn; HO[ho + H + j] = og * tanh_(cn);
    let go = b * 4u * H + j; G[go] = ig; G[go + H] = fg; G[go + 2u * H] = gg; G[go + 3u * H] = og;
  }
`, 64);
const run = async (name: string, code: string, bufs: any[], inv: number) => {
  const src = { key: name, code, reads: 0, writes: bufs.length };
  const rec = () => { for (let t = 0; t < T; t++) rt.dispatch(src, bufs.map((s) => s.buf), (p) => p.u(0, B).u(1, H).u(2, T).u(3, t), Math.ceil(inv / 64)); };
  rec(); await gpu.flush();
  const times = [];
  for (let r = 0; r < 5; r++) { const t0 = performance.now(); for (let i = 0; i < 4; i++) rec(); await gpu.flush(); times.push((performance.now() - t0) / 4); }
  times.sort((a, b) => a - b);
  console.log(name, times[2]!.toFixed(2), "ms per 15 steps");
};
await run("base", base, [x, hs, cs, w, hs, co, g], B * H);
await run("vec4k", vec, [x, hs, cs, w, hs, co, g, w, hs], B * H);
await run("rows4", rows4, [x, hs, cs, w, hs, co, g], Math.ceil(B / 4) * H);
const rows4v = head + decl(["X", "Hs", "C", "W", "HO", "CO", "G", "W4", "H4"], ["W4", "H4"]) + entry1d(`
  let B = pu(0u); let H = pu(1u); let T = pu(2u); let t = pu(3u);
  let nq = (B + 3u) / 4u;
  if (gid >= nq * H) { return; }
  let q = gid / H; let j = gid % H;
  let n4 = H / 4u; let hh = H * n4; let w0 = j * n4;
  let h0 = (min(q * 4u, B - 1u) * (T + 1u) * H + t * H) / 4u;
  let h1 = (min(q * 4u + 1u, B - 1u) * (T + 1u) * H + t * H) / 4u;
  let h2 = (min(q * 4u + 2u, B - 1u) * (T + 1u) * H + t * H) / 4u;
  let h3 = (min(q * 4u + 3u, B - 1u) * (T + 1u) * H + t * H) / 4u;
  var s0 = vec4<f32>(0.0); var s1 = vec4<f32>(0.0); var s2 = vec4<f32>(0.0); var s3 = vec4<f32>(0.0);
  for (var k = 0u; k < n4; k++) {
    let wi = W4[w0 + k]; let wf = W4[w0 + hh + k]; let wg = W4[w0 + 2u * hh + k]; let wo = W4[w0 + 3u * hh + k];
    let x0 = H4[h0 + k]; let x1 = H4[h1 + k]; let x2 = H4[h2 + k]; let x3 = H4[h3 + k];
    s0 += vec4<f32>(dot(wi, x0), dot(wf, x0), dot(wg, x0), dot(wo, x0));
    s1 += vec4<f32>(dot(wi, x1), dot(wf, x1), dot(wg, x1), dot(wo, x1));
    s2 += vec4<f32>(dot(wi, x2), dot(wf, x2), dot(wg, x2), dot(wo, x2));
    s3 += vec4<f32>(dot(wi, x3), dot(wf, x3), dot(wg, x3), dot(wo, x3));
  }
  let ss = array<vec4<f32>, 4>(s0, s1, s2, s3);
  for (var r = 0u; r < 4u; r++) {
    let b = q * 4u + r; if (b >= B) { break; }
    let xo = b * T * 4u * H + t * 4u * H + j; let ho = b * (T + 1u) * H + t * H;
    let a = ss[r] + vec4<f32>(X[xo], X[xo + H], X[xo + 2u * H], X[xo + 3u * H]);
    let ig = sigmoid_(a.x); let fg = sigmoid_(a.y); let gg = tanh_(a.z); let og = sigmoid_(a.w);
    let cn = fg * C[b * H + j] + ig * gg; CO[b * H + j] = cn; HO[ho + H + j] = og * tanh_(cn);
    let go = b * 4u * H + j; G[go] = ig; G[go + H] = fg; G[go + 2u * H] = gg; G[go + 3u * H] = og;
  }
`, 64);
await run("rows4v", rows4v, [x, hs, cs, w, hs, co, g, w, hs], Math.ceil(B / 4) * H);
const rows8 = rows4.replaceAll("4u) / 4u", "7u) / 8u").replaceAll("q * 4u", "q * 8u");
await run("base", base, [x, hs, cs, w, hs, co, g], B * H);
await run("rows4", rows4, [x, hs, cs, w, hs, co, g], Math.ceil(B / 4) * H);
