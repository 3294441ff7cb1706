import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Errors, LonglinkError, errorBody, statusLine } from '../../services/shared/errors.js';

describe('error catalogue', () => {
  const specs = Object.values(Errors);
  it('every code is unique, prefixed and has a message and status', () => {
    const codes = specs.map((s) => s.code);
    assert.equal(new Set(codes).size, codes.length, 'duplicate error code');
    for (const s of specs) {
      assert.match(s.code, /^LL_[A-Z_]+$/);
      assert.ok(s.message.length > 5);
      assert.ok(s.status >= 400 && s.status < 600);
    }
  });
  it('every code is documented in docs/errors.md, and the doc lists no unknown code', () => {
    const doc = readFileSync('docs/errors.md', 'utf8');
    const documented = [...doc.matchAll(/^\| `(LL_[A-Z_]+)` \| ([^|]+) \|/gm)].map((m) => [m[1]!, m[2]!.trim()] as const);
    assert.deepEqual(documented.map(([c]) => c).sort(), specs.map((s) => s.code).sort());
    for (const [code, status] of documented) {
      const s = specs.find((x) => x.code === code)!;
      if (status !== '—') assert.equal(Number(status), s.status, `${code} status in docs`);
    }
  });
  it('every catalogue status has its reason phrase in the one status-line table; an error keeps its catalogue entry', () => {
    for (const s of specs) assert.match(statusLine(s.status), /^\d{3} [A-Z][A-Za-z ]+$/, `${s.code}: ${statusLine(s.status)}`);
    assert.equal(statusLine(413), '413 Content Too Large', 'not "400 Bad Request" (what every status but 401/404/503 used to get)');
    assert.equal(statusLine(415), '415 Unsupported Media Type');
    assert.equal(statusLine(599), '599 ', 'unknown: empty reason phrase, still a valid status line');
    const e = new LonglinkError(Errors.AUTH_KEYS_UNAVAILABLE, 'x');
    assert.equal(e.spec, Errors.AUTH_KEYS_UNAVAILABLE);
  });

  it('errors serialise to the documented body shape', () => {
    assert.deepEqual(JSON.parse(errorBody(Errors.API_VALIDATION, 'users: required')), { error: { code: 'LL_API_VALIDATION', message: 'Request body failed validation: users: required' } });
    // errorBody builds no Error (a refusal flood would pay a stack trace each) but says exactly what toJSON says.
    for (const spec of Object.values(Errors)) {
      for (const detail of [undefined, '', 'a "quoted" detail']) {
        assert.equal(errorBody(spec, detail), JSON.stringify(new LonglinkError(spec, detail).toJSON()), `${spec.code} ${String(detail)}`);
      }
    }
    assert.equal(errorBody(Errors.ADMISSION_STARTING), errorBody(Errors.ADMISSION_STARTING), 'the cached body is stable');
    const e = new LonglinkError(Errors.DRAINING);
    assert.equal(e.status, 503);
    assert.ok(e instanceof Error);
  });
});
