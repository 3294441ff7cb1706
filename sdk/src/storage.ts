/**
 * Pluggable storage for what the smart heartbeat learned, per network.
 *
 * `KeyValueStorage` is the Web Storage shape (`localStorage` fits as is); a
 * Node app can pass `FileStorage` (node entry) or `MemoryStorage`. Methods may
 * return promises. All learned intervals live in one JSON document under one
 * key, at most `maxNetworks` entries, the least recently modified evicted
 * first (Mars keeps 20 networks in Heartbeat.ini).
 *
 * Storage is an optimisation: a read that fails or returns garbage means
 * "nothing learned yet" (start at the safe minimum), never an error for the app.
 */
import { isHeartbeatRecord, type HeartbeatRecord } from './heartbeat-policy.js';

export interface KeyValueStorage {
  getItem(key: string): string | null | Promise<string | null>;
  setItem(key: string, value: string): void | Promise<void>;
}

/** In-process storage: forgets on exit. The default when nothing else is available. */
export class MemoryStorage implements KeyValueStorage {
  private readonly m = new Map<string, string>();
  getItem(key: string): string | null { return this.m.get(key) ?? null; }
  setItem(key: string, value: string): void { this.m.set(key, value); }
}

/** `globalThis.localStorage` when usable (browsers; absent or throwing in private modes and Node). */
export function webLocalStorage(): KeyValueStorage | undefined {
  try {
    const ls = (globalThis as { localStorage?: KeyValueStorage }).localStorage;
    return ls ?? undefined;
  } catch {
    return undefined;
  }
}

export const DEFAULT_STORAGE_KEY = 'longlink.heartbeat.v1';

type Doc = Record<string, HeartbeatRecord>;

/** Learned heartbeat records by network key, over a `KeyValueStorage`. */
export class HeartbeatMemory {
  private cache: Doc | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly storage: KeyValueStorage,
    private readonly key = DEFAULT_STORAGE_KEY,
    private readonly maxNetworks = 20,
  ) {}

  async load(network: string): Promise<HeartbeatRecord | undefined> {
    const doc = await this.doc();
    const r = Object.prototype.hasOwnProperty.call(doc, network) ? doc[network] : undefined;
    return r === undefined ? undefined : { ...r };
  }

  /** Saves `rec` for `network`. Writes are serialised in call order; the promise settles when this one is done. */
  save(network: string, rec: HeartbeatRecord): Promise<void> {
    const next = this.writing.then(async () => {
      const doc = { ...(await this.doc()), [network]: { ...rec } };
      const names = Object.keys(doc);
      if (names.length > this.maxNetworks) {
        names.sort((a, b) => doc[a]!.modifiedAt - doc[b]!.modifiedAt);
        for (const n of names.slice(0, names.length - this.maxNetworks)) if (n !== network) delete doc[n];
      }
      this.cache = doc;
      await this.storage.setItem(this.key, JSON.stringify(doc));
    });
    this.writing = next.catch(() => {});
    return next;
  }

  private async doc(): Promise<Doc> {
    if (this.cache !== undefined) return this.cache;
    let raw: string | null;
    try {
      raw = await this.storage.getItem(this.key);
    } catch {
      raw = null;
    }
    const doc: Doc = {};
    if (raw !== null) {
      try {
        const parsed: unknown = JSON.parse(raw);
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
          for (const [k, v] of Object.entries(parsed)) if (isHeartbeatRecord(v)) doc[k] = v;
        }
      } catch {
        // Corrupt document: start over.
      }
    }
    this.cache = doc;
    return doc;
  }
}
