/**
 * Network identity and wake-up events.
 *
 * The smart heartbeat remembers what it learned per network, so the client
 * needs a key for "the network we are on" (a Wi-Fi SSID, a carrier + radio
 * type, ...). Only the app can know that well; it passes a `NetworkMonitor`
 * or calls `client.setNetwork(key)`. In browsers the default monitor uses the
 * Network Information API where present (`navigator.connection.type`: wifi,
 * cellular, ethernet, ...; Chromium on Android/ChromeOS) and the key 'default'
 * elsewhere, plus the `online` and `visibilitychange` events.
 *
 * Events: 'online' and 'visible' wake a disconnected client at once;
 * 'network' means the connection changed (the key may be new): the client
 * switches its heartbeat record and, if connected, checks the link at once,
 * because a 4G↔Wi-Fi switch silently kills every existing TCP connection.
 */

export type NetworkEvent = 'online' | 'offline' | 'visible' | 'hidden' | 'network';

export interface NetworkMonitor {
  /** Key of the current network (never empty). */
  key(): string;
  /** Subscribes to events; returns the unsubscribe function. */
  subscribe(listener: (ev: NetworkEvent) => void): () => void;
}

/** A monitor that never reports anything: one fixed network key (Node default). */
export function staticNetwork(key = 'default'): NetworkMonitor {
  return { key: () => key, subscribe: () => () => {} };
}

interface EventTargetLike {
  addEventListener(type: string, fn: () => void): void;
  removeEventListener(type: string, fn: () => void): void;
}

interface NetworkInformationLike extends EventTargetLike {
  type?: string;
}

/** The browser's view of the network; falls back to a static 'default' key outside browsers. */
export function browserNetworkMonitor(): NetworkMonitor {
  const g = globalThis as {
    window?: EventTargetLike;
    document?: EventTargetLike & { visibilityState?: string };
    navigator?: { connection?: NetworkInformationLike };
  };
  const conn = g.navigator?.connection;
  const key = (): string => {
    const t = conn?.type;
    return typeof t === 'string' && t.length > 0 && t !== 'unknown' ? t : 'default';
  };
  return {
    key,
    subscribe(listener) {
      const subs: Array<[EventTargetLike, string, () => void]> = [];
      const add = (target: EventTargetLike | undefined, type: string, fn: () => void): void => {
        if (target === undefined) return;
        target.addEventListener(type, fn);
        subs.push([target, type, fn]);
      };
      add(g.window, 'online', () => listener('online'));
      add(g.window, 'offline', () => listener('offline'));
      add(g.document, 'visibilitychange', () => listener(g.document?.visibilityState === 'hidden' ? 'hidden' : 'visible'));
      add(conn, 'change', () => listener('network'));
      return () => {
        for (const [t, type, fn] of subs) t.removeEventListener(type, fn);
        subs.length = 0;
      };
    },
  };
}

/** A monitor the app drives by hand (tests, Node apps that learn about networks elsewhere). */
export class ManualNetwork implements NetworkMonitor {
  private readonly listeners = new Set<(ev: NetworkEvent) => void>();
  constructor(private current = 'default') {}
  key(): string { return this.current; }
  subscribe(listener: (ev: NetworkEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  /** Switches to `key` and reports a 'network' event. */
  switchTo(key: string): void {
    this.current = key;
    this.emit('network');
  }
  emit(ev: NetworkEvent): void {
    for (const l of [...this.listeners]) l(ev);
  }
}
