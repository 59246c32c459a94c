/**
 * The page of `web/` in a real Chromium (Debian's `chromium`, driven by
 * `playwright-core`; no browser download). `deno task web`'s server runs as a
 * subprocess on a free port; the test draws the top of a "2" on the pad with
 * pointer events and checks that
 *
 * - the page's input bytes are exactly what `web/draw.ts` makes of that path;
 * - the generated patches, the classifier's probabilities and a batch
 *   completion of the shipped sample equal what Deno's CPU backend computes
 *   from the same inputs within 1e-4: on WebGPU (Chromium with
 *   `--enable-unsafe-webgpu`: SwiftShader on a machine without a GPU), and on
 *   the CPU fallback where the browser offers no adapter (GRU included);
 * - the CPU backend's worker pool starts in the cross-origin isolated page,
 *   runs chunks bit-identical to one thread (`_pool_page.ts`), and falls back
 *   to one thread with a one-line note where the page is not isolated.
 *
 * The row classifier is the committed `bench/runs/classify-seed1` checkpoint
 * when it exists, else one with random weights made here. A screenshot of the
 * WebGPU page goes to `WGRAD_WEB_SCREENSHOT` (e.g. `web/screenshot.png`, the
 * README's picture) or a temporary file. Without Chromium the test is
 * ignored, unless `CI` or `WGRAD_REQUIRE_GPU=1` is set: then it fails.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type Browser, chromium, type ConsoleMessage, type Page } from "playwright-core";
import { data, init, manualSeed, nn } from "../mod.ts";
import { inkBytes, inkStrokes, SIZE } from "../web/draw.ts";
import {
  classifyDigits,
  completedDigits,
  completeDigits,
  loadCompletionModel,
  loadRowClassifier,
  RowClassifier,
} from "../web/infer.ts";
import { bundle, ROOT } from "../web/bundle.ts";
import { env, gpuRequired } from "./_env.ts";

const CHROMIUM = env("WGRAD_CHROMIUM") ?? "/usr/bin/chromium";
const SCREENSHOT = env("WGRAD_WEB_SCREENSHOT");
const REAL_CLASSIFIER = "bench/runs/classify-seed1/model.safetensors";
/** Chromium flags: no sandbox (CI runs as root), none of its background connections. */
const FLAGS = [
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
  "--no-first-run",
];
/** WebGPU on: SwiftShader's Vulkan where there is no GPU. */
const WEBGPU = ["--enable-unsafe-webgpu"];
const TOL = 1e-4;
/** Pixels of the pad on the page (28 digit pixels). */
const PAD = 280;

const path = (rel: string) => new URL(rel, ROOT).pathname;
const haveChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

/** The top of a "2": an arc and a stroke down towards the seam, in pad pixels (integers). */
function twoPath(): [number, number][] {
  const pts: [number, number][] = [];
  for (let i = 0; i <= 24; i++) {
    const a = Math.PI * (1.1 + 1.1 * i / 24);
    pts.push([Math.round(140 + 50 * Math.cos(a)), Math.round(100 + 50 * Math.sin(a))]);
  }
  pts.push([170, 126], [150, 137]);
  return pts;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, "lengths differ");
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function assertNear(got: ArrayLike<number>, want: ArrayLike<number>, what: string): number {
  const d = maxDiff(got, want);
  assert.ok(d <= TOL, `${what}: the page differs from Deno's CPU backend by ${d} (> ${TOL})`);
  return d;
}

/** The server of `deno task web` on a free port. */
async function startServer(args: string[]): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "web/serve.ts", "--port", "0", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const err = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const errText: string[] = [];
  void (async () => {
    for (let r = await err.read(); !r.done; r = await err.read()) errText.push(r.value);
  })();
  const out = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/serving (\S+)\n/.test(text)) {
    const r = await out.read();
    if (r.done) {
      throw new Error(`the server stopped (${(await child.status).code}): ${errText.join("")}`);
    }
    text += r.value;
  }
  const url = /serving (\S+)\n/.exec(text)![1]!;
  return {
    url,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
      await out.cancel();
    },
  };
}

/** What the page published (see web/app.ts, PageState). */
interface PageState {
  status: string;
  error: string | null;
  init: { backend: string; adapter: Record<string, unknown> | null; message: string };
  isolated: boolean;
  model: string;
  classifier: boolean;
  completions: number;
  last: {
    ms: number;
    input: number[];
    generated: number[];
    digit: number[];
    probs: number[] | null;
  };
  batches: number;
  batch: { generated: number[]; probs: number[] | null; ms: number };
}

const pageState = (page: Page) =>
  page.evaluate(() => (globalThis as unknown as { wgradPage: PageState }).wgradPage);

/** Open the page and wait until it is ready; console lines are collected. */
async function open(browser: Browser, url: string): Promise<{ page: Page; log: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
  const log: string[] = [];
  page.on("console", (m: ConsoleMessage) => log.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e: Error) => log.push(`pageerror: ${e.message}`));
  await page.goto(url);
  await page.waitForFunction(
    () => {
      const s = (globalThis as unknown as { wgradPage?: PageState }).wgradPage;
      return s?.status === "ready" || s?.status === "error";
    },
    null,
    { timeout: 90_000 },
  );
  const s = await pageState(page);
  assert.equal(s.status, "ready", `the page failed: ${s.error}\n${log.join("\n")}`);
  return { page, log };
}

/** Draw a path on the pad with the mouse (one pointer event per point). */
async function draw(page: Page, pts: [number, number][]): Promise<void> {
  const box = (await page.locator("#pad").boundingBox())!;
  assert.equal(box.width, PAD);
  const before = (await pageState(page)).completions;
  await page.mouse.move(box.x + pts[0]![0], box.y + pts[0]![1]);
  await page.mouse.down();
  for (const [x, y] of pts.slice(1)) await page.mouse.move(box.x + x, box.y + y);
  await page.mouse.up();
  await page.waitForFunction(
    (n) => (globalThis as unknown as { wgradPage: PageState }).wgradPage.completions > n,
    before,
    { timeout: 60_000 },
  );
}

/** Complete the whole sample with the page's button. */
async function batch(page: Page): Promise<PageState["batch"]> {
  const before = (await pageState(page)).batches;
  await page.click("#all");
  await page.waitForFunction(
    (n) => (globalThis as unknown as { wgradPage: PageState }).wgradPage.batches > n,
    before,
    { timeout: 60_000 },
  );
  return (await pageState(page)).batch;
}

Deno.test({
  name: "the page completes a drawn digit in Chromium on WebGPU and on the CPU fallback, " +
    "equal to Deno's CPU backend within 1e-4",
  ignore: !haveChromium && !gpuRequired(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    if (!haveChromium) {
      throw new Error(
        `Chromium is required (CI or WGRAD_REQUIRE_GPU=1): no ${CHROMIUM} ` +
          "(apt-get install chromium, or set WGRAD_CHROMIUM)",
      );
    }
    const tmp = await Deno.makeTempDir({ prefix: "wgrad_web_" });
    // The row classifier: the committed one, else random weights of the same form.
    let classifierPath = path(REAL_CLASSIFIER);
    const real = await Deno.stat(classifierPath).then(() => true, () => false);
    await init({ backend: "cpu", log: false });
    if (!real) {
      manualSeed(7);
      const fake = new RowClassifier(32);
      classifierPath = `${tmp}/classify.safetensors`;
      await nn.save(classifierPath, fake);
      fake.dispose();
    }
    const server = await startServer(["--classifier", classifierPath]);
    const browsers: Browser[] = [];
    try {
      const bytes = (rel: string) => Deno.readFileSync(path(rel));
      const lstm = loadCompletionModel(bytes("bench/runs/lstm-seed1/model.safetensors"), "lstm");
      const gru = loadCompletionModel(bytes("bench/runs/gru-seed1/model.safetensors"), "gru");
      const classifier = loadRowClassifier(Deno.readFileSync(classifierPath), classifierPath);
      const sample = data.parseIdx(bytes("web/sample/digits-idx3-ubyte"), "sample", {
        kind: "images",
      });
      const n = sample.dims[0]!;
      const sampleGen = await completeDigits(lstm, sample.data, n);
      const pts = twoPath();
      const want = inkBytes(inkStrokes([pts.map(([x, y]) => [x * SIZE / PAD, y * SIZE / PAD])]));

      /** Check the page's latest completion against Deno's computation. */
      const checkDrawn = async (page: Page, model = lstm, label = "") => {
        const s = await pageState(page);
        console.log(`${label}: the page's completion took ${s.last.ms.toFixed(1)} ms`);
        assert.deepEqual(s.last.input, Array.from(want), "the pad's bytes are not draw.ts's");
        const gen = await completeDigits(model, Uint8Array.from(s.last.input), 1);
        const d = assertNear(s.last.generated, gen, `${label} generated patches`);
        assertNear(s.last.digit, completedDigits(want, gen, 1), `${label} completed digit`);
        if (s.classifier) {
          const probs = await classifyDigits(classifier, Float32Array.from(s.last.digit), 1);
          assertNear(s.last.probs!, probs, `${label} classifier probabilities`);
        }
        return d;
      };
      const checkBatch = async (page: Page, label: string) => {
        const b = await batch(page);
        console.log(`${label}: the page's batch of ${n} took ${b.ms.toFixed(0)} ms`);
        assertNear(b.generated, sampleGen, `${label} batch of ${n}`);
        if (b.probs) {
          const digits = completedDigits(sample.data, Float32Array.from(b.generated), n);
          assertNear(b.probs, await classifyDigits(classifier, digits, n), `${label} batch probs`);
        }
      };

      await t.step("WebGPU (SwiftShader): drawn digit, sample batch, screenshot", async () => {
        const browser = await chromium.launch({
          executablePath: CHROMIUM,
          args: [...FLAGS, ...WEBGPU],
        });
        browsers.push(browser);
        const q = real ? "" : "&classifier=0"; // no random-weight bars in the screenshot
        const { page, log } = await open(browser, `${server.url}?backend=webgpu${q}`);
        const s = await pageState(page);
        assert.equal(s.init.backend, "webgpu", s.init.message);
        assert.ok(s.isolated, "the page is not cross-origin isolated");
        assert.equal(s.model, "lstm 2×64");
        await draw(page, pts);
        const d = await checkDrawn(page, lstm, "webgpu");
        await checkBatch(page, "webgpu");
        const shot = SCREENSHOT ? path(SCREENSHOT) : `${tmp}/screenshot.png`;
        await page.screenshot({ path: shot, fullPage: true });
        const png = data.pngHeader(Deno.readFileSync(shot));
        assert.equal(png.width, 1280);
        assert.deepEqual(log.filter((l) => /^(error|pageerror)/.test(l)), []);
        console.log(`webgpu: ${JSON.stringify(s.init.adapter)}, max |page − deno| = ${d}`);
      });

      await t.step("CPU fallback (no adapter): drawn digit, GRU, batch, worker pool", async () => {
        const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
        browsers.push(browser);
        const { page, log } = await open(browser, server.url);
        const s = await pageState(page);
        assert.equal(s.init.backend, "cpu");
        assert.match(s.init.message, /WebGPU unavailable: no WebGPU adapter found/);
        assert.ok(s.isolated && s.classifier);
        await draw(page, pts);
        const d = await checkDrawn(page, lstm, "cpu");
        console.log(`cpu: ${s.init.message}; max |page − deno| = ${d}`);
        await checkBatch(page, "cpu");
        // The pool started its worker from the bundle's worker.ts.
        assert.ok(
          page.workers().some((w) => new URL(w.url()).pathname === "/worker.ts"),
          `no pool worker in the page: ${page.workers().map((w) => w.url())}`,
        );
        assert.ok(!log.some((l) => l.includes("single-threaded")), log.join("\n"));
        await page.close();

        const g = await open(browser, `${server.url}?model=gru&backend=cpu`);
        assert.equal((await pageState(g.page)).model, "gru 2×64");
        await draw(g.page, pts);
        await checkDrawn(g.page, gru, "gru");
        await g.page.close();

        // Not cross-origin isolated: one thread, one line saying why.
        const plain = await open(browser, `${server.url}?isolate=0`);
        assert.equal((await pageState(plain.page)).isolated, false);
        await checkBatch(plain.page, "not isolated");
        assert.deepEqual(plain.page.workers(), []);
        const notes = plain.log.filter((l) => l.includes("wgrad cpu: running single-threaded"));
        assert.equal(notes.length, 1, plain.log.join("\n"));
        assert.match(notes[0]!, /not cross-origin isolated/);
        await plain.page.close();
      });

      await t.step("the worker pool runs chunks in the page, bit-identical", async () => {
        const files = await bundle(["tests/_pool_page.ts", "tensor/cpu/worker.ts"]);
        const routes: Record<string, [string, string]> = {
          "/": ['<!doctype html><script type="module" src="pool.js"></script>', "text/html"],
          "/pool.js": [files.get("tests/_pool_page.js")!, "text/javascript"],
          "/worker.ts": [files.get("tensor/cpu/worker.js")!, "text/javascript"],
        };
        const srv = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
          const r = routes[new URL(req.url).pathname];
          return new Response(r?.[0] ?? "not found", {
            status: r ? 200 : 404,
            headers: {
              "Content-Type": r?.[1] ?? "text/plain",
              "Cross-Origin-Opener-Policy": "same-origin",
              "Cross-Origin-Embedder-Policy": "require-corp",
            },
          });
        });
        try {
          const page = await browsers[1]!.newPage();
          await page.goto(`http://127.0.0.1:${srv.addr.port}/`);
          await page.waitForFunction(() => "poolResult" in globalThis, null, { timeout: 60_000 });
          const r = await page.evaluate(() => (globalThis as { poolResult?: unknown }).poolResult);
          assert.deepEqual(
            { ...(r as Record<string, unknown>), workerChunks: undefined },
            {
              isolated: true,
              threads: Math.min(2, (r as { cores: number }).cores),
              cores: (r as { cores: number }).cores,
              ready: true,
              workerChunks: undefined,
              same: true,
              error: null,
            },
          );
          assert.ok((r as { workerChunks: number }).workerChunks > 0, "the worker ran no chunk");
        } finally {
          await srv.shutdown();
        }
      });
      for (const m of [lstm, gru, classifier]) m.dispose();
    } finally {
      for (const b of browsers) await b.close();
      await server.stop();
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
