/**
 * Line charts (loss and accuracy curves) as SVG, drawn by Vega-Lite and Vega
 * (npm `vega-lite`, `vega`) rendered headless: no DOM and no canvas are needed,
 * text widths are estimated. The libraries are imported on first use, so
 * programs that never draw a chart do not load them.
 *
 * @example
 * ```ts
 * import { lineChartSvg } from "./chart.ts";
 * const svg = await lineChartSvg({
 *   title: "loss",
 *   xLabel: "epoch",
 *   yLabel: "MSE",
 *   series: [{ name: "train", x: [1, 2, 3], y: [0.09, 0.05, 0.04] }],
 * });
 * console.assert(svg.startsWith("<svg"));
 * ```
 *
 * @module
 */

/** One curve of a chart. */
export interface ChartSeries {
  /** Legend name, e.g. "train" or "validation". */
  name: string;
  /** X values (e.g. epochs or steps). */
  x: number[];
  /** Y values, same length as `x`. Non-finite values (and ≤ 0 on a log scale) are skipped. */
  y: number[];
}

/** Options of {@link lineChartSvg}. */
export interface LineChartOptions {
  /** Chart title. */
  title: string;
  /** X axis title. */
  xLabel: string;
  /** Y axis title. */
  yLabel: string;
  /** The curves, drawn in this order with distinct colours and a legend. */
  series: ChartSeries[];
  /** Logarithmic y axis (default false). */
  logY?: boolean;
  /** Width of the plotting area in pixels (default 560). */
  width?: number;
  /** Height of the plotting area in pixels (default 320). */
  height?: number;
  /** Mark the data points (default: when every series has at most 60 points). */
  points?: boolean;
}

/**
 * The Vega-Lite specification of a line chart (exposed for tests and for
 * people who want to tweak it).
 *
 * @param opts the chart
 * @returns a Vega-Lite v6 top-level spec as a plain object
 */
export function lineChartSpec(opts: LineChartOptions): Record<string, unknown> {
  const values: { x: number; y: number; series: string }[] = [];
  for (const s of opts.series) {
    if (s.x.length !== s.y.length) {
      throw new RangeError(
        `lineChartSvg: series '${s.name}' has ${s.x.length} x values but ${s.y.length} y values`,
      );
    }
    for (let i = 0; i < s.x.length; i++) {
      const x = s.x[i]!, y = s.y[i]!;
      if (!Number.isFinite(x) || !Number.isFinite(y) || (opts.logY && y <= 0)) continue;
      values.push({ x, y, series: s.name });
    }
  }
  const names = opts.series.map((s) => s.name);
  const points = opts.points ?? opts.series.every((s) => s.x.length <= 60);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: opts.title,
    width: opts.width ?? 560,
    height: opts.height ?? 320,
    background: "white",
    padding: 8,
    data: { values },
    mark: { type: "line", point: points, strokeWidth: 2 },
    encoding: {
      x: { field: "x", type: "quantitative", title: opts.xLabel, scale: { zero: false } },
      y: {
        field: "y",
        type: "quantitative",
        title: opts.yLabel,
        scale: opts.logY ? { type: "log" } : { zero: false },
      },
      color: {
        field: "series",
        type: "nominal",
        title: null,
        scale: { domain: names },
        sort: names,
      },
    },
  };
}

/**
 * Draw a line chart of one or more curves as SVG text (Vega-Lite → Vega,
 * rendered with `renderer: "none"`, no DOM or canvas needed).
 *
 * @param opts title, axis titles, series, optional log y scale and size
 * @returns the SVG document, starting with `<svg`
 * @example
 * ```ts
 * import { lineChartSvg } from "./chart.ts";
 * import { writeFileAtomic } from "./files.ts";
 * const svg = await lineChartSvg({
 *   title: "training",
 *   xLabel: "epoch",
 *   yLabel: "loss",
 *   logY: true,
 *   series: [
 *     { name: "train", x: [1, 2, 3], y: [0.5, 0.2, 0.1] },
 *     { name: "validation", x: [1, 2, 3], y: [0.6, 0.3, 0.2] },
 *   ],
 * });
 * await writeFileAtomic(Deno.makeTempDirSync() + "/loss.svg", svg);
 * ```
 */
export async function lineChartSvg(opts: LineChartOptions): Promise<string> {
  // async: a bad series rejects the promise rather than throwing before it exists
  return await vegaLiteSvg(lineChartSpec(opts));
}

/**
 * Render any Vega-Lite specification (a heatmap, bars, charts side by side)
 * as SVG text, headless like {@link lineChartSvg}.
 *
 * @param spec a Vega-Lite v6 top-level spec as a plain object
 * @returns the SVG document, starting with `<svg`
 * @example
 * ```ts
 * import { vegaLiteSvg } from "./chart.ts";
 * const svg = await vegaLiteSvg({
 *   data: { values: [{ digit: "0", p: 0.9 }, { digit: "1", p: 0.1 }] },
 *   mark: "bar",
 *   encoding: {
 *     x: { field: "digit", type: "ordinal" },
 *     y: { field: "p", type: "quantitative" },
 *   },
 * });
 * console.assert(svg.startsWith("<svg"));
 * ```
 */
export async function vegaLiteSvg(spec: Record<string, unknown>): Promise<string> {
  const [vega, vl] = await Promise.all([import("vega"), import("vega-lite")]);
  const compiled = vl.compile(spec as unknown as import("vega-lite").TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none", logLevel: vega.Warn });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
