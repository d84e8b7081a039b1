// The REST fuzzer, short (500 requests; `npm run fuzz -- rest` runs 10,000): a real Director's
// control plane never answers 5xx, answers every refusal with a code of the error table and an
// unchanged config (GET /v1/config and the file, byte for byte), and persists every accepted
// change as a file that loads and holds what GET answers.
import { describe, expect, it } from 'vitest';
import { runRestFuzz } from './rest-fuzz.ts';

describe('REST fuzzing from the OpenAPI document', () => {
  it('500 requests: no 5xx, no crash, the config unchanged after every refusal', async () => {
    const r = await runRestFuzz({ requests: 500 });
    expect(r.failures, `seed ${r.seed}`).toEqual([]);
    expect(r.requests).toBe(500);
    expect(r.serverErrors).toBe(0);
    expect(r.refused).toBeGreaterThan(50);
    expect(r.accepted).toBeGreaterThan(0);
  }, 120_000);
});
