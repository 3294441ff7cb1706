/** Shared by the timing-wheel tests: a plain node type, an 8-slot wheel, and a tick-by-tick driver. */
import { TimingWheel } from '../../services/gateway/core/timing-wheel.js';
import type { WheelNode, TimingWheelOptions } from '../../services/gateway/core/timing-wheel.js';

export class TNode implements WheelNode {
  deadline = 0;
  wheelPrev: WheelNode | null = null;
  wheelNext: WheelNode | null = null;
  wheelSlot = -1;
  constructor(readonly id: number) {}
}

export const START = 1_000;
export const TICK = 10;

export function wheel(opts: Partial<TimingWheelOptions> = {}): TimingWheel<TNode> {
  return new TimingWheel<TNode>({ tickMs: TICK, wheelSize: 8, startMs: START, ...opts });
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
