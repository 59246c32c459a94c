/**
 * GPU buffer pools: storage buffers by size class and MAP_READ staging
 * buffers for readback.
 *
 * Reuse rules (the hazard is `queue.writeBuffer`, which runs on the queue
 * timeline before any command buffer submitted after it):
 *
 * - A buffer released while the open, unsubmitted command encoder references
 *   it goes to the `pending` list of its class. Kernel outputs may take it at
 *   once (dispatches in one encoder run in order), but uploads may not, since
 *   their `writeBuffer` would land before the recorded reads.
 * - `settle()` (after each submit) moves pending buffers to the settled list;
 *   from there anything may take them: later writes are queue-ordered after
 *   the submitted work.
 * - At most {@link POOL_CAP_PER_CLASS} buffers per class are kept; buffers over
 *   {@link MAX_POOLED_BYTES} are never pooled.
 *
 * @module
 */

/** Smallest buffer handed out, in bytes. */
export const MIN_BUFFER_BYTES = 256;
/** Buffers larger than this are created exactly and destroyed on release. */
export const MAX_POOLED_BYTES = 64 * 1024 * 1024;
/** Free buffers kept per size class. */
export const POOL_CAP_PER_CLASS = 64;
/** Staging buffers kept per size class. */
const STAGING_CAP_PER_CLASS = 4;

/** A GPU buffer with its size class and the last batch that used it. */
export interface GpuBuf {
  /** The buffer. */
  readonly buffer: GPUBuffer;
  /** Its size in bytes (the class size). */
  readonly bytes: number;
  /** Id of the last command batch that referenced it (0: none). */
  lastBatch: number;
}

/**
 * The size class of a request: at least 256 bytes, then steps of 1.25× within
 * each power of two (at most 25% waste); above 64 MiB, rounded to 256 bytes.
 *
 * @param bytes requested bytes
 * @returns the class size in bytes
 */
export function sizeClass(bytes: number): number {
  const b = Math.max(MIN_BUFFER_BYTES, Math.ceil(bytes / 4) * 4);
  if (b > MAX_POOLED_BYTES) return Math.ceil(b / 256) * 256;
  let p = MIN_BUFFER_BYTES;
  while (p * 2 < b) p *= 2;
  for (const f of [1, 1.25, 1.5, 1.75]) if (p * f >= b) return p * f;
  return p * 2;
}

/** Counters of {@link BufferPool}. */
export interface PoolStats {
  /** Buffers held by live storages. */
  liveBuffers: number;
  /** Bytes of those buffers. */
  liveBytes: number;
  /** Free buffers in the pool (settled and pending). */
  pooledBuffers: number;
  /** Bytes of those. */
  pooledBytes: number;
}

/** Size-class pool of STORAGE | COPY_SRC | COPY_DST buffers. */
export class BufferPool {
  #device: GPUDevice;
  #settled = new Map<number, GpuBuf[]>();
  #pending = new Map<number, GpuBuf[]>();
  #staging = new Map<number, GPUBuffer[]>();
  #stats: PoolStats = { liveBuffers: 0, liveBytes: 0, pooledBuffers: 0, pooledBytes: 0 };

  /**
   * An empty pool.
   *
   * @param device the device that creates the buffers
   */
  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /**
   * Take a buffer of at least `bytes`.
   *
   * @param bytes requested size
   * @param forUpload true when the caller will `writeBuffer` into it (then
   *   pending buffers are off limits)
   * @returns a buffer owned by the caller
   */
  acquire(bytes: number, forUpload: boolean): GpuBuf {
    const cls = sizeClass(bytes);
    let buf = forUpload ? undefined : this.#pending.get(cls)?.pop();
    buf ??= this.#settled.get(cls)?.pop();
    if (buf) {
      this.#stats.pooledBuffers--;
      this.#stats.pooledBytes -= cls;
    } else {
      buf = {
        buffer: this.#device.createBuffer({
          size: cls,
          usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
        }),
        bytes: cls,
        lastBatch: 0,
      };
    }
    this.#stats.liveBuffers++;
    this.#stats.liveBytes += cls;
    return buf;
  }

  /**
   * Whether the class of `bytes` has free buffers only on the pending list
   * (an upload would have to create a buffer unless the batch is submitted).
   *
   * @param bytes requested size
   * @returns true when only pending buffers are free
   */
  onlyPending(bytes: number): boolean {
    const cls = sizeClass(bytes);
    return (this.#settled.get(cls)?.length ?? 0) === 0 && (this.#pending.get(cls)?.length ?? 0) > 0;
  }

  /**
   * Return a buffer.
   *
   * @param buf the buffer
   * @param openBatch id of the open (unsubmitted) batch
   */
  release(buf: GpuBuf, openBatch: number): void {
    this.#stats.liveBuffers--;
    this.#stats.liveBytes -= buf.bytes;
    const pending = buf.lastBatch === openBatch;
    if (buf.bytes > MAX_POOLED_BYTES && !pending) {
      buf.buffer.destroy();
      return;
    }
    const map = pending ? this.#pending : this.#settled;
    let list = map.get(buf.bytes);
    if (!list) map.set(buf.bytes, list = []);
    list.push(buf);
    this.#stats.pooledBuffers++;
    this.#stats.pooledBytes += buf.bytes;
    if (!pending) this.#trim(buf.bytes);
  }

  /** After a submit: pending buffers become free for any use. */
  settle(): void {
    for (const [cls, list] of this.#pending) {
      let settled = this.#settled.get(cls);
      if (!settled) this.#settled.set(cls, settled = []);
      settled.push(...list);
      list.length = 0;
      this.#trim(cls);
    }
  }

  #trim(cls: number): void {
    const list = this.#settled.get(cls)!;
    const cap = cls > MAX_POOLED_BYTES ? 0 : POOL_CAP_PER_CLASS;
    while (list.length > cap) {
      list.pop()!.buffer.destroy();
      this.#stats.pooledBuffers--;
      this.#stats.pooledBytes -= cls;
    }
  }

  /**
   * Take a MAP_READ | COPY_DST staging buffer of at least `bytes`.
   *
   * @param bytes requested size
   * @returns an unmapped staging buffer
   */
  acquireStaging(bytes: number): GPUBuffer {
    const cls = sizeClass(bytes);
    return this.#staging.get(cls)?.pop() ?? this.#device.createBuffer({
      size: cls,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
  }

  /**
   * Give back a staging buffer (unmapped).
   *
   * @param buf the buffer
   */
  releaseStaging(buf: GPUBuffer): void {
    let list = this.#staging.get(buf.size);
    if (!list) this.#staging.set(buf.size, list = []);
    if (list.length < STAGING_CAP_PER_CLASS && buf.size <= MAX_POOLED_BYTES) list.push(buf);
    else buf.destroy();
  }

  /** Current counters. */
  stats(): PoolStats {
    return { ...this.#stats };
  }
}
