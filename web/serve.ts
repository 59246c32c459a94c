/**
 * `deno task web`: serves the page of `web/` on localhost. At start it bundles
 * `web/app.ts` (the page, which imports the engine through `mod.ts`) and the
 * CPU pool's worker module (`tensor/cpu/worker.ts`) for the browser with
 * `deno bundle`, then serves them from memory with the static files, the
 * sample digits and the checkpoints. Every response carries the
 * cross-origin isolation headers (COOP `same-origin`, COEP `require-corp`),
 * which the CPU backend's worker pool needs for SharedArrayBuffer;
 * `/?isolate=0` serves the page without them (the pool then runs on one
 * thread).
 *
 * @module
 */
import { parseFlags, runMain } from "../examples/_cli.ts";
import { bundle, ROOT } from "./bundle.ts";

const FLAGS = {
  port: {
    type: "integer",
    min: 0,
    max: 65535,
    default: 8000,
    help: "port to listen on (0: any free port)",
  },
  host: { type: "string", default: "127.0.0.1", help: "address to listen on" },
  lstm: {
    type: "string",
    default: "bench/runs/lstm-seed1/model.safetensors",
    placeholder: "FILE",
    help: "the LSTM completion checkpoint (relative paths: to the repository by default)",
  },
  gru: {
    type: "string",
    default: "bench/runs/gru-seed1/model.safetensors",
    placeholder: "FILE",
    help: "the GRU completion checkpoint",
  },
  classifier: {
    type: "string",
    default: "bench/runs/classify-seed1/model.safetensors",
    placeholder: "FILE",
    help: "the row classifier checkpoint (served when the file exists)",
  },
  minify: { type: "boolean", help: "minify the bundles" },
} as const;

const HELP = {
  program: "web/serve.ts",
  summary:
    "Serve the page where you draw the top half of a digit and the LSTM (or GRU) completes it\n" +
    "in the browser on WebGPU, or on the CPU backend where WebGPU is unavailable.",
  usage: ["deno task web [--port N] [--host ADDR] [--classifier FILE]"],
  epilog: "Open the printed address in a browser with WebGPU (Chrome, Edge; Chromium on Linux:\n" +
    "--enable-unsafe-webgpu). /?backend=webgpu|cpu chooses the backend, /?model=gru the GRU,\n" +
    "/?isolate=0 serves the page without cross-origin isolation.",
};

/** The headers every response carries: cross-origin isolated, never cached. */
const ISOLATION = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
};
const COMMON = { "Cross-Origin-Resource-Policy": "same-origin", "Cache-Control": "no-store" };

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  json: "application/json",
  bin: "application/octet-stream",
};

/** A file the server holds in memory. */
interface Asset {
  body: Uint8Array<ArrayBuffer> | string;
  type: string;
}

async function readAsset(path: string, type: string): Promise<Asset> {
  try {
    return { body: await Deno.readFile(path), type };
  } catch (e) {
    throw new Error(`Cannot serve '${path}': ${e instanceof Error ? e.message : String(e)}`);
  }
}

function resolve(path: string, explicit: boolean): string {
  if (path.startsWith("/")) return path;
  return explicit ? `${Deno.cwd()}/${path}` : new URL(path, ROOT).pathname;
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/**
 * Run the server with command-line arguments; resolves when it stops.
 *
 * @param args the arguments, e.g. `["--port", "0"]`
 */
export async function main(args: string[]): Promise<void> {
  const { values: v, explicit } = parseFlags(args, FLAGS, HELP);
  const t0 = performance.now();
  const web = new URL("./", import.meta.url).pathname;
  const files = await bundle(["web/app.ts", "tensor/cpu/worker.ts"], { minify: v.minify });
  const bundled = performance.now() - t0;
  const assets = new Map<string, Asset>([
    ["/", await readAsset(`${web}index.html`, TYPES.html!)],
    ["/style.css", await readAsset(`${web}style.css`, TYPES.css!)],
    ["/app.js", { body: files.get("web/app.js")!, type: TYPES.js! }],
    // The pool asks for ./worker.ts beside the module that holds pool.ts: the app bundle.
    ["/worker.ts", { body: files.get("tensor/cpu/worker.js")!, type: TYPES.js! }],
    ["/sample/digits-idx3-ubyte", await readAsset(`${web}sample/digits-idx3-ubyte`, TYPES.bin!)],
    ["/sample/labels-idx1-ubyte", await readAsset(`${web}sample/labels-idx1-ubyte`, TYPES.bin!)],
    [
      "/models/lstm.safetensors",
      await readAsset(resolve(v.lstm, explicit.has("lstm")), TYPES.bin!),
    ],
    ["/models/gru.safetensors", await readAsset(resolve(v.gru, explicit.has("gru")), TYPES.bin!)],
  ]);
  const classifier = resolve(v.classifier, explicit.has("classifier"));
  const hasClassifier = await exists(classifier);
  if (hasClassifier) {
    assets.set("/models/classify.safetensors", await readAsset(classifier, TYPES.bin!));
  } else if (explicit.has("classifier")) {
    throw new Error(`Cannot serve the row classifier '${classifier}': no such file`);
  }
  assets.set("/models.json", {
    body: JSON.stringify({ completion: ["lstm", "gru"], classifier: hasClassifier }),
    type: TYPES.json!,
  });

  const server = Deno.serve({
    port: v.port,
    hostname: v.host,
    onListen: ({ hostname, port }) => {
      const host = hostname.includes(":") ? `[${hostname}]` : hostname;
      console.log(`web: serving http://${host}:${port}/`);
      console.error(
        `web: bundled web/app.ts (${kb(files.get("web/app.js")!)}) and tensor/cpu/worker.ts ` +
          `(${kb(files.get("tensor/cpu/worker.js")!)}) in ${(bundled / 1000).toFixed(1)} s; ` +
          `row classifier: ${hasClassifier ? classifier : "none (no such file)"}`,
      );
    },
  }, (req) => {
    const url = new URL(req.url);
    const asset = assets.get(url.pathname === "/index.html" ? "/" : url.pathname);
    const isolate = !(url.pathname === "/" && url.searchParams.get("isolate") === "0");
    const headers: Record<string, string> = { ...COMMON, ...(isolate ? ISOLATION : {}) };
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405, headers });
    }
    if (!asset) return new Response("not found\n", { status: 404, headers });
    return new Response(req.method === "HEAD" ? null : asset.body, {
      headers: { ...headers, "Content-Type": asset.type },
    });
  });
  await server.finished;
}

function kb(text: string): string {
  return `${Math.round(text.length / 1024)} KB`;
}

if (import.meta.main) await runMain("web", () => main(Deno.args));
