// MemoryPort: a port with no sockets, for tests and the simulator. Frames are injected as VXLAN
// datagrams with a peer handle; after a flush, forwarded frames are listed with the real server
// they went to, and replies with the peer they go back to. The same batch path as a real port.
import type { Batch } from './batch.ts';
import type { Dataplane } from './dataplane.ts';
import { Verdict } from './verdict.ts';

export interface Sent {
  verdict: number;
  /** Real index for forwards, drop reason for drops, 0 for replies. */
  arg: number;
  peer: number;
  bytes: Uint8Array;
}

export class MemoryPort {
  private readonly queue: { bytes: Uint8Array; peer: number }[] = [];
  readonly forwarded: Sent[] = [];
  readonly replies: Sent[] = [];
  readonly dropped: Sent[] = [];

  inject(bytes: Uint8Array, peer = 0): void {
    this.queue.push({ bytes, peer });
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Runs every queued frame through the dataplane, batch by batch, and sorts out the results. */
  async flush(dp: Dataplane): Promise<void> {
    while (this.queue.length > 0) {
      const batch = dp.takeBatch();
      if (batch === null) throw new Error('no free batch: MemoryPort.flush is not reentrant');
      while (this.queue.length > 0) {
        const next = this.queue[0];
        if (!batch.push(next.bytes, 0, next.bytes.length, next.peer)) break;
        this.queue.shift();
      }
      if (batch.count === 0) throw new Error('a frame larger than a whole batch cannot be carried');
      try {
        await dp.run(batch);
        this.collect(batch);
      } finally {
        dp.giveBack(batch);
      }
    }
  }

  private collect(batch: Batch): void {
    for (let i = 0; i < batch.count; i++) {
      const sent: Sent = {
        verdict: batch.verdictOf(i),
        arg: batch.argOf(i),
        peer: batch.peerOf(i),
        bytes: batch.frame(i).slice(),
      };
      if (sent.verdict === Verdict.forward) this.forwarded.push(sent);
      else if (sent.verdict === Verdict.reply) this.replies.push(sent);
      else this.dropped.push(sent);
    }
  }
}
