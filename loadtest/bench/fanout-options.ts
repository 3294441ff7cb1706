/**
 * bench:fanout's flags, checked once (fanout.ts has what each phase does).
 *
 * Defaults are a scaled-down run: --subscribers 2000 --gateways 2
 * --workers 2 --publishes 20 --interval 200 --push-batch 1000
 * --concurrency 50 --bare <subscribers, at most 18,000> --channels <S/size> --channel-size 100
 * --sustain-rate 100000 --sustain-seconds 10 --lat-rate 2000 --lat-size 100
 * --lat-seconds 5 --client lean. --channels 0 / --lat-rate 0 / --bare 0 skip a phase.
 * --client ws: the clients decode every frame with the `ws` library and the
 * protocol decoder (the bench's client before the lean one, fanout-receipts.ts).
 * --cpu-prof DIR writes the router's V8 CPU profile there (at the end).
 * --perf DIR samples gateway 0 (and the bare server) with Linux perf.
 * --root DIR: run the cluster (router, gateways) from DIR's dist/ (an older build) with this checkout's
 * clients and publisher, so two builds are compared with the same load generator.
 * --channel-layout record|frame: the routers' LONGLINK_CHANNEL_BUS_LAYOUT (docs/protocol.md §13.6); default
 * the routers' own default (record).
 */
import { benchArgs } from '../lib/cli-args.js';
import type { ChannelGroup } from './fanout-worker.js';

export const { values: o } = benchArgs('bench:fanout', { options: {
  subscribers: { type: 'string', default: '2000' }, gateways: { type: 'string', default: '2' }, workers: { type: 'string', default: '2' },
  publishes: { type: 'string', default: '20' }, interval: { type: 'string', default: '200' }, 'push-batch': { type: 'string', default: '1000' },
  concurrency: { type: 'string', default: '50' }, bare: { type: 'string', default: '-1' },
  channels: { type: 'string', default: '-1' }, 'channel-size': { type: 'string', default: '100' },
  'sustain-rate': { type: 'string', default: '100000' }, 'sustain-seconds': { type: 'string', default: '10' },
  'lat-rate': { type: 'string', default: '2000' }, 'lat-size': { type: 'string', default: '100' }, 'lat-seconds': { type: 'string', default: '5' },
  perf: { type: 'string' }, client: { type: 'string', default: 'lean' }, 'cpu-prof': { type: 'string' }, 'push-rounds': { type: 'string', default: '-1' },
  'channel-layout': { type: 'string' }, root: { type: 'string' },
} });
export const S = Number(o.subscribers), G = Number(o.gateways), W = Number(o.workers), P = Number(o.publishes), INTERVAL = Number(o.interval);
/** Rounds of the push phase (default: as many as publishes); at full size each round is S pushes, minutes on this box. */
export const PUSH_ROUNDS = Number(o['push-rounds']) < 0 ? P : Number(o['push-rounds']);
/** Sockets one process may hold: every process here is under a 20,000 open files limit (bench:c1m says the same). */
export const FD_ROOM = 19_500;
/** The bare server holds all its sockets in one process: the same count as the subscribers, up to what one process may open. */
export const BARE = Number(o.bare) < 0 ? Math.min(S, 18_000) : Number(o.bare);
if (BARE > FD_ROOM - 500) throw new Error(`--bare ${BARE}: one process holds them all; at most ${FD_ROOM - 500}`);
if (Math.ceil(S / G) > FD_ROOM) throw new Error(`${Math.ceil(S / G)} subscribers per gateway: at most ${FD_ROOM} (add --gateways)`);
if (Math.ceil(S / W) + Math.ceil(BARE / W) > FD_ROOM) throw new Error(`${Math.ceil(S / W) + Math.ceil(BARE / W)} sockets per worker: at most ${FD_ROOM} (add --workers)`);
export const SIZE = Number(o['channel-size']), LAT_SIZE = Number(o['lat-size']), LAT_RATE = Number(o['lat-rate']);
export const NCH = Number(o.channels) < 0 ? Math.floor(S / SIZE) : Number(o.channels);
export const LAT_CH = LAT_RATE > 0 ? Math.floor(S / LAT_SIZE) : 0;
if (NCH * SIZE > S) throw new Error(`--channels ${NCH} × --channel-size ${SIZE} is more than ${S} subscribers`);
export const CHANNEL = 'bench:fanout';
export const SUSTAIN: ChannelGroup = { prefix: 'bench:s', size: SIZE, count: NCH };
export const LATENCY: ChannelGroup = { prefix: 'bench:l', size: LAT_SIZE, count: LAT_CH };
/** The clients' receive path (fanout-receipts.ts). */
export const CLIENT = o.client === 'ws' ? 'ws' : 'lean';
if (o.client !== 'ws' && o.client !== 'lean') throw new Error(`--client ${o.client}: lean or ws`);
/** The routers' channel bus layout; undefined: their default. */
export const LAYOUT = o['channel-layout'];
if (LAYOUT !== undefined && LAYOUT !== 'record' && LAYOUT !== 'frame') throw new Error(`--channel-layout ${LAYOUT}: record or frame`);
