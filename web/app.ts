/// <reference lib="dom" />
/**
 * The page: a 28×28 drawing pad (top half), the completion model finishing
 * the bottom half patch by patch, the row classifier's reading when its
 * checkpoint is served, and a batch completion of the shipped sample. All
 * inference goes through `infer.ts` (the public API). The page publishes
 * what it computed on `globalThis.wgradPage` ({@link PageState}) for the
 * browser test.
 *
 * URL parameters: `backend=auto|webgpu|cpu` (default auto), `model=lstm|gru`,
 * `classifier=0` (leave the row classifier out).
 *
 * @module
 */
import { data, init, type InitResult } from "../mod.ts";
import { type CompletionModel, describeConfig } from "../examples/_complete_model.ts";
import { inkBytes, inkSegment, type Point, SIZE, TOP_ROWS } from "./draw.ts";
import {
  CLASSES,
  classifyDigits,
  completedDigits,
  completeDigits,
  GENERATED,
  loadCompletionModel,
  loadRowClassifier,
  PIXELS,
  type RowClassifier,
} from "./infer.ts";

/** One completion as the page computed it. */
export interface Completion {
  /** Where the top came from. */
  source: "drawn" | "sample";
  /** The sample digit's index, for a sample. */
  index: number | null;
  /** The model's input: 784 bytes (only the top 14 rows are read). */
  input: number[];
  /** The generated patches 9..16, `8 × 49`, as the model gave them. */
  generated: number[];
  /** The classifier's input (true top over clamped generated bottom, 784 in [0, 1]). */
  digit: number[];
  /** The ten probabilities, or null without a classifier. */
  probs: number[] | null;
  /** Milliseconds of the completion (input to read-back generated patches). */
  ms: number;
}

/** What the page did, for the browser test. */
export interface PageState {
  /** Where the page is. */
  status: "loading" | "ready" | "busy" | "error";
  /** The error, when status is "error". */
  error: string | null;
  /** What `init` chose. */
  init: InitResult | null;
  /** Whether the page is cross-origin isolated (the CPU worker pool needs it). */
  isolated: boolean;
  /** The completion model, e.g. "lstm 2×64". */
  model: string;
  /** Whether the row classifier is loaded. */
  classifier: boolean;
  /** Completions finished (animation included). */
  completions: number;
  /** The latest completion. */
  last: Completion | null;
  /** Batch completions of the sample finished. */
  batches: number;
  /** The latest batch: generated patches `100 × 8 × 49`, probabilities `100 × 10` or null. */
  batch: { generated: number[]; probs: number[] | null; ms: number } | null;
}

const state: PageState = {
  status: "loading",
  error: null,
  init: null,
  isolated: globalThis.crossOriginIsolated === true,
  model: "",
  classifier: false,
  completions: 0,
  last: null,
  batches: 0,
  batch: null,
};
(globalThis as { wgradPage?: PageState }).wgradPage = state;

const SCALE = 10; // canvas pixels per digit pixel
const PATCH = 7;
const STEP_MS = 70; // animation: one generated patch every STEP_MS
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const pad = $<HTMLCanvasElement>("pad"), result = $<HTMLCanvasElement>("result");
const status = $<HTMLParagraphElement>("status");
const params = new URLSearchParams(location.search);

function setStatus(text: string, error = false): void {
  status.textContent = text;
  status.classList.toggle("error", error);
}

function fail(e: unknown): void {
  const msg = e instanceof Error ? e.message : String(e);
  state.status = "error";
  state.error = msg;
  setStatus(`Error: ${msg}`, true);
  console.error(e);
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`Cannot fetch ${url}: ${r.status} ${r.statusText}`);
  return new Uint8Array(await r.arrayBuffer());
}

/** RGB to the canvas. */
function paint(canvas: HTMLCanvasElement, img: data.RgbImage): CanvasRenderingContext2D {
  canvas.width = img.width;
  canvas.height = img.height;
  const ctx = canvas.getContext("2d")!;
  const out = ctx.createImageData(img.width, img.height);
  for (let p = 0, q = 0; p < img.rgb.length; p += 3, q += 4) {
    out.data[q] = img.rgb[p]!;
    out.data[q + 1] = img.rgb[p + 1]!;
    out.data[q + 2] = img.rgb[p + 2]!;
    out.data[q + 3] = 255;
  }
  ctx.putImageData(out, 0, 0);
  return ctx;
}

/** The bottom half as a mask (tinted as generated). */
const BOTTOM = new Uint8Array(PIXELS).fill(1, TOP_ROWS * SIZE);

// ---- the drawing pad -----------------------------------------------------------

const ink = new Float32Array(PIXELS);

function renderPad(): void {
  const ctx = paint(
    pad,
    data.imageGrid({ images: ink, n: 1, h: SIZE, w: SIZE, cols: 1, pad: 0, scale: SCALE }),
  );
  const y = TOP_ROWS * SCALE;
  ctx.fillStyle = "#262a33";
  ctx.fillRect(0, y, pad.width, pad.height - y);
  ctx.fillStyle = "#7d8593";
  ctx.font = "15px system-ui, sans-serif";
  ctx.textAlign = "center";
  ctx.fillText("the model draws here", pad.width / 2, y + (pad.height - y) / 2);
  seam(ctx);
}

function seam(ctx: CanvasRenderingContext2D): void {
  ctx.fillStyle = "rgb(255, 64, 64)";
  ctx.fillRect(0, TOP_ROWS * SCALE - 1, ctx.canvas.width, 2);
}

let drawing: Point | null = null;

function gridPoint(e: PointerEvent): Point {
  const r = pad.getBoundingClientRect();
  return [(e.clientX - r.left) * SIZE / r.width, (e.clientY - r.top) * SIZE / r.height];
}

pad.addEventListener("pointerdown", (e) => {
  if (state.status === "loading" || state.status === "error") return;
  pad.setPointerCapture(e.pointerId);
  drawing = gridPoint(e);
  inkSegment(ink, drawing, drawing);
  renderPad();
});
pad.addEventListener("pointermove", (e) => {
  if (!drawing) return;
  for (const ev of e.getCoalescedEvents?.() ?? [e]) {
    const p = gridPoint(ev);
    inkSegment(ink, drawing, p);
    drawing = p;
  }
  renderPad();
});
const endStroke = () => {
  if (!drawing) return;
  drawing = null;
  sampleIndex = null;
  void requestCompletion();
};
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

// ---- completing ----------------------------------------------------------------

let model: CompletionModel;
let classifier: RowClassifier | null = null;
let sample: { images: Uint8Array; labels: Uint8Array; count: number };
let sampleIndex: number | null = null;
let pending = false;
let backendLabel = "";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The result canvas: the true top, the first `shown` generated patches, `current` outlined. */
function renderResult(
  input: Uint8Array,
  generated: Float32Array | null,
  shown: number,
  current: number,
): void {
  const g = new Float32Array(GENERATED);
  if (generated) g.set(generated.subarray(0, shown * PATCH * PATCH));
  const digit = completedDigits(input, g, 1);
  const ctx = paint(
    result,
    data.imageGrid({
      images: digit,
      n: 1,
      h: SIZE,
      w: SIZE,
      cols: 1,
      pad: 0,
      scale: SCALE,
      mask: BOTTOM,
    }),
  );
  seam(ctx);
  if (current >= 0) {
    const p = 8 + current, s = PATCH * SCALE;
    ctx.strokeStyle = "#ffd24a";
    ctx.lineWidth = 2;
    ctx.strokeRect((p % 4) * s + 1, Math.floor(p / 4) * s + 1, s - 2, s - 2);
  }
}

function renderBars(probs: Float32Array): void {
  const bars = $<HTMLDivElement>("bars");
  bars.replaceChildren();
  let best = 0;
  for (let d = 1; d < CLASSES; d++) if (probs[d]! > probs[best]!) best = d;
  for (let d = 0; d < CLASSES; d++) {
    const label = document.createElement("span");
    label.textContent = String(d);
    const bar = document.createElement("div");
    bar.className = d === best ? "bar top" : "bar";
    bar.style.width = `${Math.max(1, Math.round(probs[d]! * 180))}px`;
    const value = document.createElement("span");
    value.textContent = probs[d]!.toFixed(3);
    bars.append(label, bar, value);
  }
  $("guess").textContent = `${best === 8 ? "an" : "a"} ${best} (${
    (probs[best]! * 100).toFixed(0)
  }%)`;
}

function renderTruth(index: number | null): void {
  const box = $<HTMLElement>("truth");
  box.hidden = index === null;
  if (index === null) return;
  const img = sample.images.subarray(index * PIXELS, (index + 1) * PIXELS);
  seam(paint(
    $<HTMLCanvasElement>("truthCanvas"),
    data.imageGrid({ images: img, n: 1, h: SIZE, w: SIZE, cols: 1, pad: 0, scale: SCALE }),
  ));
}

async function requestCompletion(): Promise<void> {
  if (state.status === "busy") {
    pending = true;
    return;
  }
  state.status = "busy";
  try {
    do {
      pending = false;
      await completeOnce();
    } while (pending);
    state.status = "ready";
  } catch (e) {
    fail(e);
  }
}

async function completeOnce(): Promise<void> {
  const input = inkBytes(ink);
  const source = sampleIndex === null ? "drawn" : "sample";
  const index = sampleIndex;
  const t0 = performance.now();
  const generated = await completeDigits(model, input, 1);
  const ms = performance.now() - t0;
  const digit = completedDigits(input, generated, 1);
  let probs: Float32Array | null = null, classMs = 0;
  if (classifier) {
    const t1 = performance.now();
    probs = await classifyDigits(classifier, digit, 1);
    classMs = performance.now() - t1;
  }
  $("timing").textContent = `Completed in ${ms.toFixed(1)} ms on ${backendLabel}` +
    (probs ? ` · classified in ${classMs.toFixed(1)} ms` : "");
  for (let p = 0; p < 8; p++) {
    renderResult(input, generated, p + 1, p);
    await sleep(STEP_MS);
  }
  renderResult(input, generated, 8, -1);
  renderTruth(index);
  if (probs) renderBars(probs);
  state.last = {
    source,
    index,
    input: Array.from(input),
    generated: Array.from(generated),
    digit: Array.from(digit),
    probs: probs ? Array.from(probs) : null,
    ms,
  };
  state.completions++;
}

function loadSampleDigit(index: number): void {
  ink.fill(0);
  const img = sample.images.subarray(index * PIXELS, (index + 1) * PIXELS);
  for (let k = 0; k < TOP_ROWS * SIZE; k++) ink[k] = img[k]! / 255;
  sampleIndex = index;
  renderPad();
  void requestCompletion();
}

async function completeSample(): Promise<void> {
  if (state.status !== "ready") return;
  state.status = "busy";
  try {
    const n = sample.count;
    const t0 = performance.now();
    const generated = await completeDigits(model, sample.images, n);
    const ms = performance.now() - t0;
    const digits = completedDigits(sample.images, generated, n);
    const probs = classifier ? await classifyDigits(classifier, digits, n) : null;
    let text = `Completed all ${n} sample digits in ${ms.toFixed(0)} ms on ${backendLabel} ` +
      `(${(ms / n).toFixed(2)} ms a digit, one batch).`;
    if (probs) {
      let right = 0;
      for (let i = 0; i < n; i++) {
        let best = 0;
        for (let d = 1; d < CLASSES; d++) {
          if (probs[i * CLASSES + d]! > probs[i * CLASSES + best]!) best = d;
        }
        if (best === sample.labels[i]) right++;
      }
      text += ` The row classifier reads ${right} of the ${n} completed digits as the digit ` +
        "that was written.";
    }
    $("galleryText").textContent = text;
    $("gallery").hidden = false;
    paint(
      $<HTMLCanvasElement>("galleryCanvas"),
      data.imageGrid({
        images: digits,
        n,
        h: SIZE,
        w: SIZE,
        cols: 10,
        scale: 2,
        seamRow: TOP_ROWS,
        mask: BOTTOM,
      }),
    );
    state.batch = {
      generated: Array.from(generated),
      probs: probs ? Array.from(probs) : null,
      ms,
    };
    state.batches++;
    state.status = "ready";
  } catch (e) {
    fail(e);
  }
}

// ---- start ---------------------------------------------------------------------

async function start(): Promise<void> {
  const want = params.get("backend") ?? "auto";
  const which = params.get("model") ?? "lstm";
  ($<HTMLSelectElement>("backend")).value = want;
  ($<HTMLSelectElement>("model")).value = which;
  for (const id of ["backend", "model"]) {
    $<HTMLSelectElement>(id).addEventListener("change", (e) => {
      params.set(id, (e.target as HTMLSelectElement).value);
      location.search = params.toString();
    });
  }
  renderPad();
  renderResult(new Uint8Array(PIXELS), null, 0, -1);
  if (want !== "auto" && want !== "webgpu" && want !== "cpu") {
    throw new Error(`backend=${want}: expected auto, webgpu or cpu`);
  }
  let note = "";
  try {
    state.init = await init({ backend: want, log: false });
  } catch (e) {
    note = ` (${e instanceof Error ? e.message : String(e)}; using the CPU instead)`;
    state.init = await init({ backend: "cpu", log: false });
  }
  const a = state.init.adapter;
  backendLabel = state.init.backend === "webgpu"
    ? `WebGPU (${a?.description || `${a?.vendor} ${a?.architecture}`.trim() || "adapter"}` +
      `${a?.isFallback ? ", a software fallback adapter" : ""})`
    : "the CPU";
  const [index, weights, labels, images] = await Promise.all([
    fetch("models.json").then((r) => r.json()) as Promise<{ classifier: boolean }>,
    fetchBytes(`models/${which}.safetensors`),
    fetchBytes("sample/labels-idx1-ubyte"),
    fetchBytes("sample/digits-idx3-ubyte"),
  ]);
  const imgs = data.parseIdx(images, "sample/digits-idx3-ubyte", { kind: "images" });
  const labs = data.parseIdx(labels, "sample/labels-idx1-ubyte", { kind: "labels" });
  sample = { images: imgs.data, labels: labs.data, count: imgs.dims[0]! };
  model = loadCompletionModel(weights, `models/${which}.safetensors`);
  state.model = describeConfig(model.config);
  if (index.classifier && params.get("classifier") !== "0") {
    classifier = loadRowClassifier(
      await fetchBytes("models/classify.safetensors"),
      "models/classify.safetensors",
    );
    state.classifier = true;
    $("classifier").hidden = false;
  }
  setStatus(`Warming up ${state.model} on ${backendLabel}…`);
  // Compile the kernels once (batch 1 and the whole sample) before anything is timed.
  const warm = await completeDigits(model, new Uint8Array(PIXELS), 1);
  const warmAll = await completeDigits(model, sample.images, sample.count);
  if (classifier) {
    await classifyDigits(classifier, completedDigits(new Uint8Array(PIXELS), warm, 1), 1);
    await classifyDigits(
      classifier,
      completedDigits(sample.images, warmAll, sample.count),
      sample.count,
    );
  }
  const pool = state.isolated
    ? "cross-origin isolated: the CPU backend may use its worker pool"
    : "not cross-origin isolated: the CPU backend runs on one thread";
  setStatus(
    `${state.model} (${which === "gru" ? "bench/runs/gru-seed1" : "bench/runs/lstm-seed1"}) ` +
      `on ${backendLabel}${note} · ${pool}` +
      (classifier ? " · row classifier loaded" : ""),
  );
  for (const id of ["clear", "random", "all"]) $<HTMLButtonElement>(id).disabled = false;
  $("clear").addEventListener("click", () => {
    ink.fill(0);
    sampleIndex = null;
    renderPad();
    renderResult(new Uint8Array(PIXELS), null, 0, -1);
    renderTruth(null);
  });
  $("random").addEventListener("click", () => {
    loadSampleDigit(Math.floor(Math.random() * sample.count));
  });
  $("all").addEventListener("click", () => void completeSample());
  state.status = "ready";
}

start().catch(fail);
