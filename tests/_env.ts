/**
 * What the test environment demands: in CI (`CI` set) or with
 * `WGRAD_REQUIRE_GPU=1`, a missing WebGPU adapter or browser fails the tests
 * that need it instead of leaving them ignored.
 *
 * @module
 */

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
