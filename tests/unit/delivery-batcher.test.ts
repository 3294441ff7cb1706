/**
 * The router's delivery batcher (services/router/core/delivery-batcher.ts):
 * a turn's deliveries to one gateway are split so that no bus message, as
 * encoded, exceeds maxBytes, whatever the characters of the data.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DeliveryBatcher } from '../../services/router/core/delivery-batcher.js';
import { encodeMsg } from '../../services/shared/bus/bus.js';
import type { Delivery } from '../../services/shared/bus/messages.js';

function run(data: string, users: number, maxBytes: number): number[] {
  const sizes: number[] = [];
  let flush: (() => void) | undefined;
  const b = new DeliveryBatcher({ maxBytes, publish: (_gw, ds: Delivery[]) => { sizes.push(encodeMsg(ds).length); }, schedule: (f) => { flush = f; } });
  for (let i = 0; i < users; i++) b.add('gw1', `user-${i}`, { seq: i + 1, id: `m-${i}`, ts: 1, data }, undefined);
  flush?.();
  return sizes;
}

describe('DeliveryBatcher', () => {
  it('no bus message exceeds maxBytes as encoded: CJK text (3 bytes a character) and quotes (escaped to 2)', () => {
    const maxBytes = 64 * 1024;
    for (const data of [JSON.stringify('漢字かな'.repeat(400)), JSON.stringify('"\\'.repeat(800)), JSON.stringify({ a: 'ascii'.repeat(300) })]) {
      const sizes = run(data, 300, maxBytes);
      assert.ok(sizes.length > 1, 'split');
      for (const n of sizes) assert.ok(n <= maxBytes, `a bus message of ${n} bytes > ${maxBytes} (data ${data.slice(0, 12)}…)`);
    }
  });

  it('one turn of small pushes to a gateway still shares a message', () => {
    assert.deepEqual(run('1', 50, 64 * 1024).length, 1);
  });
});
