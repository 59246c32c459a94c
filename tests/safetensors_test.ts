/**
 * The safetensors codec: round trips, the exact bytes of a tiny file, every
 * error with its message, reading every PyTorch fixture in fixtures/, and (where
 * PyTorch is installed) loading a checkpoint we write into torch.
 */
import assert from "node:assert/strict";
import { hasTorch, TORCH_PYTHON } from "./_env.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  SafetensorsError,
  type SafetensorsTensor,
} from "../nn/safetensors.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url);

/** A file from a header object (serialized as is, padded to 8) and a data section. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), pad = true): Uint8Array {
  let h = header instanceof Uint8Array
    ? header
    : new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  if (pad && h.length % 8 !== 0) {
    const p = new Uint8Array(Math.ceil(h.length / 8) * 8).fill(0x20);
    p.set(h);
    h = p;
  }
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function headerOf(bytes: Uint8Array): Record<string, unknown> {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
}

function assertThrowsSt(
  fn: () => unknown,
  message: string | RegExp,
  tensor: string | undefined,
  source = "<buffer>",
): SafetensorsError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof SafetensorsError, `expected a SafetensorsError, got ${caught}`);
  assert.ok(caught instanceof SyntaxError);
  assert.equal(caught.name, "SafetensorsError");
  if (typeof message === "string") assert.equal(caught.message, message);
  else assert.match(caught.message, message);
  assert.equal(caught.tensor, tensor);
  assert.equal(caught.source, source);
  return caught;
}

Deno.test("round trip: F32, F64, 0-d, empty, metadata", () => {
  const tensors: Record<string, SafetensorsTensor> = {
    "b.f32": { dtype: "F32", shape: [2, 3], data: new Float32Array([1, -2.5, 3, 1e-30, NaN, -0]) },
    "a.f64": { dtype: "F64", shape: [3], data: new Float64Array([Math.PI, -1e300, Infinity]) },
    "scalar": { dtype: "F32", shape: [], data: new Float32Array([42]) },
    "empty": { dtype: "F32", shape: [0, 4], data: new Float32Array(0) },
    "odd": { dtype: "F32", shape: [1, 1, 3], data: new Float32Array([7, 8, 9]) },
    "wide": { dtype: "F64", shape: [1], data: new Float64Array([2 ** -1074]) },
  };
  const metadata = { format: "pt", note: "ünïcode ✓" };
  const bytes = encodeSafetensors(tensors, metadata);
  // The data section starts 8-aligned and each tensor at a multiple of its itemsize.
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + n) % 8, 0);
  const header = headerOf(bytes);
  assert.deepEqual(Object.keys(header), [
    "__metadata__",
    "a.f64",
    "b.f32",
    "empty",
    "odd",
    "scalar",
    "wide",
  ]);
  // F64 first, then F32, by name; back to back.
  const offs = (k: string) => (header[k] as { data_offsets: number[] }).data_offsets;
  assert.deepEqual(offs("a.f64"), [0, 24]);
  assert.deepEqual(offs("wide"), [24, 32]);
  assert.deepEqual(offs("b.f32"), [32, 56]);
  assert.deepEqual(offs("empty"), [56, 56]);
  assert.deepEqual(offs("odd"), [56, 68]);
  assert.deepEqual(offs("scalar"), [68, 72]);
  assert.equal(bytes.length, 8 + n + 72);

  const back = decodeSafetensors(bytes);
  assert.deepEqual(back.metadata, metadata);
  assert.deepEqual(Object.keys(back.tensors).sort(), Object.keys(tensors).sort());
  for (const [name, t] of Object.entries(tensors)) {
    const b = back.tensors[name];
    assert.equal(b.dtype, t.dtype, name);
    assert.equal(b.storedDtype, t.dtype, name);
    assert.deepEqual(b.shape, t.shape, name);
    assert.equal(b.data.constructor, t.data.constructor, name);
    assert.deepEqual(Array.from(b.data), Array.from(t.data), name);
  }
  assert.ok(Object.is(back.tensors["b.f32"].data[5], -0));
  // Decoded tensors can be written again unchanged.
  const again = encodeSafetensors(back.tensors, back.metadata);
  assert.deepEqual(again, bytes);
});

Deno.test("round trip: no metadata, no tensors, subarray input", () => {
  const none = encodeSafetensors({});
  assert.deepEqual(decodeSafetensors(none), { tensors: {}, metadata: {} });
  const bytes = encodeSafetensors({
    x: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) },
  });
  assert.equal("__metadata__" in headerOf(bytes), false);
  // Embedded at an odd offset of a larger buffer: data is copied, not misaligned-viewed.
  const big = new Uint8Array(bytes.length + 3);
  big.set(bytes, 3);
  const back = decodeSafetensors(big.subarray(3));
  assert.deepEqual(Array.from(back.tensors.x.data), [1, 2]);
});

Deno.test("encode: exact bytes of a tiny file", () => {
  const bytes = encodeSafetensors(
    { w: { dtype: "F32", shape: [2], data: new Float32Array([1, -2]) } },
    { k: "v" },
  );
  const json = '{"__metadata__":{"k":"v"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  assert.equal(json.length, 79); // padded with one space to 80
  const expected = new Uint8Array([
    80,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    ...new TextEncoder().encode(json + " "),
    0x00,
    0x00,
    0x80,
    0x3f, // 1.0f
    0x00,
    0x00,
    0x00,
    0xc0, // -2.0f
  ]);
  assert.deepEqual(bytes, expected);

  // With padding: a header of 53 bytes padded with 3 spaces to 56.
  const padded = encodeSafetensors({ s: { dtype: "F64", shape: [], data: new Float64Array([1]) } });
  const h = '{"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}';
  assert.equal(h.length, 53);
  assert.equal(new DataView(padded.buffer).getBigUint64(0, true), 56n);
  assert.equal(new TextDecoder().decode(padded.subarray(8, 64)), h + "   ");
  assert.deepEqual(Array.from(padded.subarray(64)), [0, 0, 0, 0, 0, 0, 0xf0, 0x3f]);
});

Deno.test("decode: a hand-built file with unaligned, out-of-order, overlapping tensors", () => {
  // data: [f32 1.5][f64 -3][byte] ; tensors read at offsets 0, 4 (unaligned for F64), 0 again.
  const data = new Uint8Array(13);
  const dv = new DataView(data.buffer);
  dv.setFloat32(0, 1.5, true);
  dv.setFloat64(4, -3, true);
  data[12] = 7;
  const bytes = rawFile(
    {
      b: { dtype: "F64", shape: [1], data_offsets: [4, 12] },
      a: { dtype: "F32", shape: [], data_offsets: [0, 4] },
      again: { dtype: "F32", shape: [1, 1], data_offsets: [0, 4] },
      u: { dtype: "U8", shape: [1], data_offsets: [12, 13] },
      __metadata__: { x: "1" },
    },
    data,
  );
  const { tensors, metadata } = decodeSafetensors(bytes);
  assert.deepEqual(metadata, { x: "1" });
  assert.deepEqual(Object.keys(tensors), ["b", "a", "again", "u"]);
  assert.deepEqual(Array.from(tensors.a.data), [1.5]);
  assert.deepEqual(tensors.a.shape, []);
  assert.deepEqual(Array.from(tensors.b.data), [-3]);
  assert.ok(tensors.b.data instanceof Float64Array);
  assert.deepEqual(Array.from(tensors.again.data), [1.5]);
  assert.deepEqual(tensors.again.shape, [1, 1]);
  assert.deepEqual(Array.from(tensors.u.data), [7]);
  assert.equal(tensors.u.storedDtype, "U8");
  assert.equal(tensors.u.dtype, "F32");
});

Deno.test("decode: a tensor or metadata key named __proto__ is a plain entry", () => {
  const data = new Uint8Array(4);
  new DataView(data.buffer).setFloat32(0, 2, true);
  const header = '{"__metadata__":{"__proto__":"m"},' +
    '"__proto__":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}';
  const { tensors, metadata } = decodeSafetensors(rawFile(header, data));
  assert.equal(Object.getPrototypeOf(tensors), Object.prototype);
  assert.deepEqual(Object.keys(tensors), ["__proto__"]);
  assert.deepEqual(Array.from(Object.getOwnPropertyDescriptor(tensors, "__proto__")!.value.data), [
    2,
  ]);
  assert.equal(Object.getOwnPropertyDescriptor(metadata, "__proto__")!.value, "m");
});

Deno.test("decode: converts F16, BF16, I64, I32, I16, I8, BOOL", () => {
  const data = new Uint8Array(64);
  const dv = new DataView(data.buffer);
  // F16 at 0: 1, -2, 65504, 2^-24 (subnormal), -inf
  [0x3c00, 0xc000, 0x7bff, 0x0001, 0xfc00].forEach((h, i) => dv.setUint16(2 * i, h, true));
  // BF16 at 10: 1, -0.5
  dv.setUint16(10, 0x3f80, true);
  dv.setUint16(12, 0xbf00, true);
  // I64 at 16: -5, 2^40
  dv.setBigInt64(16, -5n, true);
  dv.setBigInt64(24, 2n ** 40n, true);
  // I32 at 32: -7, I16 at 36: -300, I8 at 38: -1, BOOL at 39: 1
  dv.setInt32(32, -7, true);
  dv.setInt16(36, -300, true);
  dv.setInt8(38, -1);
  dv.setUint8(39, 1);
  const bytes = rawFile(
    {
      h: { dtype: "F16", shape: [5], data_offsets: [0, 10] },
      bf: { dtype: "BF16", shape: [2], data_offsets: [10, 14] },
      l: { dtype: "I64", shape: [2], data_offsets: [16, 32] },
      i: { dtype: "I32", shape: [1], data_offsets: [32, 36] },
      s: { dtype: "I16", shape: [1], data_offsets: [36, 38] },
      c: { dtype: "I8", shape: [1], data_offsets: [38, 39] },
      z: { dtype: "BOOL", shape: [1], data_offsets: [39, 40] },
    },
    data,
  );
  const { tensors: t } = decodeSafetensors(bytes);
  assert.deepEqual(Array.from(t.h.data), [1, -2, 65504, 2 ** -24, -Infinity]);
  assert.ok(t.h.data instanceof Float32Array);
  assert.deepEqual(Array.from(t.bf.data), [1, -0.5]);
  assert.deepEqual(Array.from(t.l.data), [-5, 2 ** 40]);
  assert.ok(t.l.data instanceof Float64Array);
  assert.equal(t.l.dtype, "F64");
  assert.equal(t.l.storedDtype, "I64");
  assert.deepEqual(Array.from(t.i.data), [-7]);
  assert.deepEqual(Array.from(t.s.data), [-300]);
  assert.deepEqual(Array.from(t.c.data), [-1]);
  assert.deepEqual(Array.from(t.z.data), [1]);
});

Deno.test("decode errors: file and header", () => {
  const src = "model.safetensors";
  assertThrowsSt(
    () => decodeSafetensors(new Uint8Array(5), src),
    "Cannot read 'model.safetensors': file is 5 bytes, too short for the 8-byte header length",
    undefined,
    src,
  );
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, 2n ** 63n, true);
  assertThrowsSt(
    () => decodeSafetensors(huge, src),
    "Cannot read 'model.safetensors': header length 9223372036854775808 goes beyond the end " +
      "of the file (16 bytes, 8 after the length)",
    undefined,
    src,
  );
  const cut = rawFile({ a: { dtype: "F32", shape: [], data_offsets: [0, 4] } }).subarray(0, 20);
  assertThrowsSt(
    () => decodeSafetensors(cut),
    /^Cannot read '<buffer>': header length 56 goes beyond the end of the file \(20 bytes/,
    undefined,
  );
  const notJson = assertThrowsSt(
    () => decodeSafetensors(rawFile("{not json"), src),
    /^Cannot read 'model\.safetensors': header is not UTF-8 JSON: /,
    undefined,
    src,
  );
  assert.ok(notJson.cause instanceof SyntaxError);
  assertThrowsSt(
    () => decodeSafetensors(rawFile(new Uint8Array([0x7b, 0xff, 0x7d]))),
    /header is not UTF-8 JSON/,
    undefined,
  );
  assertThrowsSt(
    () => decodeSafetensors(rawFile("[1, 2]")),
    "Cannot read '<buffer>': header is not a JSON object but an array",
    undefined,
  );
  assertThrowsSt(
    () => decodeSafetensors(rawFile({ __metadata__: { n: 1 } })),
    `Cannot read '<buffer>': "__metadata__" entry 'n' is 1, not a string`,
    undefined,
  );
  assertThrowsSt(
    () => decodeSafetensors(rawFile({ __metadata__: [] })),
    `Cannot read '<buffer>': "__metadata__" is not an object`,
    undefined,
  );
});

Deno.test("decode errors: tensor entries", () => {
  const src = "model.safetensors";
  const one = (entry: unknown, data = new Uint8Array(8)) =>
    decodeSafetensors(rawFile({ "lstm.weight_ih_l0": entry }, data), src);
  const prefix = "Cannot read tensor 'lstm.weight_ih_l0' from 'model.safetensors': ";
  const cases: [unknown, string][] = [
    [5, "header entry is 5, not an object"],
    [
      { dtype: "Q4", shape: [2], data_offsets: [0, 8] },
      'unknown dtype "Q4" (known: F64, F32, F16, BF16, I64, U64, I32, U32, I16, U16, I8, U8, BOOL)',
    ],
    [
      { shape: [2], data_offsets: [0, 8] },
      "unknown dtype undefined (known: F64, F32, F16, BF16, I64, U64, I32, U32, I16, U16, I8, " +
      "U8, BOOL)",
    ],
    [
      { dtype: "F32", shape: [2, -1], data_offsets: [0, 8] },
      "shape [2,-1] is not a list of non-negative integers",
    ],
    [
      { dtype: "F32", shape: [1.5], data_offsets: [0, 8] },
      "shape [1.5] is not a list of non-negative integers",
    ],
    [
      { dtype: "F32", shape: [2], data_offsets: [8, 0] },
      "data_offsets [8,0] is not a pair [begin, end] of non-negative integers with begin <= end",
    ],
    [
      { dtype: "F32", shape: [2], data_offsets: [0] },
      "data_offsets [0] is not a pair [begin, end] of non-negative integers with begin <= end",
    ],
    [
      { dtype: "F32", shape: [2], data_offsets: [-4, 4] },
      "data_offsets [-4,4] is not a pair [begin, end] of non-negative integers with begin <= end",
    ],
    [
      { dtype: "F32", shape: [256, 49], data_offsets: [0, 100] },
      "data_offsets [0, 100] go beyond the 8-byte data section (file truncated?)",
    ],
    [
      { dtype: "F32", shape: [3], data_offsets: [0, 8] },
      "data_offsets [0, 8] hold 8 bytes but shape [3] of F32 needs 12",
    ],
    [
      { dtype: "F64", shape: [], data_offsets: [4, 8] },
      "data_offsets [4, 8] hold 4 bytes but shape [] of F64 needs 8",
    ],
  ];
  for (const [entry, detail] of cases) {
    assertThrowsSt(() => one(entry), prefix + detail, "lstm.weight_ih_l0", src);
  }
  // The message from the brief, with a data section large enough for the offsets.
  assertThrowsSt(
    () => one({ dtype: "F32", shape: [256, 49], data_offsets: [0, 100] }, new Uint8Array(100)),
    prefix + "data_offsets [0, 100] hold 100 bytes but shape [256, 49] of F32 needs 50176",
    "lstm.weight_ih_l0",
    src,
  );
  // A valid file cut short inside its data.
  const full = encodeSafetensors({
    a: { dtype: "F32", shape: [4], data: new Float32Array(4) },
    b: { dtype: "F32", shape: [4], data: new Float32Array(4) },
  });
  assertThrowsSt(
    () => decodeSafetensors(full.subarray(0, full.length - 1), "cut.safetensors"),
    "Cannot read tensor 'b' from 'cut.safetensors': data_offsets [16, 32] go beyond the " +
      "31-byte data section (file truncated?)",
    "b",
    "cut.safetensors",
  );
});

Deno.test("encode errors", () => {
  const t = (x: unknown) => ({ x }) as unknown as Record<string, SafetensorsTensor>;
  assert.throws(
    () => encodeSafetensors(t({ dtype: "F32", shape: [3], data: new Float32Array(2) })),
    {
      name: "TypeError",
      message: "Cannot write tensor 'x': shape [3] needs 3 elements, data has 2",
    },
  );
  assert.throws(
    () => encodeSafetensors(t({ dtype: "F64", shape: [2], data: new Float32Array(2) })),
    { message: "Cannot write tensor 'x': dtype F64 needs a Float64Array, got Float32Array" },
  );
  assert.throws(
    () => encodeSafetensors(t({ dtype: "I64", shape: [2], data: new Float64Array(2) })),
    { message: `Cannot write tensor 'x': dtype "I64" is not F32 or F64` },
  );
  assert.throws(
    () => encodeSafetensors(t({ dtype: "F32", shape: [-2], data: new Float32Array(2) })),
    { message: "Cannot write tensor 'x': shape [-2] is not a list of non-negative integers" },
  );
  assert.throws(
    () =>
      encodeSafetensors({ __metadata__: { dtype: "F32", shape: [], data: new Float32Array(1) } }),
    { message: `Cannot write tensor '__metadata__': the name "__metadata__" is reserved` },
  );
  assert.throws(
    () => encodeSafetensors({}, { n: 1 } as unknown as Record<string, string>),
    { name: "TypeError", message: "Cannot write metadata 'n': value 1 is not a string" },
  );
});

const FIXTURE_FILES: Record<string, number> = {
  "lstm.safetensors": 44,
  "gru.safetensors": 38,
  "batchnorm.safetensors": 30,
  "conv.safetensors": 16,
  "maxpool.safetensors": 8,
  "losses.safetensors": 30,
  "optim.safetensors": 77,
  "linear.safetensors": 8,
};

Deno.test("fixtures: every fixtures/*.safetensors parses and is finite F32", async () => {
  const found: string[] = [];
  for await (const entry of Deno.readDir(FIXTURES)) {
    if (entry.isFile && entry.name.endsWith(".safetensors")) found.push(entry.name);
  }
  for (const name of Object.keys(FIXTURE_FILES)) assert.ok(found.includes(name), name);
  for (const name of found) {
    const bytes = await Deno.readFile(new URL(name, FIXTURES));
    const { tensors, metadata } = decodeSafetensors(bytes, `fixtures/${name}`);
    if (name in FIXTURE_FILES) {
      assert.equal(Object.keys(tensors).length, FIXTURE_FILES[name], name);
    }
    // every fixture names the committed script that made it
    assert.match(metadata.generator ?? "", /^fixtures\/make_\w+\.py$/, name);
    assert.ok(
      (await Deno.stat(new URL(`../${metadata.generator}`, FIXTURES))).isFile,
      `${name}: ${metadata.generator} exists`,
    );
    for (const [key, t] of Object.entries(tensors)) {
      assert.equal(t.storedDtype, "F32", `${name}:${key}`);
      assert.equal(t.data.length, t.shape.reduce((a, b) => a * b, 1), `${name}:${key}`);
      assert.ok(t.data.every(Number.isFinite), `${name}:${key} has non-finite values`);
    }
    // Our encoder reproduces PyTorch's file byte for byte.
    assert.deepEqual(encodeSafetensors(tensors, metadata), bytes, name);
  }
});

Deno.test("fixtures: spot checks of shapes and values", async () => {
  const read = async (name: string) =>
    decodeSafetensors(await Deno.readFile(new URL(name, FIXTURES)), name).tensors;
  const lstm = await read("lstm.safetensors");
  assert.deepEqual(lstm["param.weight_ih_l0"].shape, [28, 5]);
  assert.deepEqual(lstm["param.weight_hh_l1"].shape, [28, 7]);
  assert.deepEqual(lstm["state.c0"].shape, [2, 3, 7]);
  assert.deepEqual(lstm["nostate.output"].shape, [3, 4, 7]);
  assert.deepEqual(lstm["state.grad.bias_hh_l1"].shape, [28]);
  // output[:, -1] of a batch_first LSTM is the top layer's h_n.
  const out = lstm["nostate.output"].data;
  const hn = lstm["nostate.h_n"].data;
  for (let b = 0; b < 3; b++) {
    for (let j = 0; j < 7; j++) assert.equal(out[b * 28 + 3 * 7 + j], hn[21 + b * 7 + j]);
  }
  const gru = await read("gru.safetensors");
  assert.deepEqual(gru["param.weight_ih_l0"].shape, [21, 5]);
  assert.equal("state.c0" in gru, false);

  const lin = await read("linear.safetensors");
  // output = input @ weight^T + bias
  const [x, w, bias, y] = ["input", "param.weight", "param.bias", "output"].map((k) => lin[k].data);
  for (let i = 0; i < 4; i++) {
    for (let o = 0; o < 3; o++) {
      let s = bias[o];
      for (let k = 0; k < 7; k++) s += x[i * 7 + k] * w[o * 7 + k];
      assert.ok(Math.abs(s - y[i * 3 + o]) < 1e-5, `linear output [${i}, ${o}]`);
    }
  }
  const optim = await read("optim.safetensors");
  // Plain SGD: p_k = p_{k-1} - 0.1 g_k.
  for (let k = 1; k <= 5; k++) {
    const p0 = optim[`sgd.param.${k - 1}`].data;
    const g = optim[`sgd.grad.${k}`].data;
    const p1 = optim[`sgd.param.${k}`].data;
    for (let i = 0; i < 15; i++) assert.ok(Math.abs(p0[i] - 0.1 * g[i] - p1[i]) < 1e-6);
  }
  const losses = await read("losses.safetensors");
  assert.deepEqual(losses["ce.mean.value"].shape, []);
  assert.deepEqual(losses["ce.target"].shape, [6]);
  assert.equal(losses["bce_edge.sum.value"].data[0], Math.fround(200.9808349609375));
});

Deno.test({
  name: "checkpoint we write loads into torch with strict=True (skipped without torch)",
  ignore: !(await hasTorch()),
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const hidden = 6, input = 4, head = 3;
      const tensors: Record<string, SafetensorsTensor> = {};
      const add = (name: string, shape: number[]) => {
        const n = shape.reduce((a, b) => a * b, 1);
        const data = new Float32Array(n).map((_, i) => Math.sin(i + name.length) * 0.1);
        tensors[name] = { dtype: "F32", shape, data };
      };
      for (let l = 0; l < 2; l++) {
        const inp = l === 0 ? input : hidden;
        add(`lstm.weight_ih_l${l}`, [4 * hidden, inp]);
        add(`lstm.weight_hh_l${l}`, [4 * hidden, hidden]);
        add(`lstm.bias_ih_l${l}`, [4 * hidden]);
        add(`lstm.bias_hh_l${l}`, [4 * hidden]);
      }
      add("head.weight", [head, hidden]);
      add("head.bias", [head]);
      const path = `${dir}/model.safetensors`;
      await Deno.writeFile(path, encodeSafetensors(tensors, { format: "pt" }));
      const run = (args: string[]) =>
        new Deno.Command(TORCH_PYTHON, {
          args: [new URL("check_checkpoint.py", FIXTURES).pathname, path, ...args],
          env: { OMP_WAIT_POLICY: "PASSIVE" },
        }).output();
      const sizes = ["--layers", "2", "--hidden", `${hidden}`, "--input", `${input}`];
      const ok = await run(["--arch", "lstm", ...sizes, "--head", `${head}`]);
      assert.equal(ok.code, 0, new TextDecoder().decode(ok.stderr));
      assert.equal(new TextDecoder().decode(ok.stdout).trim(), "ok 10");
      // A mismatch (wrong head size, or GRU weights expected) fails.
      const bad = await run(["--arch", "lstm", ...sizes, "--head", `${head + 1}`]);
      assert.notEqual(bad.code, 0);
      assert.match(new TextDecoder().decode(bad.stderr), /^error: .*head\.weight/s);
      const gru = await run(["--arch", "gru", ...sizes, "--head", `${head}`]);
      assert.notEqual(gru.code, 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
