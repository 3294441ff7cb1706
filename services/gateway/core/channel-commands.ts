/**
 * API subscribe/unsubscribe commands (ControlCommand) that cannot be applied
 * to a connection yet: its session is starting (held until start()), or its
 * `recover` frame is awaited (folded into the channels it will join then, so
 * a channel the client has a position for recovers). One rule for both: a
 * subscribe adds, an unsubscribe removes, in arrival order; the broadcast
 * channel is never removed.
 */
import { BROADCAST_CHANNEL } from '../../../protocol/index.js';
import type { ChannelConn, ChannelHub } from './channels.js';

export interface ChannelCommand {
  subscribe: boolean;
  channels: readonly string[];
}

/** Commands held per starting connection; more are not applied (the API counts the connection as not reached). */
export const MAX_PENDING_CONTROL = 32;

/** Applies `cmd` to a set of channels still to be joined. */
export function foldCommand(into: Set<string>, cmd: ChannelCommand): Set<string> {
  for (const ch of cmd.channels) {
    if (cmd.subscribe) into.add(ch);
    else if (ch !== BROADCAST_CHANNEL) into.delete(ch);
  }
  return into;
}

/**
 * A command from the API for one connection. False when it does not reach it (closed, no channel frames, or too
 * many held while starting).
 */
export function applyCommand<C extends ChannelConn>(hub: Pick<ChannelHub<C>, 'join' | 'leave'>, c: C, cmd: ChannelCommand): boolean {
  if (c.closed) return false;
  if (c.channels === null) {
    if (c.pendingControl === null || c.pendingControl.length >= MAX_PENDING_CONTROL) return false;
    c.pendingControl.push(cmd);
    return true;
  }
  const waiting = c.awaitingRecover;
  if (waiting !== null) {
    // Still waiting for the recover frame: joined (or not) with the others when it comes.
    waiting.channels = [...foldCommand(new Set(waiting.channels), cmd)];
    if (cmd.subscribe) return true;
  }
  for (const name of cmd.channels) {
    if (cmd.subscribe) void hub.join(c, name);
    else hub.leave(c, name, true);
  }
  return true;
}
