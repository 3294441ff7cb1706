/**
 * RouterCore over the in-memory bus and stores, for the router's unit tests:
 * a router per test, fake gateways that speak for themselves on the bus.
 */
import { MemoryBus } from '../../services/shared/bus/memory-bus.js';
import { decodeMsg, encodeMsg } from '../../services/shared/bus/bus.js';
import { subjects as makeSubjects, type Subjects } from '../../services/shared/bus/subjects.js';
import { ManualClock } from '../../services/shared/clock.js';
import type { ControlCommand, Delivery, FetchReply, FetchRequest, ResumeReply, ResumeRequest } from '../../services/gateway/core/ports.js';
import { MemoryInbox } from '../../services/router/stores/memory/inbox.js';
import { MemorySessions } from '../../services/router/stores/memory/sessions.js';
import { MemoryPresence } from '../../services/router/stores/memory/presence.js';
import type { Inbox } from '../../services/router/core/inbox.js';
import type { Presence } from '../../services/router/core/presence.js';
import type { Sessions } from '../../services/router/core/sessions.js';
import { Router } from '../../services/router/app.js';
import type { RouterCore, RouterCoreOptions } from '../../services/router/core/router-core.js';
import { silent } from './log.js';


/** Subscribes to one gateway's deliver and control subjects, and speaks for it on the bus. */
export class FakeGateway {
  readonly messages: Delivery[][] = [];
  readonly controls: ControlCommand[] = [];
  constructor(private readonly bus: MemoryBus, private readonly s: Subjects, readonly id: string) {
    bus.subscribe(s.deliver(id), (m) => this.messages.push(decodeMsg<{ deliveries: Delivery[] }>(m.data)!.deliveries));
    bus.subscribe(s.control(id), (m) => this.controls.push(decodeMsg<ControlCommand>(m.data)!));
  }
  beacon(boot = 'boot-1', connections = 0): void {
    this.bus.publish(this.s.beacon, encodeMsg({ gateway: this.id, boot, connections, draining: false, at: 1 }));
  }
  presence(type: 'online' | 'offline', user: string, device: string, conn: string, session = 's'): void {
    this.bus.publish(this.s.presence, encodeMsg({ type, user, device, conn, session, gateway: this.id, at: 1 }));
  }
  /** Every push this gateway was sent, flattened: "user:seq". */
  pushes(): string[] {
    return this.messages.flat().flatMap((d) => d.pushes.map((p) => `${d.user}:${p.seq}`));
  }
}

export interface Setup {
  clock: ManualClock;
  bus: MemoryBus;
  s: Subjects;
  inbox: Inbox;
  sessions: Sessions;
  presence: Presence;
  router: Router;
  core: RouterCore;
  gw(id: string): FakeGateway;
  settle(): Promise<void>;
}

const running: Router[] = [];
/** Stops every router set up so far: call from afterEach. */
export function stopRouters(): void { for (const c of running.splice(0)) c.stop(); }

export function setup(o: { options?: Partial<RouterCoreOptions>; inbox?: (i: Inbox) => Inbox; presence?: (p: Presence) => Presence; sessions?: (s: Sessions) => Sessions } = {}): Setup {
  const clock = new ManualClock(1000);
  const bus = new MemoryBus();
  const s = makeSubjects('t');
  const baseInbox = new MemoryInbox({ clock, maxLen: 100 });
  const inbox = o.inbox ? o.inbox(baseInbox) : baseInbox;
  const baseSessions = new MemorySessions({ clock });
  const sessions = o.sessions ? o.sessions(baseSessions) : baseSessions;
  const basePresence = new MemoryPresence({ clock, leaseMs: 10_000 });
  const presence = o.presence ? o.presence(basePresence) : basePresence;
  const router = new Router({ bus, subjects: s, stores: { inbox, sessions, presence }, clock, log: silent, ...(o.options ? { options: o.options } : {}) });
  router.start();
  running.push(router);
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 3; i++) await bus.flush();
  };
  return { clock, bus, s, inbox, sessions, presence, router, core: router.core, gw: (id) => new FakeGateway(bus, s, id), settle };
}

export async function resume(t: Setup, req: Partial<ResumeRequest> & { user: string; device: string }): Promise<ResumeReply> {
  const m = await t.bus.request(t.s.resume, encodeMsg({ gateway: 'gwX', conn: 'cX', ...req }), { timeoutMs: 1000 });
  return decodeMsg<ResumeReply>(m.data)!;
}

/** A gateway's fetch request (replay page, gap repair) over the bus. */
export async function fetchAfter(t: Setup, req: FetchRequest): Promise<FetchReply> {
  const m = await t.bus.request(t.s.fetch, encodeMsg(req), { timeoutMs: 1000 });
  return decodeMsg<FetchReply>(m.data)!;
}

/** A router with gateway A registered (no connections), and the sync requests it publishes. */
export function withGatewayA(): { t: Setup; syncs: unknown[]; a: FakeGateway } {
  const t = setup();
  const syncs: unknown[] = [];
  t.bus.subscribe(t.s.sync, (m) => syncs.push(decodeMsg<unknown>(m.data)));
  const a = t.gw('A');
  a.beacon('boot-a', 0);
  return { t, syncs, a };
}
