/**
 * Talking to forked load workers over IPC: the next message of a type (the
 * `ready` a worker sends once its clients are up), and a request with its
 * reply. Every worker answers `{cmd}` messages with `{type}` ones.
 */
import type { ChildProcess } from 'node:child_process';

/** The next message of `type` from `w`; with `timeoutMs`, rejects if none comes in time. */
export function nextMessage<T = { type: string }>(w: ChildProcess, type: string, timeoutMs?: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = timeoutMs === undefined ? undefined
      : setTimeout(() => { w.off('message', on); reject(new Error(`worker ${w.pid}: no ${type} reply`)); }, timeoutMs);
    const on = (m: { type: string }): void => { if (m.type === type) { clearTimeout(timer); w.off('message', on); resolve(m as T); } };
    w.on('message', on);
  });
}

/** Sends `msg` (unless empty) and waits for the reply of `type`. */
export function ask<T>(w: ChildProcess, msg: object, type: string, timeoutMs = 10_000): Promise<T> {
  const reply = nextMessage<T>(w, type, timeoutMs);
  if (Object.keys(msg).length > 0) w.send(msg);
  return reply;
}
