// What a config gets for a section it leaves out. The verification defaults are the defense
// package's own (the policy owns its defaults); the rest are the director's choices.
import { DEFAULT_VERIFICATION } from '@sluice/defense';
import type { DefenseConfig } from './schema.ts';

/** What a config without a `defense` section gets: the priority defense with every default. */
export const DEFAULT_DEFENSE: DefenseConfig = {
  strategy: 'priority',
  highWatermark: 0.98,
  lowWatermark: 0.95,
  verification: { ...DEFAULT_VERIFICATION },
  countInactive: false,
  lvs: { dropEntry: 1, dropPacket: 1, secureTcp: 1, amemthresh: 0, amDroprate: 10 },
  weights: {},
  rules: [],
  sourceChecks: { enabled: true, action: 'lowest' },
};
