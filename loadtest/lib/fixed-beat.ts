/**
 * The fixed-rate heartbeat of the baseline workloads: the first beat at a
 * random phase in [0, interval), then one every interval whatever else flows,
 * until the socket closes. For benches that load a Longlink gateway and a bare
 * WebSocket server with the very same client (heartbeat-cpu, memory, the
 * suite's `ws` baseline), so the offered heartbeat rate is exact. Protocol
 * clients run the SDK's scheduler instead (protocol-session.ts).
 */
import WebSocket from 'ws';

export function beatEvery(ws: WebSocket, intervalMs: number, frame: Uint8Array, sent?: () => void): void {
  const beat = (): void => {
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(frame);
    sent?.();
  };
  let timer: NodeJS.Timeout = setTimeout(() => { beat(); timer = setInterval(beat, intervalMs); }, Math.random() * intervalMs);
  ws.once('close', () => clearInterval(timer)); // clears the first timeout as well
}
