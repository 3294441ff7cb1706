/**
 * The C1M bench (`npm run bench:c1m`) scaled down to 6,000 connections
 * (3 gateways, 2 client processes, kernel settings untouched): every client
 * connects, none times out spuriously, every push arrives, and a drained
 * gateway's clients all come back on the others with their sessions resumed.
 * Plus its pure pieces: the kernel settings it plans, the /proc parsers, the
 * limit verdict, and the raw client's frames.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { kernelPerSocket, parseMeminfo, parseSlabinfo, parseSockstat, plannedSysctls, restoreScript, type KernelSnap } from '../../loadtest/bench/c1m-system.js';
import { limitVerdict } from '../../loadtest/bench/c1m-report.js';
import { clientFrame } from '../../loadtest/lib/raw-driver.js';
import { mintTokenSync } from '../../loadtest/lib/fast-token.js';
import { mintToken } from '../../services/standalone/dev-token.js';
import { jwtVerify } from 'jose';

describe('bench:c1m pieces', () => {
  it('plans only raises, sized for the sockets; conntrack only when it tracks something', () => {
    const cur: Record<string, string> = {
      'fs.file-max': '2466239', 'net.ipv4.ip_local_port_range': '32768 60999', 'net.core.somaxconn': '4096', 'net.ipv4.tcp_max_syn_backlog': '2048',
      'net.core.netdev_max_backlog': '1000', 'net.ipv4.tcp_mem': '287907 383877 575814', 'net.netfilter.nf_conntrack_count': '0', 'net.netfilter.nf_conntrack_max': '262144',
    };
    const p = plannedSysctls(2_000_000, 24 * 2 ** 30, (k) => cur[k]);
    const to = Object.fromEntries(p.map((c) => [c.key, c.to]));
    assert.equal(to['fs.file-max'], '4194304');
    assert.equal(to['net.ipv4.ip_local_port_range'], '1024 65535');
    assert.equal(to['net.ipv4.tcp_mem']!.split(' ')[2], String(24 * 2 ** 30 / 4096 / 2));
    assert.equal(to['net.netfilter.nf_conntrack_max'], undefined, 'conntrack not in the path');
    assert.equal(plannedSysctls(2_000_000, 24 * 2 ** 30, (k) => ({ ...cur, 'net.netfilter.nf_conntrack_count': '12' })[k])
      .find((c) => c.key === 'net.netfilter.nf_conntrack_max')?.to, '1200000');
    assert.deepEqual(plannedSysctls(10, 24 * 2 ** 30, (k) => ({ ...cur, 'fs.file-max': '9999999', 'net.ipv4.ip_local_port_range': '1024 65535', 'net.core.somaxconn': '65535',
      'net.ipv4.tcp_max_syn_backlog': '65535', 'net.core.netdev_max_backlog': '65536', 'net.ipv4.tcp_mem': '1 2 99999999' })[k]), [], 'nothing to raise');
    assert.match(restoreScript(p), /^#!\/bin\/sh\n(sysctl -q -w [\w.-]+='[\d ]+'\n)+$/);
    assert.equal(plannedSysctls(2_000_000, 24 * 2 ** 30, (k) => cur[k], { bindBeforeConnect: false }).find((c) => c.key === 'net.ipv4.ip_local_port_range'), undefined,
      'the native client defers the port to connect(): the range is per destination');
  });

  it('parses meminfo, sockstat and slabinfo; kernel bytes per socket', () => {
    assert.equal(parseMeminfo('MemAvailable:   1000 kB\nHugePages_Total:       0\n').MemAvailable, 1024_000);
    const ss = parseSockstat('sockets: used 33\nTCP: inuse 11 orphan 0 tw 2 alloc 14 mem 158\nUDP: inuse 0 mem 0\n');
    assert.deepEqual(ss, { used: 33, tcp: { inuse: 11, orphan: 0, tw: 2, alloc: 14, mem: 158 } });
    const slab = parseSlabinfo('slabinfo - version: 2.1\n# name <active_objs> ...\nTCP                  100    120   2432   13    8 : tunables 0 0 0 : slabdata 9 9 0\n');
    assert.deepEqual(slab, { TCP: 243_200 });
    const snap = (inuse: number, slabB: number, tcp: number): KernelSnap => ({ memAvailable: 0, memFree: 0, slab: slabB, sUnreclaim: slabB / 2, tcpInuse: inuse, tcpOrphan: 0, tcpTw: 0,
      tcpAlloc: inuse, tcpMemPages: 0, socketsUsed: inuse, fileHandles: 0, slabs: { TCP: tcp, proc_inode_cache: tcp / 4 }, conntrack: 0 });
    const k = kernelPerSocket(snap(10, 1e6, 0), snap(1010, 1e6 + 4e6, 2.4e6));
    assert.equal(k.sockets, 1000);
    assert.equal(k.slab_bytes_per_socket, 4000);
    assert.equal(k.top_slabs_bytes_per_socket.TCP, 2400);
    assert.equal(k.socket_caches_bytes_per_socket, 2400, 'socket caches only');
  });

  it('names what limited a run', () => {
    const base = { target: 100, reached: 100, rampStop: 'all connections open', errors: {}, statuses: {}, memAvailableMinMb: 900, busyPctRamp: 99 };
    assert.match(limitVerdict(base), /^none: all 100 connections held; least headroom: memory \(900 MB/);
    assert.match(limitVerdict({ ...base, reached: 80, rampStop: 'memory: MemAvailable 1100 MB < --mem-floor-mb 1200' }), /^memory: /);
    assert.match(limitVerdict({ ...base, reached: 80, rampStop: 'stalled: no new connection for 90 s', errors: { EADDRNOTAVAIL: 5 } }), /^ephemeral ports/);
    assert.match(limitVerdict({ ...base, reached: 80, rampStop: 'time: ramp budget of 900 s used up' }), /^CPU\/time: /);
  });

  it('raw client frames are masked RFC 6455 frames; fast tokens verify like jose ones', async () => {
    const f = clientFrame(0x2, new Uint8Array([1, 2, 3]));
    assert.equal(f[0], 0x82);
    assert.equal(f[1], 0x80 | 3);
    assert.deepEqual([...f.subarray(6)].map((b, i) => b ^ f[2 + i]!), [1, 2, 3]);
    const big = clientFrame(0x1, new Uint8Array(300));
    assert.equal(big[1], 0x80 | 126);
    assert.equal(big.readUInt16BE(2), 300);
    const secret = 'cluster-secret-0123456789-0123456789-abcd';
    const key = new TextEncoder().encode(secret);
    const a = await jwtVerify(mintTokenSync(secret, 'alice', 60), key);
    const b = await jwtVerify(await mintToken(secret, 'alice', { ttlSeconds: 60 }), key);
    assert.deepEqual(Object.keys(a.payload).sort(), Object.keys(b.payload).sort());
    assert.equal(a.payload.sub, 'alice');
    assert.deepEqual(a.protectedHeader, b.protectedHeader);
  });
});

describe('bench:c1m scaled down', () => {
  it('6,000 connections: all held, 0 spurious timeouts, pushes sent == received, a drained gateway\'s clients all resume elsewhere', { timeout: 150_000 }, async () => {
    const child = spawn(process.execPath, ['dist/loadtest/bench/c1m.js', '--connections', '6000', '--per-gateway', '2000', '--per-worker', '3000', '--per-source', '1500',
      '--hb', '5000', '--ramp-rate', '1000', '--hold', '15', '--push-rate', '20', '--drain-window', '3000', '--sample-ms', '1000', '--sweep-ms', '200',
      '--sysctl', 'off'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    assert.equal(code, 0, `exit ${code}\n${err.slice(-3000)}\n${out.slice(-3000)}`);
    const s = (JSON.parse(out.trim().split('\n').at(-1)!) as { summary: Record<string, any> }).summary; // eslint-disable-line @typescript-eslint/no-explicit-any
    const ctx = JSON.stringify(s);
    assert.equal(s.gateways, 3);
    assert.equal(s.reached, 6000, ctx);
    assert.equal(s.held_min, 6000, ctx);
    assert.equal(s.spurious_timeouts, 0, ctx);
    assert.equal(s.unexpected_closes_before_drain, 0, ctx);
    assert.ok(s.heartbeat_acks > 6000, ctx);
    assert.ok(s.pushes.sent + s.pushes.offline > 100, ctx);
    assert.equal(s.pushes.errors, 0, ctx);
    assert.equal(s.pushes.received, s.pushes.expected, ctx);
    assert.equal(s.drain.all_back_s > 0, true, ctx);
    assert.equal(s.drain.resumed, s.drain.connections_moved, ctx);
    assert.equal(s.drain.open_after, 6000, ctx);
    assert.ok(s.memory.redis_used_bytes_per_conn > 0 && s.cpu.router_us_per_session_start > 0, ctx);
    assert.equal(s.verdict, 'pass', ctx);
  });
});
