// Polling for conditions the director reaches asynchronously (a health verdict, a reload, a counter
// flushed by a worker). A deadline only bounds how long a broken run hangs; no test asserts how
// fast anything happened, so the deadlines are generous.

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Calls `probe` until `done(value)` holds and returns that value; after `timeoutMs` throws an
 * error naming `what` and the last value seen, so a failure says where it stopped.
 */
export async function until<T>(
  what: string,
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  { timeoutMs = 20_000, intervalMs = 100 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await probe();
      lastError = undefined;
      if (done(last)) return last;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const seen =
        lastError !== undefined
          ? `last error: ${(lastError as Error).message}`
          : `last value: ${JSON.stringify(last)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${seen})`);
    }
    await sleep(intervalMs);
  }
}
