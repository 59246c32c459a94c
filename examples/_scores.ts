/**
 * Scores of generated digits from a classifier's outputs (the judge of
 * `examples/_judge.ts`), computed on the host in float64:
 *
 * - the **Inception Score** `exp(E_x KL(p(y|x) ‖ p(y)))` with the judge's
 *   class probabilities in place of Inception-v3's (1 = every digit drawn
 *   as the same mixture, 10 = each digit certain and all ten equally often);
 * - the **Fréchet distance** between Gaussians fitted to two sets of feature
 *   vectors (the judge's 128 penultimate values in place of Inception's 2048):
 *   `‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁^½ Σ₂ Σ₁^½)^½)`, the matrix square roots
 *   taken through symmetric eigen-decompositions (cyclic Jacobi);
 * - what the judge says about a batch: how many of each digit, the mean
 *   confidence, the share at or above a confidence.
 *
 * @example
 * ```ts
 * import { featureStats, frechetDistance } from "./_scores.ts";
 * const a = featureStats(new Float32Array([0, 0, 2, 2]), 2, 2);
 * console.assert(Math.abs(frechetDistance(a, a)) < 1e-9);
 * ```
 *
 * @module
 */

/** Mean and covariance of a set of feature vectors. */
export interface FeatureStats {
  /** Dimension d. */
  dim: number;
  /** Number of vectors the statistics came from. */
  count: number;
  /** Mean `[d]`. */
  mean: Float64Array;
  /** Covariance `[d, d]` row-major (unbiased: divided by count − 1, as NumPy's `np.cov`). */
  cov: Float64Array;
}

/**
 * Mean and unbiased covariance of `n` vectors of `d` values.
 *
 * @param x `n × d` values, row-major
 * @param n number of vectors (at least 2)
 * @param d values per vector
 * @returns the statistics
 */
export function featureStats(x: Float32Array | Float64Array, n: number, d: number): FeatureStats {
  if (!(n >= 2) || x.length < n * d) {
    throw new RangeError(
      `featureStats: need at least 2 vectors of ${d} values in ${x.length} values, got n = ${n}`,
    );
  }
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += x[i * d + j]!;
  for (let j = 0; j < d; j++) mean[j]! /= n;
  const cov = new Float64Array(d * d);
  const c = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) c[j] = x[i * d + j]! - mean[j]!;
    for (let j = 0; j < d; j++) {
      const cj = c[j]!;
      if (cj === 0) continue;
      const row = j * d;
      for (let k = j; k < d; k++) cov[row + k]! += cj * c[k]!;
    }
  }
  for (let j = 0; j < d; j++) {
    for (let k = j; k < d; k++) {
      const v = cov[j * d + k]! / (n - 1);
      cov[j * d + k] = v;
      cov[k * d + j] = v;
    }
  }
  return { dim: d, count: n, mean, cov };
}

/**
 * Eigenvalues and eigenvectors of a symmetric matrix by the cyclic Jacobi
 * method (float64; converges quadratically, exact to rounding for the sizes
 * used here).
 *
 * @param a `d × d` symmetric matrix, row-major (not modified)
 * @param d its size
 * @returns eigenvalues `[d]` and eigenvectors as the columns of `vectors` (`d × d`)
 */
export function symmetricEigen(
  a: Float64Array,
  d: number,
): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a.subarray(0, d * d));
  const v = new Float64Array(d * d);
  for (let i = 0; i < d; i++) v[i * d + i] = 1;
  let scale = 0;
  for (let i = 0; i < d * d; i++) scale += m[i]! * m[i]!;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < d; p++) for (let q = p + 1; q < d; q++) off += m[p * d + q]! ** 2;
    if (off <= 1e-30 * scale || off === 0) break;
    for (let p = 0; p < d; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = m[p * d + q]!;
        if (apq === 0) continue;
        const app = m[p * d + p]!, aqq = m[q * d + q]!;
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        // A ← Jᵀ A J with the rotation J in the (p, q) plane.
        for (let k = 0; k < d; k++) {
          const akp = m[k * d + p]!, akq = m[k * d + q]!;
          m[k * d + p] = c * akp - s * akq;
          m[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = m[p * d + k]!, aqk = m[q * d + k]!;
          m[p * d + k] = c * apk - s * aqk;
          m[q * d + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = v[k * d + p]!, vkq = v[k * d + q]!;
          v[k * d + p] = c * vkp - s * vkq;
          v[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(d);
  for (let i = 0; i < d; i++) values[i] = m[i * d + i]!;
  return { values, vectors: v };
}

/**
 * The square root of a symmetric positive semi-definite matrix,
 * `V diag(√max(λ, 0)) Vᵀ` (eigenvalues below zero from rounding count as 0).
 *
 * @param a `d × d` symmetric matrix
 * @param d its size
 * @returns `d × d` symmetric matrix S with S·S ≈ a
 */
export function sqrtSymmetric(a: Float64Array, d: number): Float64Array {
  const { values, vectors } = symmetricEigen(a, d);
  const out = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    const r = Math.sqrt(Math.max(values[k]!, 0));
    if (r === 0) continue;
    for (let i = 0; i < d; i++) {
      const vi = vectors[i * d + k]! * r;
      if (vi === 0) continue;
      for (let j = 0; j < d; j++) out[i * d + j]! += vi * vectors[j * d + k]!;
    }
  }
  return out;
}

function matmul(a: Float64Array, b: Float64Array, d: number): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < d; k++) {
      const aik = a[i * d + k]!;
      if (aik === 0) continue;
      for (let j = 0; j < d; j++) out[i * d + j]! += aik * b[k * d + j]!;
    }
  }
  return out;
}

/**
 * The Fréchet distance between the Gaussians N(μ₁, Σ₁) and N(μ₂, Σ₂):
 * `‖μ₁ − μ₂‖² + Tr Σ₁ + Tr Σ₂ − 2 Tr (Σ₁^½ Σ₂ Σ₁^½)^½`. The last trace equals
 * `Tr (Σ₁ Σ₂)^½` (the form FID is usually written in); this one stays
 * symmetric, so both roots come from symmetric eigen-decompositions.
 *
 * @param a the first set's statistics
 * @param b the second set's statistics (same dimension)
 * @returns the distance (≥ 0 up to rounding)
 */
export function frechetDistance(a: FeatureStats, b: FeatureStats): number {
  const d = a.dim;
  if (b.dim !== d) {
    throw new RangeError(`frechetDistance: dimensions differ (${a.dim} and ${b.dim})`);
  }
  let diff = 0, tr = 0;
  for (let i = 0; i < d; i++) {
    diff += (a.mean[i]! - b.mean[i]!) ** 2;
    tr += a.cov[i * d + i]! + b.cov[i * d + i]!;
  }
  const s = sqrtSymmetric(a.cov, d);
  const m = matmul(matmul(s, b.cov, d), s, d);
  for (let i = 0; i < d; i++) {
    for (let j = i + 1; j < d; j++) {
      const v = (m[i * d + j]! + m[j * d + i]!) / 2; // symmetric up to rounding
      m[i * d + j] = v;
      m[j * d + i] = v;
    }
  }
  const { values } = symmetricEigen(m, d);
  let trRoot = 0;
  for (let i = 0; i < d; i++) trRoot += Math.sqrt(Math.max(values[i]!, 0));
  return diff + tr - 2 * trRoot;
}

/**
 * The Inception Score of class probabilities: `exp(mean_i KL(p_i ‖ p̄))` with
 * `p̄` the mean of the `p_i`, over all `n` rows at once (one split).
 *
 * @param probs `n × classes` probabilities (rows summing to 1)
 * @param n number of rows
 * @param classes classes per row (default 10)
 * @returns the score, from 1 to `classes`
 */
export function inceptionScore(
  probs: Float32Array | Float64Array,
  n: number,
  classes = 10,
): number {
  if (!(n >= 1) || probs.length < n * classes) {
    throw new RangeError(`inceptionScore: need ${n} rows of ${classes} in ${probs.length} values`);
  }
  const marginal = new Float64Array(classes);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < classes; c++) marginal[c]! += probs[i * classes + c]!;
  }
  for (let c = 0; c < classes; c++) marginal[c]! /= n;
  let kl = 0;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < classes; c++) {
      const p = probs[i * classes + c]!;
      if (p > 0) kl += p * (Math.log(p) - Math.log(marginal[c]!));
    }
  }
  return Math.exp(kl / n);
}

/** What the judge says about a batch of digits. */
export interface JudgeSummary {
  /** Digits judged. */
  count: number;
  /** How many were judged to be each digit 0–9 (the most probable class). */
  perDigit: number[];
  /** `perDigit` as shares of `count`. */
  shares: number[];
  /** Mean probability of the predicted class. */
  meanConfidence: number;
  /** Share of digits whose predicted class has probability ≥ `threshold`. */
  confidentShare: number;
  /** The confidence threshold of `confidentShare`. */
  threshold: number;
}

/**
 * The predicted digit and its probability for each row.
 *
 * @param probs `n × 10` probabilities
 * @param n number of rows
 * @returns the predicted digits and their probabilities
 */
export function predictions(
  probs: Float32Array,
  n: number,
): { digit: Uint8Array; confidence: Float32Array } {
  const digit = new Uint8Array(n), confidence = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < 10; c++) if (probs[i * 10 + c]! > probs[i * 10 + best]!) best = c;
    digit[i] = best;
    confidence[i] = probs[i * 10 + best]!;
  }
  return { digit, confidence };
}

/**
 * Counts per predicted digit, mean confidence and the share of confident digits.
 *
 * @param probs `n × 10` probabilities
 * @param n number of rows
 * @param threshold confidence counted as sure (default 0.9)
 * @returns the summary
 */
export function summarizeJudgement(probs: Float32Array, n: number, threshold = 0.9): JudgeSummary {
  const { digit, confidence } = predictions(probs, n);
  const perDigit = new Array(10).fill(0);
  let sum = 0, sure = 0;
  for (let i = 0; i < n; i++) {
    perDigit[digit[i]!]++;
    sum += confidence[i]!;
    if (confidence[i]! >= threshold) sure++;
  }
  return {
    count: n,
    perDigit,
    shares: perDigit.map((k) => k / n),
    meanConfidence: sum / n,
    confidentShare: sure / n,
    threshold,
  };
}
