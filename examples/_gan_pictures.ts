/**
 * The pictures of `examples/gan.ts` that show what the judge says about
 * generated digits, as self-contained SVG (each digit an embedded PNG):
 * the batch analysis (a grid of digits, each with its predicted digit and
 * confidence), individual digits beside their ten probabilities, and the
 * histogram of predicted digits.
 *
 * @module
 */
import { data } from "../mod.ts";

const SIDE = 28;

/** A 28×28 digit (pixels in [0, 1]) as a PNG data URI. */
function digitUri(pixels: Float32Array): string {
  const png = data.encodePng(pixels, SIDE, SIDE);
  let s = "";
  for (const b of png) s += String.fromCharCode(b);
  return `data:image/png;base64,${btoa(s)}`;
}

function digitImage(pixels: Float32Array, x: number, y: number, size: number): string {
  return `<image x="${x}" y="${y}" width="${size}" height="${size}" ` +
    `style="image-rendering:pixelated" href="${digitUri(pixels)}"/>`;
}

function svg(width: number, height: number, body: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="sans-serif">\n` +
    `<rect width="${width}" height="${height}" fill="white"/>\n${body.join("\n")}\n</svg>\n`;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * The batch analysis: digits in a grid, each with the judge's predicted digit
 * and its confidence below it (red below 0.5, orange below 0.9).
 *
 * @param images `n × 784` pixels in [0, 1]
 * @param digit predicted digit per image
 * @param confidence its probability per image
 * @param opts title and digits per row (default 5)
 * @returns the SVG document
 */
export function analysisSvg(
  images: Float32Array,
  digit: Uint8Array,
  confidence: Float32Array,
  opts: { title: string; cols?: number },
): string {
  const n = digit.length, cols = opts.cols ?? 5, rows = Math.ceil(n / cols);
  const cell = 112, size = 84, top = 36;
  const body = [
    `<text x="${(cols * cell) / 2}" y="22" font-size="14" text-anchor="middle">${
      escapeXml(opts.title)
    }</text>`,
  ];
  for (let i = 0; i < n; i++) {
    const x = (i % cols) * cell, y = top + Math.floor(i / cols) * (cell + 8);
    const c = confidence[i]!;
    const color = c < 0.5 ? "#c0392b" : c < 0.9 ? "#d68910" : "#1e8449";
    body.push(
      digitImage(images.subarray(i * 784, (i + 1) * 784), x + (cell - size) / 2, y, size),
      `<text x="${x + cell / 2}" y="${y + size + 18}" font-size="13" text-anchor="middle" ` +
        `fill="${color}">${digit[i]} (${c.toFixed(2)})</text>`,
    );
  }
  return svg(cols * cell, top + rows * (cell + 8), body);
}

/**
 * Individual digits, each beside a bar chart of the judge's probability for
 * each of the ten digits (the predicted one in blue).
 *
 * @param images `n × 784` pixels in [0, 1]
 * @param probs `n × 10` probabilities
 * @param n how many digits
 * @param title the title line
 * @returns the SVG document
 */
export function individualSvg(
  images: Float32Array,
  probs: Float32Array,
  n: number,
  title: string,
): string {
  const rowH = 120, size = 96, barW = 26, chartH = 80, left = 130, width = left + 10 * barW + 20;
  const body = [
    `<text x="${width / 2}" y="22" font-size="14" text-anchor="middle">${escapeXml(title)}</text>`,
  ];
  for (let i = 0; i < n; i++) {
    const y = 36 + i * rowH;
    body.push(digitImage(images.subarray(i * 784, (i + 1) * 784), 12, y, size));
    const p = probs.subarray(i * 10, i * 10 + 10);
    let best = 0;
    for (let c = 1; c < 10; c++) if (p[c]! > p[best]!) best = c;
    body.push(
      `<line x1="${left}" y1="${y + chartH}" x2="${left + 10 * barW}" y2="${
        y + chartH
      }" stroke="#888"/>`,
    );
    for (let c = 0; c < 10; c++) {
      const h = Math.max(0, Math.min(1, p[c]!)) * chartH, x = left + c * barW;
      body.push(
        `<rect x="${x + 3}" y="${(y + chartH - h).toFixed(1)}" width="${barW - 6}" height="${
          h.toFixed(1)
        }" fill="${c === best ? "#2e86c1" : "#aab7b8"}"/>`,
        `<text x="${x + barW / 2}" y="${
          y + chartH + 14
        }" font-size="11" text-anchor="middle">${c}</text>`,
      );
    }
    body.push(
      `<text x="${left + 10 * barW}" y="${y + 10}" font-size="11" text-anchor="end">` +
        `${best}: ${p[best]!.toFixed(3)}</text>`,
    );
  }
  return svg(width, 40 + n * rowH, body);
}

/**
 * The histogram of predicted digits: one bar per digit with its count, and a
 * dashed line at a share of the total (the "every digit drawn" threshold).
 *
 * @param perDigit counts of digits 0–9
 * @param opts title and the share marked by the line (default 0.04)
 * @returns the SVG document
 */
export function histogramSvg(perDigit: number[], opts: { title: string; mark?: number }): string {
  const total = perDigit.reduce((a, b) => a + b, 0) || 1;
  const max = Math.max(...perDigit, 1), chartH = 220, barW = 44, left = 50, top = 40;
  const width = left + 10 * barW + 20, height = top + chartH + 50;
  const y = (v: number): number => top + chartH - (v / max) * chartH;
  const mark = (opts.mark ?? 0.04) * total;
  const body = [
    `<text x="${width / 2}" y="22" font-size="14" text-anchor="middle">${
      escapeXml(opts.title)
    }</text>`,
    `<line x1="${left}" y1="${top + chartH}" x2="${left + 10 * barW}" y2="${
      top + chartH
    }" stroke="#444"/>`,
  ];
  perDigit.forEach((k, c) => {
    const x = left + c * barW;
    body.push(
      `<rect x="${x + 5}" y="${y(k).toFixed(1)}" width="${barW - 10}" height="${
        (top + chartH - y(k)).toFixed(1)
      }" fill="${k < mark ? "#c0392b" : "#2e86c1"}"/>`,
      `<text x="${x + barW / 2}" y="${y(k) - 4}" font-size="10" text-anchor="middle">${k}</text>`,
      `<text x="${x + barW / 2}" y="${
        top + chartH + 16
      }" font-size="12" text-anchor="middle">${c}</text>`,
    );
  });
  if (mark <= max) {
    body.push(
      `<line x1="${left}" y1="${y(mark).toFixed(1)}" x2="${left + 10 * barW}" y2="${
        y(mark).toFixed(1)
      }" stroke="#c0392b" stroke-dasharray="4 3"/>`,
      `<text x="${left - 4}" y="${y(mark) + 4}" font-size="10" text-anchor="end" fill="#c0392b">${
        ((opts.mark ?? 0.04) * 100).toFixed(0)
      }%</text>`,
    );
  }
  body.push(
    `<text x="${left + 5 * barW}" y="${height - 10}" font-size="12" text-anchor="middle">` +
      `predicted digit (${total} digits)</text>`,
  );
  return svg(width, height, body);
}
