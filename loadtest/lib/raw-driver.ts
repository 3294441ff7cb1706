/**
 * A lighter Node driver for protocol-session.ts than ws-driver.ts, for runs
 * with very many connections per process (the C1M bench): a minimal
 * RFC 6455 client written over `net` (upgrade with the token in the
 * subprotocol, masked client frames, close, ping/pong, fragmented frames),
 * reading every socket into one buffer shared by the whole process (`onread`),
 * so an idle connection holds no read buffer and no WebSocket object.
 * Measured at 18,000 connections per process: 6-7 KB of RSS per connection
 * against ws-driver's 11.4 KB (docs/benchmarks.md, C1M).
 *
 * Same surface and semantics as SessionDriver (ws-driver.ts): the session
 * (the SDK's heartbeat, ack and reconnect rules) decides; this only moves
 * bytes. Differences: no TLS (ws:// only) and no redirects, which load runs
 * never use.
 */
import net from 'node:net';
import { createHash, randomFillSync } from 'node:crypto';
import { refusalWait } from '../../sdk/src/backoff.js';
import { DriverBase, attemptTarget, type EndInfo } from './driver.js';
import { FrameReader, type FrameSink } from './ws-reader.js';

export { nowMs } from './driver.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** One read buffer for every socket of the process: data is parsed (or copied) before the next read. */
const READ_BUF = Buffer.allocUnsafe(64 * 1024);
/** Random bytes for handshake keys and frame masks, refilled in bulk. */
const POOL = Buffer.allocUnsafe(64 * 1024);
let poolAt = POOL.length;
function random(n: number): Buffer {
  if (poolAt + n > POOL.length) { randomFillSync(POOL); poolAt = 0; }
  const b = POOL.subarray(poolAt, poolAt + n);
  poolAt += n;
  return b;
}

/** A client frame (RFC 6455 §5.2): FIN, opcode, mask bit and key, masked payload. */
export function clientFrame(opcode: number, payload: Uint8Array): Buffer {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + 4 + n);
  out[0] = 0x80 | opcode;
  if (n < 126) out[1] = 0x80 | n;
  else if (n < 65536) { out[1] = 0x80 | 126; out.writeUInt16BE(n, 2); }
  else { out[1] = 0x80 | 127; out.writeUInt32BE(0, 2); out.writeUInt32BE(n, 6); }
  random(4).copy(out, head);
  for (let i = 0; i < n; i++) out[head + 4 + i] = payload[i]! ^ out[head + (i & 3)]!;
  return out;
}

const enum Phase { Upgrade, Frames }

export class RawSessionDriver extends DriverBase implements FrameSink {
  private sock: net.Socket | undefined;
  /** Per attempt: the upgrade response while incomplete (frame bytes are the reader's). */
  private pending: Buffer | undefined;
  private phase = Phase.Upgrade;
  private key = '';
  private opened = false;
  private done = false;
  private closeCode: number | undefined;
  private lastError: string | undefined;
  /** Frames of the current connection (split reads, fragments, masks): ws-reader.ts. */
  private readonly reader = new FrameReader(this);

  protected async open(): Promise<void> {
    const target = await attemptTarget(this.o, () => this.state === 'connecting');
    if (target === undefined) return;
    if ('error' in target) { this.finish({ wasOpen: false, error: target.error }); return; }
    const full = target.url;
    const m = /^ws:\/\/([^/:]+)(?::(\d+))?(\/.*)?$/.exec(full);
    if (!m) { this.finish({ wasOpen: false, error: `unsupported url ${full.slice(0, 60)}` }); return; }
    const host = m[1]!, port = Number(m[2] ?? 80), pathAndQuery = m[3] ?? '/';
    this.key = random(16).toString('base64');
    this.pending = undefined; this.phase = Phase.Upgrade; this.opened = false; this.done = false;
    this.closeCode = undefined; this.lastError = undefined; this.reader.reset();
    const req = `GET ${pathAndQuery} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${this.key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${target.protocols.join(', ')}\r\n\r\n`;
    const sock = net.connect({
      host, port, ...(this.o.localAddress !== undefined ? { localAddress: this.o.localAddress } : {}), noDelay: true,
      onread: { buffer: READ_BUF, callback: (n: number, buf: Buffer): boolean => { if (this.sock === sock) this.onData(buf, n); return true; } },
    });
    this.sock = sock;
    sock.setTimeout(this.o.connectTimeoutMs ?? 10_000, () => { this.lastError = 'handshake timeout'; sock.destroy(); });
    sock.once('connect', () => { sock.write(req); });
    sock.on('error', (err: NodeJS.ErrnoException) => { this.lastError = (err.code ?? err.message).slice(0, 100); });
    sock.on('close', () => { if (this.sock === sock) this.end(); });
  }

  private onData(buf: Buffer, n: number): void {
    if (this.phase === Phase.Frames) { this.reader.push(buf, 0, n); return; }
    let data = buf.subarray(0, n);
    if (this.pending) { data = Buffer.concat([this.pending, data]); this.pending = undefined; }
    if (this.phase === Phase.Upgrade) {
      const eoh = data.indexOf('\r\n\r\n');
      if (eoh < 0) { this.pending = Buffer.from(data); return; }
      const head = data.toString('latin1', 0, eoh);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      if (status !== 101) {
        // The SDK's Retry-After parser (delta-seconds or HTTP-date), as ws-driver.ts uses it.
        const wait = refusalWait(/\r\nretry-after:([^\r]*)/i.exec(head)?.[1], /\r\nretry-after-ms:([^\r]*)/i.exec(head)?.[1], Date.now());
        this.endWith({ wasOpen: false, status, ...(wait ?? {}) });
        return;
      }
      const accept = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(head)?.[1];
      if (accept !== createHash('sha1').update(this.key + GUID).digest('base64')) {
        this.lastError = 'bad Sec-WebSocket-Accept';
        this.sock?.destroy();
        return;
      }
      this.phase = Phase.Frames;
      this.opened = true;
      this.sock!.setTimeout(0);
      if (!this.upgraded()) { this.sock!.destroy(); return; }
      if (data.length > eoh + 4) this.reader.push(data, eoh + 4);
    }
  }

  /** FrameSink: one whole data message, `buf[start, end)` (possibly the shared read buffer: used before returning). */
  onMessage(opcode: number, buf: Buffer, start: number, end: number): void {
    if (!this.sock) return;
    if (this.o.intercept?.(opcode, buf, start, end, this) === true) return;
    // The session keeps nothing of the payload beyond this call (parsed or copied), so the shared buffer is safe.
    const payload = buf.subarray(start, end);
    this.received(opcode === 0x2 ? payload : payload.toString('utf8'));
  }

  onControl(opcode: number, payload: Buffer): void {
    if (opcode === 0x8) { // close: echo it, then the socket ends
      this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      this.sock?.end(clientFrame(0x8, payload.subarray(0, 2)));
    } else if (opcode === 0x9) this.sock?.write(clientFrame(0xa, payload));
  }

  onError(reason: string): void { this.lastError = reason; this.sock?.destroy(); }

  private endWith(e: Omit<EndInfo, 'delayMs'>): void {
    const s = this.sock;
    this.sock = undefined;
    s?.destroy();
    if (this.done) return;
    this.done = true;
    this.finish(e);
  }

  private end(): void {
    this.sock = undefined;
    if (this.done) return;
    this.done = true;
    this.finish({ wasOpen: this.opened, ...(this.opened ? { closeCode: this.closeCode ?? 1006 } : {}), ...(this.lastError !== undefined ? { error: this.lastError } : {}) });
  }

  protected override finish(e: Omit<EndInfo, 'delayMs'>): void {
    this.pending = undefined; this.reader.reset();
    super.finish(e);
  }

  tick(now: number): void {
    if (this.state !== 'open' || !this.sock) return;
    const { frames, zombie } = this.due(now);
    if (zombie) { this.sock.destroy(); return; }
    if (frames.length === 1) this.sock.write(clientFrame(0x2, frames[0]!));
    else if (frames.length > 1) this.sock.write(Buffer.concat(frames.map((f) => clientFrame(0x2, f))));
  }

  send(data: Uint8Array | string): void {
    this.sock?.write(typeof data === 'string' ? clientFrame(0x1, Buffer.from(data)) : clientFrame(0x2, data));
  }

  drop(): void { this.sock?.destroy(); }
}
