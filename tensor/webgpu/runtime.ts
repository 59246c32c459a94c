/**
 * The WebGPU runtime under the backend: pipeline cache, command batching,
 * the parameter ring, readback and error collection.
 *
 * - Dispatches are recorded into one command encoder and one compute pass,
 *   kept open across dispatches; the batch is submitted when
 *   `batchSize` dispatches are queued, or on read/flush.
 * - A family of dispatches may wait to be merged (`dispatchLater`: the
 *   matmuls): held items are recorded before any other dispatch, submit or
 *   read, so the observable order is the call order.
 * - Each dispatch's parameters take one 256-byte slot of a host-side ring;
 *   at submit the used part goes to the GPU in a single `writeBuffer` (queue
 *   order puts it after the previous batch and before this one) and every
 *   bind group addresses its slot with a dynamic offset.
 * - Pipelines are compiled once per shader key inside a validation error
 *   scope; failures surface at the next read/flush as an Error with the key,
 *   the compiler messages and the numbered source. With
 *   `WGRAD_DEBUG=validate` every dispatch is submitted alone inside its own
 *   scope, so a validation error names its kernel.
 *
 * @module
 */
import { numbered, PARAM_BYTES, PARAM_SLOTS, type ShaderSource } from "../wgsl/common.ts";
import { BufferPool, type GpuBuf } from "./pool.ts";

/** Most workgroups per grid dimension (WebGPU's default limit). */
export const MAX_WORKGROUPS_PER_DIM = 65535;

/** Default number of dispatches per submitted command buffer. */
export const DEFAULT_BATCH_SIZE = 128;

/**
 * A dispatch that may wait to share one dispatch with the next ones of its
 * family ({@link Runtime.dispatchLater}): the buffers it reads and writes.
 */
export interface Deferrable {
  /** Items of one family may be recorded together. */
  readonly family: string;
  /** Buffers read. */
  readonly reads: readonly GpuBuf[];
  /** Buffers written. */
  readonly writes: readonly GpuBuf[];
}

/** Whether `next` neither writes what `items` use nor reads what they write. */
function independent(items: readonly Deferrable[], next: Deferrable): boolean {
  return items.every((it) =>
    next.writes.every((w) => !it.reads.includes(w) && !it.writes.includes(w)) &&
    next.reads.every((r) => !it.writes.includes(r))
  );
}

/** Writer of one dispatch's parameter slots. */
export class ParamBlock {
  /** First slot of the block in the ring. */
  base = 0;
  #u32: Uint32Array;
  #f32: Float32Array;
  #i32: Int32Array;

  /**
   * A writer over the ring.
   *
   * @param ring the host-side parameter ring
   */
  constructor(ring: ArrayBuffer) {
    this.#u32 = new Uint32Array(ring);
    this.#f32 = new Float32Array(ring);
    this.#i32 = new Int32Array(ring);
  }

  /** Zero this block's slots. */
  clear(): void {
    this.#u32.fill(0, this.base, this.base + PARAM_SLOTS);
  }

  /** Set slot `s` to the u32 `v`. */
  u(s: number, v: number): this {
    this.#u32[this.base + s] = v;
    return this;
  }

  /** Set slot `s` to the f32 `v`. */
  f(s: number, v: number): this {
    this.#f32[this.base + s] = v;
    return this;
  }

  /** Set slot `s` to the i32 `v`. */
  i(s: number, v: number): this {
    this.#i32[this.base + s] = v;
    return this;
  }
}

/** A grid: a flat workgroup count (folded into y past 65535) or x, y, z. */
export type Grid = number | [number, number, number];

/** Options of {@link Runtime}. */
export interface RuntimeOptions {
  /** Dispatches per submit (default {@link DEFAULT_BATCH_SIZE}). */
  batchSize?: number;
  /** Submit every dispatch alone inside a validation error scope. */
  validate?: boolean;
  /** Print each new shader once. */
  printShaders?: boolean;
}

interface Compiled {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

/** Command batching, pipelines and readback on one device. */
export class Runtime {
  /** The device. */
  readonly device: GPUDevice;
  /** The buffer pools. */
  readonly pool: BufferPool;
  /** Dispatches per submit. */
  readonly batchSize: number;
  /** Id of the open batch; buffers it references carry this id. */
  batchId = 1;
  /** Dispatches recorded so far. */
  dispatches = 0;
  /** Command buffers submitted so far. */
  submits = 0;
  /** Readbacks so far. */
  readbacks = 0;
  /**
   * Whether the device rejects a dispatch that binds one buffer to two
   * writable bindings (WebGPU's rule; Chrome's Dawn enforces it, Deno's wgpu
   * does not). Set by `requestWebGPU` from a probe; kernels that bind row
   * views of one storage to several roles then give each its own buffer.
   */
  strictAliasing = false;
  #validate: boolean;
  #printShaders: boolean;
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #queued = 0;
  #ring: ArrayBuffer;
  #ringGpu: GPUBuffer;
  #params: ParamBlock;
  #held: { items: Deferrable[]; record: (group: readonly Deferrable[]) => void } | null = null;
  #heldFree: GpuBuf[] = [];
  #pipelines = new Map<string, Compiled>();
  #layouts = new Map<string, GPUBindGroupLayout>();
  #errors: Promise<string | null>[] = [];
  #lost: string | null = null;

  /**
   * A runtime on `device`.
   *
   * @param device the device
   * @param opts batching and debugging options
   */
  constructor(device: GPUDevice, opts: RuntimeOptions = {}) {
    this.device = device;
    this.pool = new BufferPool(device);
    this.#validate = opts.validate ?? false;
    this.#printShaders = opts.printShaders ?? false;
    this.batchSize = this.#validate ? 1 : Math.max(1, opts.batchSize ?? DEFAULT_BATCH_SIZE);
    this.#ring = new ArrayBuffer(this.batchSize * PARAM_BYTES);
    this.#params = new ParamBlock(this.#ring);
    this.#ringGpu = device.createBuffer({
      size: this.batchSize * PARAM_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    // Errors outside any scope (e.g. a dispatch that breaks a usage rule)
    // are kept and thrown at the next read/flush instead of only logged.
    try {
      device.addEventListener("uncapturederror", (e) => {
        const ev = e as GPUUncapturedErrorEvent;
        ev.preventDefault?.();
        this.#errors.push(Promise.resolve(`Uncaptured WebGPU error: ${ev.error.message}`));
      });
    } catch { /* older Deno: no event target on the device */ }
    const lost = (device as { lost?: Promise<GPUDeviceLostInfo> }).lost;
    if (lost && typeof lost.then === "function") {
      lost.then((info) => {
        this.#lost = `${info.reason ?? "unknown"}: ${info.message ?? ""}`;
      }, () => {});
    }
  }

  /** Number of compiled pipelines. */
  get pipelineCount(): number {
    return this.#pipelines.size;
  }

  /** Throw if the device was lost. */
  checkLost(): void {
    if (this.#lost !== null) {
      throw new Error(`Cannot use the WebGPU backend: the device was lost (${this.#lost})`);
    }
  }

  #bindGroupLayout(reads: number, writes: number): GPUBindGroupLayout {
    const key = `${reads}:${writes}`;
    let l = this.#layouts.get(key);
    if (!l) {
      const entries: GPUBindGroupLayoutEntry[] = [{
        binding: 0,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: "uniform", hasDynamicOffset: true, minBindingSize: PARAM_BYTES },
      }];
      for (let i = 0; i < reads + writes; i++) {
        entries.push({
          binding: i + 1,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: i < reads ? "read-only-storage" : "storage" },
        });
      }
      l = this.device.createBindGroupLayout({ entries });
      this.#layouts.set(key, l);
    }
    return l;
  }

  /**
   * The pipeline of a shader, compiled on first use.
   *
   * @param src the shader
   * @returns pipeline and bind group layout
   */
  pipeline(src: ShaderSource): Compiled {
    const hit = this.#pipelines.get(src.key);
    if (hit) return hit;
    if (this.#printShaders) console.error(`wgrad: shader ${src.key}\n${numbered(src.code)}`);
    const layout = this.#bindGroupLayout(src.reads, src.writes);
    this.device.pushErrorScope("validation");
    const module = this.device.createShaderModule({ label: src.key, code: src.code });
    const pipeline = this.device.createComputePipeline({
      label: src.key,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: "main" },
    });
    this.#errors.push(
      this.device.popErrorScope().then(async (e) => {
        if (!e) return null;
        let info = "";
        try {
          const ci = await module.getCompilationInfo();
          info = ci.messages.map((m) => `${m.lineNum}:${m.linePos} ${m.type}: ${m.message}`)
            .join("\n");
        } catch { /* getCompilationInfo is missing on some Deno versions */ }
        return `Cannot compile WGSL kernel ${src.key}: ${e.message}\n${info}\n${
          numbered(src.code)
        }`;
      }),
    );
    const c = { pipeline, layout };
    this.#pipelines.set(src.key, c);
    return c;
  }

  /**
   * Hold `item` so that later independent items of its family can share its
   * dispatch: the next `dispatchLater` of the same family whose item neither
   * writes a buffer the held ones use nor reads one they write, and that
   * `join` accepts, joins the group; anything else (another family, a
   * dependent item, any other dispatch, a submit, a read, `recordHeld`)
   * records the held group first with its `record`, so the observable order
   * is the call order. The held buffers count as used by the open batch.
   *
   * @param item what the dispatch reads and writes (and whatever `record` needs)
   * @param join whether `next` may join `group` (size and binding limits)
   * @param record records a group (of one or more) as dispatches
   */
  dispatchLater<T extends Deferrable>(
    item: T,
    join: (group: readonly T[], next: T) => boolean,
    record: (group: readonly T[]) => void,
  ): void {
    this.checkLost();
    const held = this.#held;
    if (
      held && held.items[0]!.family === item.family && independent(held.items, item) &&
      join(held.items as T[], item)
    ) {
      held.items.push(item);
    } else {
      this.recordHeld();
      this.#held = { items: [item], record: record as (g: readonly Deferrable[]) => void };
    }
    for (const b of [...item.reads, ...item.writes]) b.lastBatch = this.batchId;
  }

  /** Record the group {@link Runtime.dispatchLater} holds, if any. */
  recordHeld(): void {
    const held = this.#held;
    if (!held) return;
    this.#held = null;
    held.record(held.items);
    for (const b of this.#heldFree.splice(0)) this.pool.release(b, this.batchId);
  }

  /**
   * Return a buffer to the pool (as `pool.release` for the open batch); a
   * buffer a held group uses goes back once the group is recorded, so no
   * later output takes it meanwhile (which would make the next product
   * depend on the held ones and keep it out of their dispatch).
   *
   * @param buf the buffer
   */
  release(buf: GpuBuf): void {
    const held = this.#held;
    if (held && held.items.some((it) => it.reads.includes(buf) || it.writes.includes(buf))) {
      this.#heldFree.push(buf);
    } else this.pool.release(buf, this.batchId);
  }

  /**
   * Record one dispatch (after any held group).
   *
   * @param src the shader
   * @param bufs storage buffers in binding order (inputs, then outputs)
   * @param params writes the parameter slots
   * @param grid workgroups
   */
  dispatch(src: ShaderSource, bufs: GpuBuf[], params: (p: ParamBlock) => void, grid: Grid): void {
    this.checkLost();
    this.recordHeld();
    const { pipeline, layout } = this.pipeline(src);
    const [x, y, z] = typeof grid === "number" ? foldGrid(grid) : grid;
    if (x === 0 || y === 0 || z === 0) return;
    if (x > MAX_WORKGROUPS_PER_DIM || y > MAX_WORKGROUPS_PER_DIM || z > MAX_WORKGROUPS_PER_DIM) {
      throw new RangeError(
        `Cannot dispatch ${src.key}: grid ${x}×${y}×${z} exceeds ${MAX_WORKGROUPS_PER_DIM} per dimension`,
      );
    }
    const slot = this.#queued;
    this.#params.base = slot * PARAM_SLOTS;
    this.#params.clear();
    params(this.#params);
    const entries: GPUBindGroupEntry[] = [{
      binding: 0,
      resource: { buffer: this.#ringGpu, size: PARAM_BYTES },
    }];
    bufs.forEach((b, i) => {
      b.lastBatch = this.batchId;
      entries.push({ binding: i + 1, resource: { buffer: b.buffer } });
    });
    if (this.#validate) this.device.pushErrorScope("validation");
    const bindGroup = this.device.createBindGroup({ layout, entries });
    const pass = this.#computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup, [slot * PARAM_BYTES]);
    pass.dispatchWorkgroups(x, y, z);
    this.dispatches++;
    this.#queued++;
    if (this.#validate) {
      this.submit();
      this.#errors.push(
        this.device.popErrorScope().then((e) =>
          e ? `WebGPU validation error in kernel ${src.key}: ${e.message}` : null
        ),
      );
    } else if (this.#queued >= this.batchSize) {
      this.submit();
    }
  }

  #computePass(): GPUComputePassEncoder {
    if (!this.#pass) this.#pass = this.#commandEncoder().beginComputePass();
    return this.#pass;
  }

  #commandEncoder(): GPUCommandEncoder {
    this.#encoder ??= this.device.createCommandEncoder();
    return this.#encoder;
  }

  /**
   * A buffer that `queue.writeBuffer` may fill now. When the only free
   * buffers of its class are still read by the open batch, the batch is
   * submitted first (without waiting) so they can be reused; the pool then
   * stays flat however uploads and frees interleave.
   *
   * @param bytes requested size
   * @returns a buffer owned by the caller
   */
  uploadBuffer(bytes: number): GpuBuf {
    if (this.pool.onlyPending(bytes)) this.submit();
    return this.pool.acquire(bytes, true);
  }

  /** Submit the open batch (a no-op when nothing is recorded). */
  submit(): void {
    this.recordHeld();
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
    if (!this.#encoder) return;
    const cb = this.#encoder.finish();
    this.#encoder = null;
    if (this.#queued > 0) {
      this.device.queue.writeBuffer(this.#ringGpu, 0, this.#ring, 0, this.#queued * PARAM_BYTES);
    }
    this.device.queue.submit([cb]);
    this.submits++;
    this.#queued = 0;
    this.batchId++;
    this.pool.settle();
  }

  /**
   * Copy the first `bytes` of a buffer to the host after all recorded work.
   *
   * @param buf the buffer
   * @param bytes how many bytes (a multiple of 4)
   * @returns a copy of the bytes
   */
  async read(buf: GpuBuf, bytes: number): Promise<ArrayBuffer> {
    this.checkLost();
    this.recordHeld();
    const staging = this.pool.acquireStaging(bytes);
    try {
      if (this.#pass) {
        this.#pass.end();
        this.#pass = null;
      }
      this.#commandEncoder().copyBufferToBuffer(buf.buffer, 0, staging, 0, bytes);
      buf.lastBatch = this.batchId;
      this.submit();
      this.readbacks++;
      await staging.mapAsync(GPUMapMode.READ, 0, bytes);
      const out = staging.getMappedRange(0, bytes).slice(0);
      staging.unmap();
      await this.throwErrors();
      return out;
    } finally {
      if (staging.mapState === "unmapped") this.pool.releaseStaging(staging);
      else staging.destroy();
    }
  }

  /** Submit and wait until the GPU has finished everything recorded. */
  async flush(): Promise<void> {
    this.checkLost();
    this.submit();
    await this.device.queue.onSubmittedWorkDone();
    await this.throwErrors();
  }

  /** Throw the first pending compile or validation error, if any. */
  async throwErrors(): Promise<void> {
    if (this.#errors.length === 0) return;
    const pending = this.#errors;
    this.#errors = [];
    const msgs = (await Promise.all(pending)).filter((m): m is string => m !== null);
    if (msgs.length > 0) throw new Error(msgs.join("\n\n"));
  }
}

/**
 * Split a flat workgroup count into x × y with both ≤ 65535 (the shader
 * flattens `wid.y · nwg.x + wid.x` and ignores the overshoot).
 *
 * @param n workgroups
 * @returns [x, y, 1]
 */
export function foldGrid(n: number): [number, number, number] {
  if (n <= MAX_WORKGROUPS_PER_DIM) return [n, 1, 1];
  const y = Math.ceil(n / MAX_WORKGROUPS_PER_DIM);
  return [Math.ceil(n / y), y, 1];
}
