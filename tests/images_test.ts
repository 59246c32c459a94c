import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encode } from "fast-png";
import { lineChartSpec, lineChartSvg } from "../data/chart.ts";
import { writeFileAtomic, writeFileAtomicSync } from "../data/files.ts";
import {
  decodePngGray,
  encodePng,
  encodePngRgb,
  imageGrid,
  imageGridPng,
  type Rgb,
} from "../data/png.ts";

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "wgrad-img-"));
}

function pixel(g: { width: number; rgb: Uint8Array }, x: number, y: number): number[] {
  const o = 3 * (y * g.width + x);
  return [g.rgb[o]!, g.rgb[o + 1]!, g.rgb[o + 2]!];
}

Deno.test("png: grayscale encode → decode round trip (bytes and floats)", () => {
  const w = 28, h = 28;
  const bytes = new Uint8Array(w * h).map((_, i) => (i * 7) % 256);
  const png = encodePng(bytes, w, h);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const back = decodePngGray(png);
  assert.equal(back.width, w);
  assert.equal(back.height, h);
  for (let i = 0; i < w * h; i++) assert.equal(back.pixels[i], Math.fround(bytes[i]! / 255));

  // Floats are clamped and rounded to the nearest of 256 levels.
  const floats = new Float32Array([0, 0.5, 1, -0.2, 1.7, NaN]);
  const f = decodePngGray(encodePng(floats, 3, 2)).pixels;
  assert.deepEqual([...f].map((v) => Math.round(v * 255)), [0, 128, 255, 0, 255, 0]);

  // Non-square sizes are reported, not rejected.
  const wide = decodePngGray(encodePng(new Uint8Array(5 * 3), 5, 3));
  assert.equal(wide.width, 5);
  assert.equal(wide.height, 3);
  assert.throws(() => encodePng(new Uint8Array(10), 28, 28), RangeError);
});

Deno.test("png: RGB, RGBA, gray+alpha, 16-bit, 1-bit and palette PNGs decode to gray", () => {
  // RGB: pure red, green, blue, white → BT.601 luma.
  const rgb = new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]);
  const g = decodePngGray(encodePngRgb(rgb, 4, 1)).pixels;
  [0.299, 0.587, 0.114, 1].forEach((want, i) => assert.ok(Math.abs(g[i]! - want) < 1e-6));
  // RGBA: a transparent pixel shows the background.
  const rgba = encode({
    width: 2,
    height: 1,
    data: new Uint8Array([0, 0, 0, 0, 0, 0, 0, 255]),
    channels: 4,
    depth: 8,
  });
  assert.deepEqual([...decodePngGray(rgba).pixels], [1, 0]);
  assert.deepEqual([...decodePngGray(rgba, { background: "black" }).pixels], [0, 0]);
  // Gray + alpha, half transparent white over black.
  const ga = encode({
    width: 1,
    height: 1,
    data: new Uint8Array([255, 128]),
    channels: 2,
    depth: 8,
  });
  assert.ok(Math.abs(decodePngGray(ga, { background: "black" }).pixels[0]! - 128 / 255) < 1e-6);
  // 16-bit gray.
  const g16 = encode({
    width: 2,
    height: 1,
    data: new Uint16Array([0, 65535]),
    channels: 1,
    depth: 16,
  });
  assert.deepEqual([...decodePngGray(g16).pixels], [0, 1]);
  // 1-bit gray, width not a multiple of 8 (rows padded to bytes).
  const bits = encode({
    width: 3,
    height: 2,
    data: new Uint8Array([0b10100000, 0b01000000]),
    channels: 1,
    depth: 1,
  });
  assert.deepEqual([...decodePngGray(bits).pixels], [1, 0, 1, 0, 1, 0]);
  // Palette.
  const pal = encode({
    width: 3,
    height: 1,
    data: new Uint8Array([2, 0, 1]),
    channels: 1,
    depth: 8,
    palette: [[0, 0, 0], [255, 255, 255], [255, 0, 0]],
  });
  const p = decodePngGray(pal).pixels;
  assert.ok(Math.abs(p[0]! - 0.299) < 1e-6 && p[1] === 0 && p[2] === 1);
  assert.throws(() => decodePngGray(new Uint8Array([1, 2, 3, 4])));
});

Deno.test("grid: dimensions, pixel placement, upscale, padding and empty cells", () => {
  const n = 5, h = 3, w = 4, cols = 3, pad = 2, scale = 2;
  const images = new Float32Array(n * h * w);
  // Image k has value (k+1)/10 everywhere except pixel (y=1, x=2) which is 1.
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < h * w; i++) images[k * h * w + i] = (k + 1) / 10;
    images[k * h * w + 1 * w + 2] = 1;
  }
  const padColor: Rgb = [10, 20, 30];
  const g = imageGrid({ images, n, h, w, cols, pad, scale, padColor });
  assert.equal(g.width, cols * w * scale + (cols + 1) * pad); // 3·8 + 4·2 = 32
  assert.equal(g.height, 2 * h * scale + 3 * pad); // 2 rows: 2·6 + 3·2 = 18
  assert.equal(g.rgb.length, g.width * g.height * 3);
  for (let k = 0; k < n; k++) {
    const x0 = pad + (k % cols) * (w * scale + pad);
    const y0 = pad + Math.floor(k / cols) * (h * scale + pad);
    const v = Math.round(((k + 1) / 10) * 255);
    assert.deepEqual(pixel(g, x0, y0), [v, v, v], `cell ${k} top-left`);
    assert.deepEqual(pixel(g, x0 + w * scale - 1, y0 + h * scale - 1), [v, v, v]);
    // The bright pixel (1, 2) covers a 2×2 block.
    for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
      assert.deepEqual(pixel(g, x0 + 2 * scale + dx!, y0 + 1 * scale + dy!), [255, 255, 255]);
    }
    assert.deepEqual(pixel(g, x0 - 1, y0), [...padColor], "padding left of each cell");
  }
  assert.deepEqual(pixel(g, 0, 0), [...padColor]);
  // Cell 5 (row 1, col 2) is empty.
  assert.deepEqual(pixel(g, pad + 2 * (w * scale + pad) + 1, pad + h * scale + pad + 1), [
    ...padColor,
  ]);
  // Bytes work as well as floats.
  const gb = imageGrid({ images: new Uint8Array(4).fill(200), n: 1, h: 2, w: 2, cols: 1, pad: 0 });
  assert.deepEqual(pixel(gb, 1, 1), [200, 200, 200]);
  assert.throws(
    () => imageGrid({ images: new Float32Array(3), n: 1, h: 2, w: 2, cols: 1 }),
    RangeError,
  );
});

Deno.test("grid: the seam colour appears across each cell at the seam row; mask tints", () => {
  const n = 4, h = 28, w = 28, scale = 3, pad = 2, cols = 2;
  const images = new Float32Array(n * h * w).fill(1);
  const seamColor: Rgb = [255, 0, 255];
  const g = imageGrid({ images, n, h, w, cols, pad, scale, seamRow: 14, seamColor, seamWidth: 1 });
  for (let k = 0; k < n; k++) {
    const x0 = pad + (k % cols) * (w * scale + pad);
    const y0 = pad + Math.floor(k / cols) * (h * scale + pad);
    for (let x = x0; x < x0 + w * scale; x++) {
      assert.deepEqual(pixel(g, x, y0 + 14 * scale), [...seamColor], `seam in cell ${k} at x=${x}`);
    }
    assert.deepEqual(pixel(g, x0, y0 + 14 * scale - 1), [255, 255, 255], "above the seam");
    assert.deepEqual(pixel(g, x0, y0 + 14 * scale + 1), [255, 255, 255], "below the seam");
    assert.deepEqual(pixel(g, x0 - 1, y0 + 14 * scale), [96, 96, 96], "seam stays in the cell");
  }
  let seamPixels = 0;
  for (let i = 0; i < g.width * g.height; i++) {
    if (g.rgb[3 * i] === 255 && g.rgb[3 * i + 1] === 0 && g.rgb[3 * i + 2] === 255) seamPixels++;
  }
  assert.equal(seamPixels, n * w * scale);

  // A shared mask over the bottom half tints ink there.
  const mask = new Uint8Array(h * w);
  mask.fill(1, 14 * w);
  const maskColor: Rgb = [0, 128, 255];
  const m = imageGrid({ images, n, h, w, cols, pad: 0, mask, maskColor });
  assert.deepEqual(pixel(m, 0, 0), [255, 255, 255]);
  assert.deepEqual(pixel(m, 0, 27), [...maskColor]);
  assert.deepEqual(pixel(m, 28, 48), [...maskColor]); // cell 3, image row 20
  assert.deepEqual(pixel(m, 28, 40), [255, 255, 255]); // cell 3, image row 12

  // PNG of a grid decodes to the right size.
  const png = imageGridPng({ images, n, h, w, cols, pad, scale, seamRow: 14 });
  const back = decodePngGray(png);
  assert.equal(back.width, g.width);
  assert.equal(back.height, g.height);
});

Deno.test("chart: SVG with an <svg> root, the series names, titles and a log scale", async () => {
  const epochs = [1, 2, 3, 4, 5, 6, 7, 8];
  const train = epochs.map((e) => 0.08 / Math.sqrt(e));
  const validation = epochs.map((e) => 0.09 / Math.sqrt(e) + 0.002);
  const svg = await lineChartSvg({
    title: "Patch completion loss",
    xLabel: "epoch",
    yLabel: "MSE",
    series: [
      { name: "train loss", x: epochs, y: train },
      { name: "validation loss", x: epochs, y: validation },
    ],
  });
  assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.ok(svg.trimEnd().endsWith("</svg>"));
  for (const s of ["train loss", "validation loss", "Patch completion loss", "epoch", "MSE"]) {
    assert.ok(svg.includes(s), `SVG lacks '${s}'`);
  }
  assert.ok((svg.match(/<path/g) ?? []).length >= 2, "at least two line paths");

  const log = await lineChartSvg({
    title: "log",
    xLabel: "step",
    yLabel: "loss",
    logY: true,
    series: [{ name: "train", x: [1, 2, 3, 4], y: [1, 0.1, 0, 0.001] }],
  });
  assert.ok(log.startsWith("<svg") && log.includes("train"));
  const spec = lineChartSpec({
    title: "t",
    xLabel: "x",
    yLabel: "y",
    logY: true,
    series: [{ name: "a", x: [1, 2, 3], y: [1, 0, NaN] }],
  });
  assert.equal((spec.data as { values: unknown[] }).values.length, 1, "≤0 and NaN skipped on log");
  await assert.rejects(
    () =>
      lineChartSvg({ title: "", xLabel: "", yLabel: "", series: [{ name: "a", x: [1], y: [] }] }),
    RangeError,
  );
});

Deno.test("files: writeFileAtomic replaces atomically and leaves no temp file", async () => {
  const dir = tempDir();
  try {
    const path = join(dir, "sub", "ckpt.bin");
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    assert.deepEqual([...readFileSync(path)], [1, 2, 3]);
    await writeFileAtomic(path, "replaced\n");
    assert.equal(readFileSync(path, "utf8"), "replaced\n");
    writeFileAtomicSync(path, new Uint8Array(10000).fill(7));
    assert.equal(readFileSync(path).length, 10000);
    assert.deepEqual(readdirSync(join(dir, "sub")), ["ckpt.bin"], "no temp files left");

    // Concurrent writers: the file is always one complete version, never a mix.
    const a = new Uint8Array(1 << 20).fill(0xaa), b = new Uint8Array(1 << 20).fill(0xbb);
    await Promise.all([
      writeFileAtomic(path, a),
      writeFileAtomic(path, b),
      writeFileAtomic(path, a),
    ]);
    const final = readFileSync(path);
    assert.equal(final.length, 1 << 20);
    assert.ok(final.every((v) => v === final[0]), "one writer's complete content");
    assert.deepEqual(readdirSync(join(dir, "sub")), ["ckpt.bin"]);

    // On failure the old file survives and the temp file is removed.
    const blocker = join(dir, "file");
    writeFileSync(blocker, "x");
    await assert.rejects(() => writeFileAtomic(join(blocker, "child"), "y"));
    const target = join(dir, "isdir");
    await writeFileAtomic(join(target, "inner"), "z"); // makes `isdir` a folder
    await assert.rejects(() => writeFileAtomic(target, "cannot replace a folder"));
    assert.ok(existsSync(join(target, "inner")));
    assert.deepEqual(readdirSync(dir).sort(), ["file", "isdir", "sub"], "no temp files left");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
