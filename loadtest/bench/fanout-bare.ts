/**
 * The floor for bench:fanout: a bare uWebSockets.js server that puts every
 * socket in one topic and, on the parent's `{cmd:'publish', frame}`, calls
 * `app.publish` with it: the same native fan-out the gateways use, with no
 * bus, no decoding, no bookkeeping. On loopback each socket's `send` also
 * runs the receiving TCP path in the kernel, charged to the sender, so this
 * is what one delivery costs before Longlink adds anything.
 * Prints "PORT <n>" when listening. IPC: { cmd: 'publish', frame } | { cmd: 'count' } → { type: 'count', open }.
 */
import { loadNativeUws } from '../../services/shared/uws-native.js';

const TOPIC = 'bare';
const uWS = loadNativeUws().uws;
let open = 0;
const app = uWS.App().ws('/*', {
  idleTimeout: 0,
  maxPayloadLength: 65536,
  maxBackpressure: 1024 * 1024,
  open: (ws) => { open++; ws.subscribe(TOPIC); },
  close: () => { open--; },
});
app.listen('127.0.0.1', 0, (ls) => {
  if (!ls) process.exit(1);
  console.log(`PORT ${uWS.us_socket_local_port(ls)}`);
});
process.on('message', (m: { cmd: string; frame?: string }) => {
  if (m.cmd === 'publish' && typeof m.frame === 'string') app.publish(TOPIC, m.frame, false);
  else if (m.cmd === 'count') process.send?.({ type: 'count', open });
});
process.on('disconnect', () => process.exit(0));
