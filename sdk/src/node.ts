/**
 * Node entry: the core plus Node defaults — the `ws` package as transport and
 * in-memory storage (pass `new FileStorage(path)` to keep learned heartbeat
 * intervals across restarts). The network is a static 'default' key unless
 * the app passes a monitor or calls `client.setNetwork()`.
 */
import { LonglinkClient } from './client.js';
import { nodeWsTransport, type NodeTransportOptions } from './node-transport.js';
import { MemoryStorage } from './storage.js';
import type { TransportFactory } from './transport.js';
import type { ClientOptions } from './types.js';

export * from './index.js';
export { nodeWsTransport } from './node-transport.js';
export type { NodeTransportOptions } from './node-transport.js';
export { FileStorage } from './node-storage.js';

export type NodeClientOptions = Omit<ClientOptions, 'transport'> & { transport?: TransportFactory; ws?: NodeTransportOptions };

/** A client with Node defaults; any option given wins over the default. */
export function createClient(opts: NodeClientOptions): LonglinkClient {
  const { ws, ...rest } = opts;
  return new LonglinkClient({
    ...rest,
    transport: opts.transport ?? nodeWsTransport(ws),
    storage: opts.storage ?? new MemoryStorage(),
  });
}
