import { requestWebGPU } from "../../tensor/webgpu/device.ts";
import { PARAMS_WGSL, SIGMOID_WGSL, TANH_WGSL, entry1d } from "../../tensor/wgsl/common.ts";
const got = await requestWebGPU();
if ("error" in got) throw new Error(got.error);
const gpu = got.backend; const rt = gpu.rt;
const B = 100, H = 64, T = 15;
const up = (n: number) => gpu.upload(new Float32Array(n).map(() => Math.random() - 0.5), "float32") as any;
const dg = up(B * T * 4 * H), w = up(4 * H * H), out = up(B * H);
const head = PARAMS_WGSL;
function decl(names: string[], vec: string[] = []) {
  return names.map((n, i) => `@group(0) @binding(${i + 1}) var<storage, read_write> ${n}: array<${vec.includes(n) ? "vec4<f32>" : "f32"}>;`).join("\n") + "\n";
}
const base = head + decl(["DG", "W", "O"]) + entry1d(`
  let B = pu(0u); let H = pu(1u); let T = pu(2u); let t = pu(3u);
  if (gid >= B * H) { return; }
  let b = gid / H; let j = gid % H;
  let no = b * T * 4u * H + t * 4u * H;
  var d = 0.0;
  for (var k = 0u; k < 4u * H; k++) { d += DG[no + k] * W[k * H + j]; }
  O[gid] = d;
`, 64);
const rows4 = head + decl(["DG", "W", "O"]) + entry1d(`
  let B = pu(0u); let H = pu(1u); let T = pu(2u); let t = pu(3u);
  let nq = (B + 3u) / 4u;
  if (gid >= nq * H) { return; }
  let q = gid / H; let j = gid % H;
  let S = T * 4u * H;
  let n0 = min(q * 4u, B - 1u) * S + t * 4u * H;
  let n1 = min(q * 4u + 1u, B - 1u) * S + t * 4u * H;
  let n2 = min(q * 4u + 2u, B - 1u) * S + t * 4u * H;
  let n3 = min(q * 4u + 3u, B - 1u) * S + t * 4u * H;
  var d = vec4<f32>(0.0);
  for (var k = 0u; k < 4u * H; k++) { let wv = W[k * H + j]; d += wv * vec4<f32>(DG[n0 + k], DG[n1 + k], DG[n2 + k], DG[n3 + k]); }
  for (var r = 0u; r < 4u; r++) { let b = q * 4u + r; if (b < B) { O[b * H + j] = d[r]; } }
`, 64);
const rows4v = head + decl(["DG", "W", "O", "DG4"], ["DG4"]) + entry1d(`
  let B = pu(0u); let H = pu(1u); let T = pu(2u); let t = pu(3u);
  let nq = (B + 3u) / 4u;
  if (gid >= nq * H) { return; }
  let q = gid / H; let j = gid % H;
  let S = T * 4u * H;
  let n0 = (min(q * 4u, B - 1u) * S + t * 4u * H) / 4u;
  let n1 = (min(q * 4u + 1u, B - 1u) * S + t * 4u * H) / 4u;
  let n2 = (min(q * 4u + 2u, B - 1u) * S + t * 4u * H) / 4u;
  let n3 = (min(q * 4u + 3u, B - 1u) * S + t * 4u * H) / 4u;
  var d = vec4<f32>(0.0);
  for (var k = 0u; k < H; k++) {
    let wv = vec4<f32>(W[4u * k * H + j], W[(4u * k + 1u) * H + j], W[(4u * k + 2u) * H + j], W[(4u * k + 3u) * H + j]);
    d += vec4<f32>(dot(wv, DG4[n0 + k]), dot(wv, DG4[n1 + k]), dot(wv, DG4[n2 + k]), dot(wv, DG4[n3 + k]));
  }
  for (var r = 0u; r < 4u; r++) { let b = q * 4u + r; if (b < B) { O[b * H + j] = d[r]; } }
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
for (let i = 0; i < 2; i++) {
await run("base", base, [dg, w, out], B * H);
await run("rows4", rows4, [dg, w, out], Math.ceil(B / 4) * H);
await run("rows4v", rows4v, [dg, w, out, dg], Math.ceil(B / 4) * H);
}
