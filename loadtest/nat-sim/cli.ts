/**
 * NAT-timeout simulator CLI (docs/nat-simulator.md):
 *
 *   node dist/loadtest/nat-sim/cli.js --listen 9000 --target 127.0.0.1:8080 --timeout 300000 [--delay 50]
 *
 * Then type commands on stdin (one per line) to change it at run time:
 *   timeout <ms>   new idle timeout (network switch)      drop      blackhole every mapping
 *   delay <ms>     one-way latency                        reset     RST every mapping
 *   offline|online blackhole new connections or not       stats     print stats and mappings
 * Events are printed as JSON lines on stdout.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { NatProxy } from './nat-proxy.js';

function parseHostPort(v: string, defaultHost: string): { host: string; port: number } {
  const i = v.lastIndexOf(':');
  const host = i >= 0 ? v.slice(0, i) : defaultHost;
  const port = Number(i >= 0 ? v.slice(i + 1) : v);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port in "${v}"`);
  return { host: host.length > 0 ? host : defaultHost, port };
}

function ms(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number of milliseconds >= 0`);
  return n;
}

const USAGE = 'usage: nat-sim --listen [HOST:]PORT --target HOST:PORT --timeout MS [--delay MS] [--offline]';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      listen: { type: 'string' },
      target: { type: 'string' },
      timeout: { type: 'string', default: '300000' },
      delay: { type: 'string', default: '0' },
      offline: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || values.listen === undefined || values.target === undefined) {
    console.error(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  const listen = parseHostPort(values.listen, '127.0.0.1');
  const target = parseHostPort(values.target, '127.0.0.1');
  const proxy = await NatProxy.start({
    listenHost: listen.host, listenPort: listen.port, targetHost: target.host, targetPort: target.port,
    idleTimeoutMs: ms(values.timeout, '--timeout'), delayMs: ms(values.delay, '--delay'),
  });
  proxy.setOffline(values.offline);
  const out = (o: object): void => { process.stdout.write(JSON.stringify({ t: new Date().toISOString(), ...o }) + '\n'); };
  out({ event: 'listening', port: proxy.port, target: `${target.host}:${target.port}`, timeoutMs: proxy.idleTimeoutMs });
  proxy.subscribe((ev) => out({ event: ev.type, mapping: ev.mapping }));

  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const [cmd, arg] = line.trim().split(/\s+/);
    try {
      switch (cmd) {
        case 'timeout': proxy.setIdleTimeout(ms(arg ?? '', 'timeout')); out({ event: 'timeout', timeoutMs: proxy.idleTimeoutMs }); break;
        case 'delay': proxy.setDelay(ms(arg ?? '', 'delay')); out({ event: 'delay', delayMs: Number(arg) }); break;
        case 'drop': out({ event: 'drop', mappings: proxy.dropLink() }); break;
        case 'reset': out({ event: 'reset', mappings: proxy.resetAll() }); break;
        case 'offline': proxy.setOffline(true); out({ event: 'offline' }); break;
        case 'online': proxy.setOffline(false); out({ event: 'online' }); break;
        case 'stats': out({ event: 'stats', stats: proxy.stats, mappings: proxy.mappings() }); break;
        case '': case undefined: break;
        default: out({ event: 'error', message: `unknown command "${cmd}" (timeout, delay, drop, reset, offline, online, stats)` });
      }
    } catch (err) {
      out({ event: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  });
  const stop = (): void => { void proxy.close().then(() => process.exit(0)); };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  console.error(USAGE);
  process.exit(1);
});
