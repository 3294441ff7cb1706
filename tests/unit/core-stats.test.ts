/** The core's counters (options.ts newStats): the totals' getters, and the object's shape on the heartbeat path. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { newStats } from '../../services/gateway/core/options.js';

describe('core stats', () => {
  it('the totals add the bare heartbeats to the other frames', () => {
    const s = newStats();
    s.bareHeartbeats += 3;
    s.heartbeatsOther += 1;
    s.framesInOther += 2;
    s.framesOutOther += 4;
    s.bytesInOther += 10;
    s.bytesOutOther += 20;
    assert.deepEqual([s.heartbeats, s.framesIn, s.framesOut, s.bytesIn, s.bytesOut], [4, 5, 7, 13, 23]);
  });

  it('keeps fast (non-dictionary) properties, so a bare heartbeat\'s counter bump is an in-object store', () => {
    // %HasFastProperties needs --allow-natives-syntax, so it runs in a child process.
    const url = new URL('../../services/gateway/core/options.js', import.meta.url).href;
    const src = `import { newStats } from ${JSON.stringify(url)};
      const s = newStats();
      for (let i = 0; i < 3; i++) { s.bareHeartbeats++; s.framesInOther++; s.bytesInOther += 2; }
      process.stdout.write(String(%HasFastProperties(s)));`;
    const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', src], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'true');
  });
});
