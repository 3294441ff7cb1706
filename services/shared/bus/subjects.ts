/**
 * Every bus subject Longlink uses, under one configurable prefix.
 *
 * | subject                         | from → to             | payload                         |
 * |---------------------------------|-----------------------|---------------------------------|
 * | P.presence                      | gateway → routers     | PresenceEvent                   |
 * | P.beacon                        | gateway → routers     | GatewayBeacon                   |
 * | P.gw.<gateway>.deliver          | router → one gateway  | { deliveries: Delivery[] }      |
 * | P.gw.<gateway>.control          | router → one gateway  | ControlCommand                  |
 * | P.acks                          | gateway → routers     | { acks: [user, device, seq][] } |
 * | P.resume (queue: routers)       | gateway → a router    | ResumeRequest → ResumeReply     |
 * | P.fetch (queue: routers)        | gateway → a router    | FetchRequest → FetchReply       |
 * | P.push (queue: routers)         | backend → a router    | push request → push result      |
 * | P.upstream.<topic>              | gateway → backends    | UpstreamMessage                 |
 * | P.offline                       | router → notifiers    | pushes for offline users        |
 * | P.receipts.<router>             | gateway → one router  | delivery receipt (await_ms)     |
 * | P.acked                         | router → backends, routers | AckEvent: a device acked a push |
 * | P.ackwant                       | router → routers      | AckInterest: publish ack receipts (await mode) |
 * | P.sync                          | router → gateways     | re-announce your connections (SyncRequest; empty: all) |
 * | P.ch.<channel>                  | router → gateways with subscribers | ChannelMessage or its frame (channel-layout.ts) |
 * | P.chhistory (queue: routers)    | gateway → a router    | ChannelHistoryRequest → Reply   |
 * | P.publish (queue: routers)      | backend → a router    | publish body → publish result   |
 * | P.chcount                       | router → gateways     | ChannelCountRequest             |
 * | P.chcounts.<router>             | gateway → one router  | ChannelCountReply               |
 * | P.chpresence.<channel>          | gateway → backends    | ChannelPresenceEvent (opt-in)   |
 * | P.choccupancy (queue: routers)  | gateway → a router    | ChannelOccupancyEvent           |
 */
export interface Subjects {
  readonly presence: string;
  readonly beacon: string;
  deliver(gateway: string): string;
  control(gateway: string): string;
  readonly acks: string;
  readonly resume: string;
  /** Replay pages and delivery gap repair: pushes after a seq, nothing else. */
  readonly fetch: string;
  readonly push: string;
  upstream(topic: string): string;
  readonly offline: string;
  receipts(router: string): string;
  /** Ack receipts (AckEvent), for backends and for routers awaiting `acked`. */
  readonly acked: string;
  /** LONGLINK_ACK_RECEIPTS=await: a router awaits ack receipts for a while (AckInterest). */
  readonly ackInterest: string;
  readonly sync: string;
  /** Channel fan-out; gateways subscribe only while they have local subscribers. */
  channel(name: string): string;
  readonly channelHistory: string;
  readonly publish: string;
  readonly channelCount: string;
  channelCounts(router: string): string;
  channelPresence(channel: string): string;
  /** A gateway's first local subscriber of a channel joined, or its last one left (webhooks' channel.occupied / vacated). */
  readonly channelOccupancy: string;
}

export const ROUTER_QUEUE = 'routers';

export function subjects(prefix = 'longlink'): Subjects {
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(prefix)) throw new RangeError(`invalid subject prefix "${prefix}"`);
  return Object.freeze({
    presence: `${prefix}.presence`,
    beacon: `${prefix}.beacon`,
    deliver: (gw: string) => `${prefix}.gw.${gw}.deliver`,
    control: (gw: string) => `${prefix}.gw.${gw}.control`,
    acks: `${prefix}.acks`,
    resume: `${prefix}.resume`,
    fetch: `${prefix}.fetch`,
    push: `${prefix}.push`,
    upstream: (topic: string) => `${prefix}.upstream.${topic}`,
    offline: `${prefix}.offline`,
    receipts: (router: string) => `${prefix}.receipts.${router}`,
    acked: `${prefix}.acked`,
    ackInterest: `${prefix}.ackwant`,
    sync: `${prefix}.sync`,
    channel: (name: string) => `${prefix}.ch.${name}`,
    channelHistory: `${prefix}.chhistory`,
    publish: `${prefix}.publish`,
    channelCount: `${prefix}.chcount`,
    channelCounts: (router: string) => `${prefix}.chcounts.${router}`,
    channelPresence: (channel: string) => `${prefix}.chpresence.${channel}`,
    channelOccupancy: `${prefix}.choccupancy`,
  });
}
