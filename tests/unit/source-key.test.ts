/**
 * Source keys for the per-source connect budget (services/gateway/core/source-key.ts):
 * IPv4 as itself, IPv4-mapped IPv6 as the IPv4 address, IPv6 by /64 in any textual form,
 * and a client rotating addresses inside its /64 drawing on one bucket.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sourceKey } from '../../services/gateway/core/source-key.js';
import { SourceBudget } from '../../services/gateway/core/source-budget.js';

describe('sourceKey', () => {
  it('reads the forms uWS and proxies give', () => {
    const cases: Array<[string, string]> = [
      ['192.0.2.7', '192.0.2.7'],
      ['0000:0000:0000:0000:0000:ffff:7f00:0001', '127.0.0.1'], // uWS, IPv4 peer on a dual-stack socket
      ['::ffff:198.51.100.9', '198.51.100.9'],
      ['0000:0000:0000:0000:0000:0000:0000:0001', '0:0:0:0::/64'], // uWS, ::1
      ['::1', '0:0:0:0::/64'],
      ['2001:db8:aa:bb:1:2:3:4', '2001:db8:aa:bb::/64'],
      ['2001:0DB8:00aa:00bb:ffff::9', '2001:db8:aa:bb::/64'],
      ['2001:db8:aa:bb::', '2001:db8:aa:bb::/64'],
      ['[2001:db8:aa:bb::5]', '2001:db8:aa:bb::/64'],
      ['fe80::1%eth0', 'fe80:0:0:0::/64'],
      ['2001:db8::', '2001:db8:0:0::/64'],
    ];
    for (const [addr, key] of cases) assert.equal(sourceKey(addr), key, addr);
  });

  it('leaves what is not an IPv6 address as it is', () => {
    for (const odd of ['unknown', '2001:db8:::1', '1:2:3:4:5:6:7:8:9', 'zz::1', '::ffff:1.2.3.999', '1:2:3:4:5:6:7']) assert.equal(sourceKey(odd), odd);
  });
});

describe('SourceBudget over IPv6', () => {
  it('a client rotating addresses inside its /64 spends one bucket; another /64 has its own', () => {
    const b = new SourceBudget({ ratePerSec: 1, burst: 3, maxSources: 100 });
    const refusedAt = [1, 2, 3, 4, 5].map((i) => b.take(`2001:db8:aa:bb::${i.toString(16)}`, 0));
    assert.deepEqual(refusedAt.map((s) => s > 0), [false, false, false, true, true]);
    assert.equal(b.sources, 1);
    assert.equal(b.take('2001:db8:aa:cc::1', 0), 0, 'the next /64 is another subscriber');
    assert.equal(b.take('0000:0000:0000:0000:0000:ffff:c000:0207', 0), 0);
    assert.equal(b.take('192.0.2.7', 0), 0, 'the IPv4-mapped form and the plain IPv4 share a bucket');
    assert.equal(b.sources, 3);
  });
});
