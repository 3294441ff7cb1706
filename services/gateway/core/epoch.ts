/**
 * A connection's sequence epoch (docs/protocol.md §7): seqs are only
 * comparable within one epoch. When the store loses a user's seq counter
 * (a Redis wipe, a failover, a restart without persistence), the sequence
 * starts again at 1 under a greater epoch; a connection still holding the
 * old watermark would drop every new push as "already written" until the
 * new seqs passed the old ones. So the first push (or replay page) of a newer
 * epoch resets the connection's watermarks, and pushes of an older epoch
 * (published before the loss, arriving late) are dropped: their inbox
 * entries are gone with the old sequence.
 */
export interface EpochConn {
  /** The sequence's epoch; -1 while unknown (a router that sends none), 0 while the user has no sequence. */
  epoch: number;
  /** Highest seq written and acked on this connection: of `epoch`. */
  sentSeq: number;
  ackedSeq: number;
  /** The epoch changed during this connection: acks above sentSeq are the old sequence's. */
  epochMoved: boolean;
}

/**
 * Compares a record's epoch with the connection's. `moved`: the connection
 * is now on the record's (newer) epoch, with its watermarks at 0 (the caller
 * drops what it held of the old one). `stale`: older than the connection's,
 * drop it. A record without an epoch (an older router) is taken as current.
 */
export function enterEpoch(c: EpochConn, epoch: number | undefined): 'same' | 'moved' | 'stale' {
  if (epoch === undefined || epoch === c.epoch) return 'same';
  // Unknown, or no sequence yet (so nothing written of it): simply take it.
  if (c.epoch <= 0) {
    c.epoch = epoch;
    return 'same';
  }
  if (epoch < c.epoch) return 'stale';
  c.epoch = epoch;
  c.sentSeq = 0;
  c.ackedSeq = 0;
  c.epochMoved = true;
  return 'moved';
}
