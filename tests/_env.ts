/**
 * What the test environment demands: in CI (`CI` set) or with
 * `WGRAD_REQUIRE_GPU=1`, a missing WebGPU adapter or browser fails the tests
 * that need it instead of leaving them ignored.
 *
 * @module
 */

import assert from "node:assert/strict";
import { poolReady, setCpuThreads } from "../tensor/cpu/pool.ts";

/** An environment variable, or undefined without env permission. */
export function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** Whether a missing adapter (or browser) must fail the tests. */
export function gpuRequired(): boolean {
  return (env("CI") ?? "") !== "" || env("WGRAD_REQUIRE_GPU") === "1";
}

/** Debian's python, which has PyTorch (1.13) where it is installed. */
export const TORCH_PYTHON = "/usr/bin/python3";

/** Whether {@link TORCH_PYTHON} exists and imports torch (tests that compare with PyTorch). */
export async function hasTorch(): Promise<boolean> {
  try {
    const { code } = await new Deno.Command(TORCH_PYTHON, {
      args: ["-c", "import torch"],
      stdout: "null",
      stderr: "null",
    }).output();
    return code === 0;
  } catch {
    return false;
  }
}

/**
 * Start the CPU worker pool with two threads, whatever `WGRAD_CPU_THREADS`
 * says, and fail unless it runs: the tests that must see jobs split need it
 * (a 2-core CI machine has it).
 */
export async function assertPoolStarts(): Promise<void> {
  const was = setCpuThreads(2);
  try {
    assert.ok(await poolReady(), "the worker pool did not start");
  } finally {
    setCpuThreads(was);
  }
}
