/**
 * Browser entry: the core plus browser defaults — the native WebSocket,
 * localStorage for learned heartbeat intervals, and the Network Information
 * API / `online` / `visibilitychange` events. Bundled by sdk/build-browser.ts
 * (esbuild) into dist/sdk/browser/longlink.{mjs,js}. Imports nothing from Node.
 */
import { LonglinkClient } from './client.js';
import { browserNetworkMonitor } from './network.js';
import { MemoryStorage, webLocalStorage } from './storage.js';
import { webSocketTransport, type TransportFactory } from './transport.js';
import type { ClientOptions } from './types.js';

export * from './index.js';

export type BrowserClientOptions = Omit<ClientOptions, 'transport'> & { transport?: TransportFactory };

/** A client with browser defaults; any option given wins over the default. */
export function createClient(opts: BrowserClientOptions): LonglinkClient {
  return new LonglinkClient({
    ...opts,
    transport: opts.transport ?? webSocketTransport(),
    storage: opts.storage ?? webLocalStorage() ?? new MemoryStorage(),
    network: opts.network ?? browserNetworkMonitor(),
  });
}
