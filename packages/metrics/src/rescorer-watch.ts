// RescorerWatch: the background re-scorer's progress, read from the victim index header it
// publishes to, for `sluice_rescorer_passes_total`, `sluice_rescorer_priority_changes_total` and
// `sluice_rescorer_pass_duration_seconds`. The re-scorer runs in its own thread and shares nothing
// else with the main thread; at the end of every full pass over the table it adds 1 to the
// header's `passes`, adds the priority bytes it changed to `changes` and stamps `publishedAt`
// (the table's wrapping ms clock). So a scrape can tell how many passes ran and when the last one
// was published, but not when a pass started. The duration therefore comes from two
// publications: between the last one seen at the previous scrape and the last one seen now,
// `Δpasses` passes ran back to back (the re-scorer starts the next pass at once), so each took
// `ΔpublishedAt / Δpasses` on average — exactly the last pass's duration when one pass ran in the
// interval, the mean over them otherwise. With no new pass, the previous value stays (a stalled
// re-scorer shows as a flat passes counter, not as a duration that changes).
//
// Header words are 32-bit and wrap (passes after 2^32 of them, changes much sooner); the totals
// here are built from wrap-safe differences between scrapes, so they never go backwards.
// The writer stores `passes` before `publishedAt`; a scrape that lands in the few nanoseconds in
// between attributes one pass to the wrong interval, which moves that scrape's duration by at most
// one pass's share and corrects itself at the next one.
import { elapsed } from '@sluice/conntrack';
import { VictimHeader, type VictimIndex } from '@sluice/defense';

export class RescorerWatch {
  /** Full passes published since the index was made. */
  passes = 0;
  /** Priority bytes the re-scorer changed since the index was made. */
  changes = 0;
  /** Seconds per pass over the interval described above; null until two publications are seen. */
  passSeconds: number | null = null;
  private readonly victims: VictimIndex;
  /** The raw header words at the previous observation; null before the first. */
  private last: { passes: number; changes: number; publishedAt: number } | null = null;

  constructor(victims: VictimIndex) {
    this.victims = victims;
  }

  /** Reads the header once and updates the totals and the duration. */
  observe(): this {
    const v = this.victims;
    const publishedAt = v.headerValue(VictimHeader.publishedAt);
    const passes = v.headerValue(VictimHeader.passes);
    const changes = v.headerValue(VictimHeader.changes);
    const last = this.last;
    if (last === null) {
      this.passes = passes >>> 0;
      this.changes = changes >>> 0;
    } else {
      const done = (passes - last.passes) >>> 0;
      this.passes += done;
      this.changes += (changes - last.changes) >>> 0;
      // A previous count of 0 means no publication yet: its publishedAt is not a pass's end.
      if (done > 0 && last.passes !== 0) {
        this.passSeconds = Math.max(0, elapsed(last.publishedAt, publishedAt)) / done / 1000;
      }
    }
    this.last = { passes, changes, publishedAt };
    return this;
  }
}
