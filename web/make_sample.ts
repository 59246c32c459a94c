/**
 * Writes the page's sample of MNIST test digits: the first ten of each digit
 * 0..9 in the test set, in digit order (100 images), as the IDX files
 * `web/sample/digits-idx3-ubyte` and `web/sample/labels-idx1-ubyte`.
 * Deterministic; rerun only to change the choice:
 *
 * ```sh
 * deno run -A web/make_sample.ts
 * ```
 *
 * @module
 */
import { data } from "../mod.ts";

/** Digits of each class in the sample. */
export const PER_DIGIT = 10;

/**
 * Pick the sample from the MNIST test set.
 *
 * @param test the test set
 * @returns image indices into the test set, ten per digit in digit order
 */
export function sampleIndices(test: data.MnistSet): number[] {
  const picked: number[] = [];
  for (let d = 0; d < 10; d++) {
    let n = 0;
    for (let i = 0; i < test.count && n < PER_DIGIT; i++) {
      if (test.labels[i] === d) {
        picked.push(i);
        n++;
      }
    }
  }
  return picked;
}

if (import.meta.main) {
  const test = await data.loadMnist({ split: "test" });
  const idx = sampleIndices(test);
  const px = test.rows * test.cols;
  const images = new Uint8Array(idx.length * px), labels = new Uint8Array(idx.length);
  idx.forEach((i, k) => {
    images.set(test.images.subarray(i * px, (i + 1) * px), k * px);
    labels[k] = test.labels[i]!;
  });
  const dir = new URL("./sample/", import.meta.url).pathname;
  data.writeIdx(`${dir}digits-idx3-ubyte`, [idx.length, test.rows, test.cols], images);
  data.writeIdx(`${dir}labels-idx1-ubyte`, [idx.length], labels);
  console.log(
    `wrote ${idx.length} test digits (indices ${idx.slice(0, 3).join(", ")}, …) to ${dir}`,
  );
}
