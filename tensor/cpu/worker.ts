/**
 * Entry point of a CPU pool worker (see `pool.ts`): receives the shared
 * arena and control blocks once, then runs chunks of jobs until the pool
 * shuts down. The chunk functions are the same ones the calling thread runs.
 * It runs as a `node:worker_threads` worker in Deno and as a module Worker in
 * a browser page (bundled: the page serves it as `worker.ts` beside the
 * bundle that holds `pool.ts`).
 *
 * @module
 */
import { matmulChunk } from "./matmul.ts";
import {
  type ChunkFn,
  JOB_ADAM,
  JOB_BINARY,
  JOB_GRU,
  JOB_GRU_BACKWARD,
  JOB_LSTM,
  JOB_LSTM_BACKWARD,
  JOB_MATMUL,
  JOB_RANDOM,
  JOB_UNARY,
  serve,
} from "./pool.ts";
import { gruBackwardChunk, gruChunk, lstmBackwardChunk, lstmChunk } from "../routines/rnn/cpu.ts";
import { randomChunk } from "./random.ts";
import { adamChunk } from "../routines/optim/cpu.ts";
import { binaryChunk } from "./binary.ts";
import { unaryChunk } from "./unary.ts";

const table: ChunkFn[] = [];
table[JOB_MATMUL] = matmulChunk;
table[JOB_LSTM] = lstmChunk;
table[JOB_LSTM_BACKWARD] = lstmBackwardChunk;
table[JOB_GRU] = gruChunk;
table[JOB_GRU_BACKWARD] = gruBackwardChunk;
table[JOB_RANDOM] = randomChunk;
table[JOB_ADAM] = adamChunk;
table[JOB_UNARY] = unaryChunk;
table[JOB_BINARY] = binaryChunk;

/** The one message a worker receives. */
interface Start {
  arena: SharedArrayBuffer;
  ctrl: SharedArrayBuffer;
  params: SharedArrayBuffer;
}
const start = (m: Start) => serve(m.arena, m.ctrl, m.params, table);

// A node:worker_threads worker (Deno) hears its parent on parentPort; a page's module
// Worker on its global scope.
const proc = (globalThis as { process?: { getBuiltinModule?(id: string): unknown } }).process;
const threads = proc?.getBuiltinModule?.("node:worker_threads") as
  | typeof import("node:worker_threads")
  | undefined;
if (threads?.parentPort) threads.parentPort.once("message", start);
else {
  globalThis.addEventListener("message", (e) => start((e as MessageEvent<Start>).data), {
    once: true,
  });
}
