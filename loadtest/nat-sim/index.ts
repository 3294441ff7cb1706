/** NAT-timeout simulator library: see nat-proxy.ts and docs/nat-simulator.md. */
export { NatProxy } from './nat-proxy.js';
export type { MappingInfo, MappingState, NatEvent, NatProxyOptions, NatStats } from './nat-proxy.js';
