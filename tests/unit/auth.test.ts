/**
 * The synchronous verifier against tokens signed by jose (an independent
 * implementation), for every supported key type, plus the attacks a JWT
 * verifier must refuse.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { SignJWT, exportJWK } from 'jose';
import { createAuthenticator, type Authenticator } from '../../services/gateway/auth.js';
import { LonglinkError } from '../../services/shared/errors.js';

const SECRET = 's'.repeat(40);
const now = () => Math.floor(Date.now() / 1000);

function sign(alg: string, key: KeyObject | Uint8Array, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ sub: 'alice', exp: now() + 600, ...claims }).setProtectedHeader({ alg, ...header }).sign(key);
}

function code(fn: () => unknown): string {
  try { fn(); } catch (err) { if (err instanceof LonglinkError) return err.code; throw err; }
  return 'OK';
}

describe('JWT verification', () => {
  const hs = createAuthenticator({ secret: SECRET, algorithms: [] });
  const secretKey = new TextEncoder().encode(SECRET);

  it('accepts HS256 tokens from jose and returns user, device and expiry', async () => {
    const exp = now() + 300;
    const v = hs.verify(await sign('HS256', secretKey, { did: 'phone-1', exp }));
    assert.deepEqual(v, { user: 'alice', device: 'phone-1', expiresAt: exp * 1000 });
  });

  for (const alg of ['HS384', 'HS512'] as const) {
    it(`accepts ${alg} tokens when configured, and only then`, async () => {
      const auth = createAuthenticator({ secret: SECRET, algorithms: [alg] });
      const t = await sign(alg, secretKey);
      assert.equal(auth.verify(t).user, 'alice');
      assert.equal(code(() => hs.verify(t)), 'LL_AUTH_INVALID_TOKEN', 'the default list is HS256 only');
    });
  }

  for (const [alg, type, opts] of [
    ['RS256', 'rsa', { modulusLength: 2048 }],
    ['RS384', 'rsa', { modulusLength: 2048 }],
    ['RS512', 'rsa', { modulusLength: 2048 }],
    ['PS256', 'rsa', { modulusLength: 2048 }],
    ['ES256', 'ec', { namedCurve: 'P-256' }],
    ['ES384', 'ec', { namedCurve: 'P-384' }],
    ['EdDSA', 'ed25519', {}],
  ] as const) {
    it(`accepts ${alg} tokens with a PEM public key and rejects a different key's`, async () => {
      const { privateKey, publicKey } = generateKeyPairSync(type as 'rsa', opts as { modulusLength: number });
      const other = generateKeyPairSync(type as 'rsa', opts as { modulusLength: number });
      const auth = createAuthenticator({ publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string, algorithms: [alg] });
      assert.equal(auth.verify(await sign(alg, privateKey)).user, 'alice');
      assert.equal(code(() => auth.verify('x')), 'LL_AUTH_INVALID_TOKEN');
      const forged = await sign(alg, other.privateKey);
      assert.equal(code(() => auth.verify(forged)), 'LL_AUTH_INVALID_TOKEN');
    });
  }

  it('refuses algorithm confusion: an RS256 public key used as an HMAC secret', async () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    assert.throws(() => createAuthenticator({ publicKeyPem: pem, algorithms: ['HS256'] }), /HS\* algorithms need/);
    const auth = createAuthenticator({ publicKeyPem: pem, algorithms: [] });
    const confused = await sign('HS256', new TextEncoder().encode(pem));
    assert.equal(code(() => auth.verify(confused)), 'LL_AUTH_INVALID_TOKEN');
  });

  it('refuses alg none, crit headers, tampering, missing exp/sub, expiry, future nbf, oversize', async () => {
    const good = await sign('HS256', secretKey);
    const [h, p, s] = good.split('.') as [string, string, string];
    const none = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url') + '.' + p + '.';
    assert.equal(code(() => hs.verify(none)), 'LL_AUTH_INVALID_TOKEN');
    const tampered = h + '.' + Buffer.from(JSON.stringify({ sub: 'mallory', exp: now() + 600 })).toString('base64url') + '.' + s;
    assert.equal(code(() => hs.verify(tampered)), 'LL_AUTH_INVALID_TOKEN');
    assert.equal(code(() => hs.verify(good.slice(0, -2))), 'LL_AUTH_INVALID_TOKEN');
    { // jose won't sign unknown crit extensions; build the token by hand
      const b = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const input = b({ alg: 'HS256', crit: ['x'], x: 1 }) + '.' + b({ sub: 'alice', exp: now() + 600 });
      const t = input + '.' + createHmac('sha256', SECRET).update(input).digest('base64url');
      assert.equal(code(() => hs.verify(t)), 'LL_AUTH_INVALID_TOKEN');
    }
    { const t = await sign('HS256', secretKey, { exp: undefined }); assert.equal(code(() => hs.verify(t)), 'LL_AUTH_INVALID_TOKEN'); }
    { const t = await sign('HS256', secretKey, { sub: undefined }); assert.equal(code(() => hs.verify(t)), 'LL_AUTH_INVALID_TOKEN'); }
    { const t = await sign('HS256', secretKey, { exp: now() - 60 }); assert.equal(code(() => hs.verify(t)), 'LL_AUTH_TOKEN_EXPIRED'); }
    { const t = await sign('HS256', secretKey, { nbf: now() + 600 }); assert.equal(code(() => hs.verify(t)), 'LL_AUTH_INVALID_TOKEN'); }
    { const t = await sign('HS256', secretKey, { did: 'bad device!' }); assert.equal(code(() => hs.verify(t)), 'LL_AUTH_INVALID_TOKEN'); }
    assert.equal(code(() => hs.verify('')), 'LL_AUTH_MISSING_TOKEN');
    assert.equal(code(() => hs.verify('a'.repeat(9000))), 'LL_AUTH_INVALID_TOKEN');
    for (const junk of ['a.b.c', '..', 'e30.e30.', '%%.%%.%%', 'eyJhbGciOiJIUzI1NiJ9.W10.abc']) assert.equal(code(() => hs.verify(junk)), 'LL_AUTH_INVALID_TOKEN', junk);
  });

  it('refuses ill-formed, control-character and whitespace ids in sub and did (identifier rules); keeps distinct ids distinct', async () => {
    const err = async (claims: Record<string, unknown>): Promise<string> => {
      const t = await sign('HS256', secretKey, claims);
      try { hs.verify(t); return 'OK'; } catch (e) { return e instanceof LonglinkError ? `${e.code} ${e.detail ?? ''}` : String(e); }
    };
    // A lone surrogate would become U+FFFD in Redis and share "\ufffdvictim"'s inbox.
    assert.match(await err({ sub: '\ud800victim' }), /^LL_AUTH_INVALID_TOKEN sub must be well-formed Unicode/);
    assert.match(await err({ sub: 'victim\udc00' }), /^LL_AUTH_INVALID_TOKEN sub must be well-formed Unicode/);
    assert.equal(hs.verify(await sign('HS256', secretKey, { sub: '\ufffdvictim' })).user, '\ufffdvictim');
    for (const sub of ['a\u0000b', 'a\nb', 'a\u007fb', 'a\u0085b', 'a\u001bb']) assert.match(await err({ sub }), /^LL_AUTH_INVALID_TOKEN sub must not contain control characters/, JSON.stringify(sub));
    for (const sub of ['a b', 'a\u00a0b', 'a\u3000b', '\ufeffa']) assert.match(await err({ sub }), /^LL_AUTH_INVALID_TOKEN sub must not contain whitespace/, JSON.stringify(sub));
    assert.match(await err({ sub: '' }), /^LL_AUTH_INVALID_TOKEN sub must not be empty/);
    assert.match(await err({ sub: 42 }), /^LL_AUTH_INVALID_TOKEN sub must be a string/);
    // Length counts characters (code points): 128 emoji are fine, 129 are not.
    assert.equal(hs.verify(await sign('HS256', secretKey, { sub: '\u{1F600}'.repeat(128) })).user.length, 256);
    assert.match(await err({ sub: '\u{1F600}'.repeat(129) }), /at most 128 characters/);
    assert.equal(hs.verify(await sign('HS256', secretKey, { sub: 'ünïcødé-用户' })).user, 'ünïcødé-用户');
    assert.match(await err({ did: 'ph\u0000one' }), /^LL_AUTH_INVALID_TOKEN did must be 1-64 characters/);
  });

  it('checks audience and issuer when configured', async () => {
    const a = createAuthenticator({ secret: SECRET, algorithms: [], audience: 'longlink', issuer: 'https://auth.example' });
    assert.equal(a.verify(await sign('HS256', secretKey, { aud: ['x', 'longlink'], iss: 'https://auth.example' })).user, 'alice');
    const wrongAud = await sign('HS256', secretKey, { aud: 'other', iss: 'https://auth.example' });
    assert.equal(code(() => a.verify(wrongAud)), 'LL_AUTH_INVALID_TOKEN');
    const wrongIss = await sign('HS256', secretKey, { aud: 'longlink', iss: 'https://evil.example' });
    assert.equal(code(() => a.verify(wrongIss)), 'LL_AUTH_INVALID_TOKEN');
  });

  it('rejects unknown algorithm names in config', () => {
    assert.throws(() => createAuthenticator({ secret: SECRET, algorithms: ['none'] }), /unsupported JWT algorithm "none"/);
  });
});

describe('JWKS keys', () => {
  let server: Server | undefined;
  let auth: Authenticator | undefined;
  after(() => { auth?.close(); server?.close(); });

  it('fetches keys, is not ready before, answers 503 for a new kid while refreshing, then accepts it', async () => {
    const k1 = generateKeyPairSync('ed25519');
    const k2 = generateKeyPairSync('ed25519');
    const jwks = { keys: [{ ...(await exportJWK(k1.publicKey)), kid: 'k1', use: 'sig' }] };
    let fetches = 0;
    server = createServer((_req, res) => { fetches++; res.setHeader('content-type', 'application/json'); res.end(JSON.stringify(jwks)); });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    auth = createAuthenticator({ jwksUrl: `http://127.0.0.1:${port}/jwks`, algorithms: [], jwksCooldownMs: 0 });
    const t1 = await sign('EdDSA', k1.privateKey, {}, { kid: 'k1' });
    if (!auth.ready()) assert.equal(code(() => auth!.verify(t1)), 'LL_AUTH_KEYS_UNAVAILABLE');
    for (let i = 0; i < 100 && !auth.ready(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(auth.ready(), true);
    assert.equal(auth.verify(t1).user, 'alice');
    // Key rotation: k2 appears in the JWKS; the first token with kid k2 triggers a refresh.
    jwks.keys.push({ ...(await exportJWK(k2.publicKey)), kid: 'k2', use: 'sig' });
    const t2 = await sign('EdDSA', k2.privateKey, {}, { kid: 'k2' });
    assert.equal(code(() => auth!.verify(t2)), 'LL_AUTH_KEYS_UNAVAILABLE');
    let accepted = false;
    for (let i = 0; i < 100 && !accepted; i++) {
      await new Promise((r) => setTimeout(r, 20));
      accepted = code(() => auth!.verify(t2)) === 'OK';
    }
    assert.equal(accepted, true, 'rotated key accepted after refresh');
    assert.ok(fetches >= 2);
  });

  it('does not follow a redirect for the key set', async () => {
    const k1 = generateKeyPairSync('ed25519');
    const jwks = { keys: [{ ...(await exportJWK(k1.publicKey)), kid: 'k1', use: 'sig' }] };
    let served = 0;
    const srv = createServer((req, res) => {
      if (req.url === '/jwks') { res.writeHead(302, { location: '/elsewhere' }).end(); return; }
      served++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(jwks));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const a = createAuthenticator({ jwksUrl: `http://127.0.0.1:${(srv.address() as { port: number }).port}/jwks`, algorithms: [], jwksCooldownMs: 0 });
    try {
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(a.ready(), false, 'the redirected key set was not taken');
      assert.equal(served, 0, 'the redirect target was never fetched');
    } finally {
      a.close();
      srv.close();
    }
  });
});
