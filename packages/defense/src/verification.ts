// Source verification's settings and their defaults: when the priority strategy answers a SYN
// with the director's challenge instead of forwarding it. The config fills a missing section
// with these and the compiled config falls back to them, so the defaults live with the policy.

/**
 * Source verification (the priority strategy): when a SYN from a source that has not answered the
 * director's challenge is answered with a challenge instead of being forwarded.
 */
export interface VerificationSettings {
  /**
   * auto: while a service or one of its real servers holds `watermark` of its capacity, or the
   * connection table that share of its entries; always; off.
   */
  mode: 'auto' | 'always' | 'off';
  /** Share of capacity (upper thresholds) at which a service starts verifying. */
  watermark: number;
  /** A service keeps verifying this long after it last was at the watermark. */
  holdSeconds: number;
  /** A source that answered stays verified this long. */
  ttlSeconds: number;
  /** At most one probe per source per this many ms. */
  probeIntervalMs: number;
  /**
   * Probe every new source at its first SYN, without delaying it, so the clients a flood finds
   * already connected are verified (default true).
   */
  probeNewSources?: boolean;
  /**
   * Probes one worker may send per second, all kinds together (a spoofed flood must not turn them
   * into a reflector); asking a source again (reconfirmation, a source probed before) may use half.
   */
  probesPerSecond?: number;
}

/** What a defense section without `verification` gets. */
export const DEFAULT_VERIFICATION: Readonly<Required<VerificationSettings>> = Object.freeze({
  mode: 'auto',
  watermark: 0.75,
  holdSeconds: 10,
  ttlSeconds: 3600,
  probeIntervalMs: 1000,
  probeNewSources: true,
  probesPerSecond: 1000,
});
