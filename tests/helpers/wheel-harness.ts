/** Shared by the timing-wheel tests: a plain node type, a deadline-recording 8-slot wheel, and a tick-by-tick driver. */
import { TimingWheel } from '../../services/gateway/core/timing-wheel.js';
import type { WheelNode, TimingWheelOptions } from '../../services/gateway/core/timing-wheel.js';

export class TNode implements WheelNode {
  wheelId = -1;
  /** Last deadline the wheel accepted for this node (recorded by the harness: it stays readable after expiry). */
  deadline = Number.NaN;
  constructor(readonly id: number) {}
}

/** A wheel that also records each accepted deadline on the node, so tests can check expiry times against it. */
export class RecordingWheel extends TimingWheel<TNode> {
  override schedule(node: TNode, deadline: number): void {
    super.schedule(node, deadline);
    node.deadline = deadline;
  }

  override touch(node: TNode, deadline: number): void {
    super.touch(node, deadline);
    if (node.wheelId !== -1) node.deadline = deadline;
  }
}

export const START = 1_000;
export const TICK = 10;

export function wheel(opts: Partial<TimingWheelOptions> = {}): RecordingWheel {
  return new RecordingWheel({ tickMs: TICK, wheelSize: 8, startMs: START, ...opts });
}

/** Advance boundary by boundary from `from` to `to`, recording when each node fired. */
export function driveTicks(w: TimingWheel<TNode>, from: number, to: number, fired: Map<TNode, number[]>): void {
  for (let now = from; now <= to; now += TICK) {
    w.advance(now, (n) => {
      const list = fired.get(n);
      if (list) list.push(now);
      else fired.set(n, [now]);
    });
  }
}
