/**
 * Node driver for protocol-session.ts: one `ws` socket at a time per
 * ClientSession, from an optional loopback source address. It feeds frames to
 * the session, sends what the session's `poll()` returns when the owner calls
 * `tick()` (one sweep over many drivers instead of a timer per socket), and,
 * when asked to, reconnects with resume after the delay the session picks
 * (backoff with full jitter, drain delay, Retry-After of a 503).
 */
import WebSocket from 'ws';
import { refusalWait } from '../../sdk/src/backoff.js';
import { DriverBase, attemptTarget, type EndInfo } from './driver.js';

export { nowMs } from './driver.js';
export type { AttemptTarget, Driver, DriverOptions, DriverState, EndInfo } from './driver.js';

export class SessionDriver extends DriverBase {
  private ws: WebSocket | undefined;

  protected async open(): Promise<void> {
    const target = await attemptTarget(this.o, () => this.state === 'connecting');
    if (target === undefined) return;
    if ('error' in target) { this.finish({ wasOpen: false, error: target.error }); return; }
    const ws = new WebSocket(target.url, target.protocols, {
      perMessageDeflate: false, handshakeTimeout: this.o.connectTimeoutMs ?? 10_000,
      ...(this.o.localAddress !== undefined ? { localAddress: this.o.localAddress } : {}),
    });
    this.ws = ws;
    ws.binaryType = 'nodebuffer';
    let done = false;
    let opened = false;
    let lastError: string | undefined;
    const end = (e: Omit<EndInfo, 'delayMs' | 'wasOpen'>): void => {
      if (done) return;
      done = true;
      if (this.ws === ws) this.ws = undefined;
      this.finish({ ...e, wasOpen: opened });
    };
    ws.on('unexpected-response', (req, res) => {
      // The SDK's own parser (delta-seconds or HTTP-date), as its Node transport reads it.
      const first = (h: string | string[] | undefined): string | undefined => (Array.isArray(h) ? h[0] : h);
      const wait = refusalWait(first(res.headers['retry-after']), first(res.headers['retry-after-ms']), Date.now());
      res.resume();
      req.destroy();
      end({ status: res.statusCode ?? 0, ...(wait ?? {}) });
    });
    ws.on('open', () => {
      opened = true;
      if (!this.upgraded()) ws.terminate();
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => this.received(isBinary ? data : data.toString('utf8')));
    ws.on('error', (err) => { lastError = err.message.slice(0, 100); });
    ws.on('close', (code, reason: Buffer) => end({ ...(opened ? { closeCode: code } : {}), ...(opened && reason.length > 0 ? { closeReason: reason.toString('utf8').slice(0, 80) } : {}),
      ...(lastError !== undefined ? { error: lastError } : {}) }));
  }

  tick(now: number): void {
    if (this.state !== 'open' || !this.ws) return;
    const { frames, zombie } = this.due(now);
    if (zombie) { this.ws.terminate(); return; }
    for (const f of frames) this.ws.send(f);
  }

  send(data: Uint8Array | string): void {
    this.ws?.send(data, { binary: typeof data !== 'string' });
  }

  drop(): void {
    this.ws?.terminate();
  }
}
