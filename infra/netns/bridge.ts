/**
 * Runs inside a namespace: accepts connections on a Unix socket (Unix sockets
 * are files, not bound to a network namespace) and connects each to the
 * `host:port` named by its first line, inside this namespace. forward.ts is
 * the other half, in the test's own namespace. So a test reaches a service in
 * a namespace without any address or route in the host's namespace.
 *
 *   ip netns exec NS node dist/infra/netns/bridge.js /tmp/x.sock
 */
import net from 'node:net';
import { rmSync } from 'node:fs';

const path = process.argv[2];
if (path === undefined) {
  process.stderr.write('bridge: unix socket path required\n');
  process.exit(2);
}
rmSync(path, { force: true });
const server = net.createServer((down) => {
  let head = Buffer.alloc(0);
  const onData = (d: Buffer): void => {
    head = Buffer.concat([head, d]);
    const nl = head.indexOf(10);
    if (nl < 0) { if (head.length > 256) down.destroy(); return; }
    down.off('data', onData);
    down.pause();
    const m = /^([0-9.]+|localhost):(\d{1,5})$/.exec(head.subarray(0, nl).toString('latin1'));
    if (m === null) { down.destroy(); return; }
    const up = net.connect(Number(m[2]), m[1]);
    const rest = head.subarray(nl + 1);
    if (rest.length > 0) up.write(rest);
    up.on('connect', () => { down.pipe(up); up.pipe(down); down.resume(); });
    up.on('error', () => down.destroy());
    down.on('error', () => up.destroy());
    up.on('close', () => down.destroy());
    down.on('close', () => up.destroy());
  };
  down.on('data', onData);
});
server.listen(path, () => { process.stdout.write(`bridge ready ${path}\n`); });
const stop = (): void => { server.close(); rmSync(path, { force: true }); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
