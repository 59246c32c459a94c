/**
 * Data and picture utilities of wgrad: the MNIST IDX reader and views, seeded
 * batches, PNG grids, SVG line charts and atomic file writes.
 *
 * @example
 * ```ts
 * import { loadMnist, toPatches } from "./mod.ts";
 * const test = await loadMnist({ split: "test" });
 * const patches = toPatches(test.images, test.count); // Float32Array [10000, 16, 49]
 * ```
 *
 * @module
 */
export {
  DataError,
  encodeIdx,
  IDX_IMAGES_MAGIC,
  IDX_LABELS_MAGIC,
  type IdxArray,
  type IdxKind,
  isGzip,
  parseIdx,
  readIdx,
  type ReadIdxOptions,
  readIdxSync,
  writeIdx,
} from "./idx.ts";
export {
  batches,
  BatchIterator,
  type BatchOptions,
  defaultMnistDir,
  fromPatches,
  loadMnist,
  type LoadMnistOptions,
  type MnistSet,
  type MnistSplit,
  type MnistSplits,
  mnistSplits,
  type PatchOptions,
  shuffledIndices,
  subset,
  takeRows,
  toPatches,
  toRows,
} from "./mnist.ts";
export {
  decodePngGray,
  type DecodePngOptions,
  encodePng,
  encodePngRgb,
  type GrayImage,
  imageGrid,
  type ImageGridOptions,
  imageGridPng,
  type PngHeader,
  pngHeader,
  type Rgb,
  type RgbImage,
} from "./png.ts";
export {
  type ChartSeries,
  type LineChartOptions,
  lineChartSpec,
  lineChartSvg,
  vegaLiteSvg,
} from "./chart.ts";
export { writeFileAtomic, writeFileAtomicSync } from "./files.ts";
export {
  type DigitSequenceOptions,
  type DigitSequences,
  digitSequences,
  indicesByDigit,
} from "./sequences.ts";
