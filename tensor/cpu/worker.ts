/**
 * Entry point of a CPU pool worker (see `pool.ts`): receives the shared
 * arena and control blocks once, then runs chunks of jobs until the pool
 * shuts down. The chunk functions are the same ones the calling thread runs.
 *
 * @module
 */
import { parentPort } from "node:worker_threads";
import { matmulChunk } from "./matmul.ts";
import {
  type ChunkFn,
  JOB_GRU,
  JOB_GRU_BACKWARD,
  JOB_LSTM,
  JOB_LSTM_BACKWARD,
  JOB_MATMUL,
  serve,
} from "./pool.ts";
import { gruBackwardChunk, gruChunk, lstmBackwardChunk, lstmChunk } from "./rnn.ts";

const table: ChunkFn[] = [];
table[JOB_MATMUL] = matmulChunk;
table[JOB_LSTM] = lstmChunk;
table[JOB_LSTM_BACKWARD] = lstmBackwardChunk;
table[JOB_GRU] = gruChunk;
table[JOB_GRU_BACKWARD] = gruBackwardChunk;

parentPort?.once(
  "message",
  (m: { arena: SharedArrayBuffer; ctrl: SharedArrayBuffer; params: SharedArrayBuffer }) => {
    serve(m.arena, m.ctrl, m.params, table);
  },
);
