/** The one handshake query builder (protocol/handshake-query.ts), and the SDK and load tools building their URLs with it. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HANDSHAKE_PARAMS, handshakeQuery, handshakeSubprotocols, withHandshakeQuery } from '../../protocol/handshake-query.js';
import { SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX } from '../../protocol/frames.js';
import { handshakeUrl } from '../../sdk/src/connection.js';
import { connectUrl, subprotocols } from '../../loadtest/lib/protocol-session.js';

describe('handshakeQuery', () => {
  it('writes the parameters in one order, only those given', () => {
    assert.equal(handshakeQuery({}), '');
    assert.equal(handshakeQuery({ hbMs: 30_000 }), 'hb=30000');
    assert.equal(
      handshakeQuery({ accessToken: 'a.b.c', device: 'd-1', hbMs: 30_000, resume: { session: 'S1', lastSeq: 7, epoch: 3 }, channels: true }),
      'access_token=a.b.c&device=d-1&hb=30000&session=S1&last_seq=7&epoch=3&channels=1',
    );
    assert.equal(handshakeQuery({ resume: { session: 'S1', lastSeq: 0 } }), 'session=S1&last_seq=0', 'no epoch unless given');
    assert.equal(handshakeQuery({ channels: false }), '');
  });

  it('recover=1 stands for channels=1 (it implies it)', () => {
    assert.equal(handshakeQuery({ channels: true, recover: true }), 'recover=1');
    assert.equal(handshakeQuery({ recover: true }), 'recover=1');
    assert.equal(handshakeQuery({ channels: true, recover: false }), 'channels=1');
  });

  it('rounds hb (the gateway takes integers only)', () => {
    assert.equal(handshakeQuery({ hbMs: 1234.6 }), 'hb=1235');
  });

  it('percent-encodes values, and the gateway\'s parser reads back what was given', () => {
    const device = 'ph one/é&x=1+2';
    const session = 'a b?c';
    const q = handshakeQuery({ device, accessToken: 't+k=', resume: { session, lastSeq: 1 } });
    assert.doesNotMatch(q, / /);
    const parsed = new URLSearchParams(q); // what services/gateway/transport/uws-server.ts parses with
    assert.equal(parsed.get('device'), device);
    assert.equal(parsed.get('session'), session);
    assert.equal(parsed.get('access_token'), 't+k=');
  });

  it('lists every parameter it can write', () => {
    const q = handshakeQuery({ accessToken: 't', device: 'd', hbMs: 1, resume: { session: 's', lastSeq: 1, epoch: 1 }, channels: true });
    const written = [...new URLSearchParams(q).keys(), 'recover'];
    assert.deepEqual([...written].sort(), [...HANDSHAKE_PARAMS].sort());
  });
});

describe('handshakeSubprotocols', () => {
  it('offers longlink.v1, and the token after it when it travels there; the load tools use the same list', () => {
    assert.deepEqual(handshakeSubprotocols(), [SUBPROTOCOL]);
    assert.deepEqual(handshakeSubprotocols('a.b.c'), [SUBPROTOCOL, `${TOKEN_SUBPROTOCOL_PREFIX}a.b.c`]);
    assert.equal(subprotocols, handshakeSubprotocols);
  });
});

describe('withHandshakeQuery', () => {
  it('appends to a URL with or without a query', () => {
    assert.equal(withHandshakeQuery('ws://h:1/ws', { hbMs: 5000 }), 'ws://h:1/ws?hb=5000');
    assert.equal(withHandshakeQuery('ws://h:1/ws?x=1', { hbMs: 5000 }), 'ws://h:1/ws?x=1&hb=5000');
    assert.equal(withHandshakeQuery('ws://h:1/ws?', { hbMs: 5000 }), 'ws://h:1/ws?hb=5000');
    assert.equal(withHandshakeQuery('ws://h:1/ws?x=1', {}), 'ws://h:1/ws?x=1');
    assert.equal(withHandshakeQuery('ws://h:1/ws', {}), 'ws://h:1/ws');
  });

  it('removes handshake parameters already in the URL, keeps the others and a fragment', () => {
    const url = 'wss://h/ws?app=1&hb=1&session=old&last_seq=9&epoch=2&channels=0&recover=1&device=x&access_token=stale&flag#frag';
    assert.equal(withHandshakeQuery(url, { hbMs: 5000 }), 'wss://h/ws?app=1&flag&hb=5000#frag');
  });

  it('removes them however their names are encoded (the gateway decodes names too)', () => {
    assert.equal(withHandshakeQuery('ws://h/ws?last%5Fseq=3&access%5ftoken=t&a=b', { hbMs: 1 }), 'ws://h/ws?a=b&hb=1');
    assert.equal(withHandshakeQuery('ws://h/ws?bad%zz=1', {}), 'ws://h/ws?bad%zz=1', 'a name that does not decode is kept as it is');
  });
});

describe('the SDK and the load tools build their URLs with it', () => {
  it('SDK: channels (or recover), device, hb, resume, token in the query when asked', () => {
    const base = { url: 'ws://h:1/ws', token: 'tok', device: 'phone', hbMs: 1000, resume: undefined } as const;
    assert.equal(handshakeUrl({ ...base, tokenIn: 'protocol' }), 'ws://h:1/ws?device=phone&hb=1000&channels=1');
    assert.equal(
      handshakeUrl({ ...base, tokenIn: 'query', resume: { session: 'S', lastSeq: 4, epoch: 2 }, recover: [] }),
      'ws://h:1/ws?access_token=tok&device=phone&hb=1000&session=S&last_seq=4&epoch=2&recover=1',
    );
  });

  it('SDK: handshake parameters in the app\'s URL are replaced by the client\'s own', () => {
    const url = 'ws://h:1/ws?tenant=a&session=stale&last_seq=1&hb=5&access_token=old';
    const u = new URL(handshakeUrl({ url, token: 'tok', tokenIn: 'protocol', device: undefined, hbMs: 2000, resume: undefined }));
    assert.equal(u.searchParams.get('tenant'), 'a');
    assert.deepEqual(u.searchParams.getAll('hb'), ['2000']);
    assert.equal(u.searchParams.has('session'), false, 'no stale resume the client did not ask for');
    assert.equal(u.searchParams.has('last_seq'), false);
    assert.equal(u.searchParams.has('access_token'), false, 'the token travels as a subprotocol');
  });

  it('load tools: connectUrl is the same builder', () => {
    assert.equal(
      connectUrl('ws://h:1/ws', { token: 't', device: 'd', hbMs: 30_000, session: 'S', lastSeq: 2, channels: true }),
      withHandshakeQuery('ws://h:1/ws', { accessToken: 't', device: 'd', hbMs: 30_000, resume: { session: 'S', lastSeq: 2 }, channels: true }),
    );
    assert.equal(connectUrl('ws://h:1/ws', { token: 't', tokenIn: 'subprotocol', hbMs: 1 }), 'ws://h:1/ws?hb=1');
  });
});
