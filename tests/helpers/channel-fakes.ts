/**
 * Fakes for the gateway's channel hub tests (services/gateway/core/channels.ts):
 * a connection as GatewayCore makes it, and a history that answers in pages
 * as the stores do (over the byte bound: not covered, with the prefix that fits).
 */
import type { ChannelConn } from '../../services/gateway/core/channels.js';
import type { ChannelHistoryReply, ChannelHistoryRequest } from '../../services/gateway/core/ports.js';
import { FakeClientSocket } from './fake-client-socket.js';

let ids = 0;

export class FakeChannelConn implements ChannelConn {
  readonly id = `c${++ids}`;
  readonly user: string = 'u';
  readonly device = 'd';
  closed = false;
  channels: Set<string> | null = new Set();
  awaitingRecover: { channels: readonly string[]; until: number } | null = null;
  pendingControl: Array<{ subscribe: boolean; channels: readonly string[] }> | null = null;
  readonly socket = new FakeClientSocket();
}

/**
 * A history holding offsets `first`..`latest` of `epoch`, answering at most
 * `perPage` messages a reply; a position before `first` or after `latest`
 * is not covered.
 */
export function historyPage(req: ChannelHistoryRequest, h: { epoch: string; latest: number; first?: number }, perPage: number): ChannelHistoryReply {
  const head = { channel: req.channel, epoch: h.epoch, offset: h.latest };
  const after = req.afterOffset;
  if (after === undefined || after === h.latest) return { ...head, pubs: [], covered: true };
  if (after + 1 < (h.first ?? 1) || after > h.latest) return { ...head, pubs: [], covered: false };
  const pubs = [];
  for (let off = after + 1; off <= Math.min(h.latest, after + perPage); off++) pubs.push({ offset: off, id: `m${off}`, ts: 1, data: String(off) });
  return { ...head, pubs, covered: after + perPage >= h.latest };
}
