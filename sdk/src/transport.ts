/**
 * The socket seam. The client sees a WebSocket only through `TransportFactory`,
 * so the same code runs on the browser's WebSocket (here) and on Node's `ws`
 * (node-transport.ts, node entry only), and unit tests plug in a fake.
 *
 * Contract for adapters:
 *  - `onOpen` at most once, then any number of `onMessage`, then `onClose`
 *    exactly once (also when the connect itself failed). Nothing after onClose.
 *  - `terminate()` drops the connection at once, without a closing handshake
 *    (used for zombies: a dead path would never complete one). It still leads
 *    to `onClose`, possibly later; the client has detached by then anyway.
 *  - `onClose.httpStatus` / `retryAfterMs` / `errorCode` are set only when the
 *    upgrade was refused with an HTTP response the platform lets us see (Node
 *    `ws` does; browsers do not, they report 1006).
 */

export type WireData = string | ArrayBuffer | Uint8Array;

export interface CloseInfo {
  /** WebSocket close code; 1006 when there was no close frame (or the connect failed). */
  code: number;
  reason: string;
  /** HTTP status of a refused upgrade, where observable. */
  httpStatus?: number;
  /** Retry-After of a refused upgrade, in ms, where observable. */
  retryAfterMs?: number;
  /** The wait came from Retry-After-Ms: the server's exact, already spread schedule (no jitter is added). */
  retryAfterExact?: boolean;
  /** `error.code` of a refused upgrade's JSON body (e.g. LL_AUTH_TOKEN_EXPIRED), where observable. */
  errorCode?: string;
}

export interface TransportHandlers {
  onOpen(protocol: string): void;
  /** `isBinary` is the WebSocket opcode; text frames may arrive as strings or UTF-8 bytes. */
  onMessage(data: WireData, isBinary: boolean): void;
  onClose(info: CloseInfo): void;
}

export interface TransportSocket {
  send(data: string | Uint8Array): void;
  /** Graceful close with a code the browser allows (1000 or 3000-4999). */
  close(code: number, reason: string): void;
  /** Hard close: no closing handshake where the platform allows it. */
  terminate(): void;
}

export type TransportFactory = (url: string, protocols: string[], handlers: TransportHandlers) => TransportSocket;

/** The subset of the DOM WebSocket we use, so this file also type-checks where DOM types are absent. */
interface DomWebSocket {
  binaryType: string;
  readonly protocol: string;
  readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string | ArrayBufferLike | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
}

type DomWebSocketCtor = new (url: string, protocols?: string | string[]) => DomWebSocket;

/**
 * Adapter over the standard WebSocket API (browsers, Deno, Node >= 22).
 * `ctor` defaults to `globalThis.WebSocket`.
 */
export function webSocketTransport(ctor?: DomWebSocketCtor): TransportFactory {
  const WS = ctor ?? (globalThis as { WebSocket?: DomWebSocketCtor }).WebSocket;
  if (WS === undefined) throw new Error('no global WebSocket: pass a transport (the node entry uses the ws package)');
  return (url, protocols, h) => {
    const ws = new WS(url, protocols);
    ws.binaryType = 'arraybuffer';
    let closed = false;
    const finish = (info: CloseInfo): void => {
      if (closed) return;
      closed = true;
      ws.onopen = ws.onmessage = ws.onerror = null;
      ws.onclose = null;
      h.onClose(info);
    };
    ws.onopen = () => { if (!closed) h.onOpen(ws.protocol); };
    ws.onmessage = (ev) => {
      if (closed) return;
      const d = ev.data;
      if (typeof d === 'string') h.onMessage(d, false);
      else if (d instanceof ArrayBuffer) h.onMessage(d, true);
      // A Blob would mean someone changed binaryType; ignore rather than guess.
    };
    ws.onclose = (ev) => finish({ code: ev.code, reason: ev.reason });
    // An error is always followed by close in the WebSocket API; wait for it.
    ws.onerror = () => {};
    return {
      send: (data) => { if (!closed) ws.send(data); },
      close: (code, reason) => { try { ws.close(code, reason); } catch { ws.close(); } },
      terminate: () => {
        // Browsers cannot skip the closing handshake. Start it, and report the
        // close now: on a dead path the real close event may take minutes.
        try { ws.close(1000, 'heartbeat timeout'); } catch { /* already closing */ }
        finish({ code: 1006, reason: 'terminated' });
      },
    };
  };
}
