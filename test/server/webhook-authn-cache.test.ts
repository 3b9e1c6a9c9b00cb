// The TokenReview answer cache: a second request with the same token makes no review call,
// until cacheTTL has passed (injected clock); "not authenticated" is cached for the same TTL
// (as upstream); failures are not cached; concurrent requests with one token share one review;
// the cache never keys on the token itself.
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { alwaysAllow, startKubeletServer, type KubeletServer } from '../../src/server/kubelet-server.js';
import { WebhookTokenAuthenticator } from '../../src/server/webhook-auth.js';
import { call, makePki, manualClock, minimalBackend, startFakeApiServer, type FakeApiServer, type Pki } from './fixtures.js';

describe('TokenReview cache', () => {
  let pki: Pki;
  let api: FakeApiServer;

  before(async () => {
    pki = await makePki();
    api = await startFakeApiServer(pki);
  });

  after(async () => {
    await api.close();
    pki.close();
  });

  beforeEach(() => {
    api.reviews.length = 0;
    api.answer = (r) =>
      r.body.spec?.['token'] === 'good' ? { status: { authenticated: true, user: { username: 'alice', groups: [] } } } : { status: { authenticated: false } };
  });

  it('answers a second request from the cache until cacheTTL has passed', async () => {
    const clock = manualClock();
    const tokens = new WebhookTokenAuthenticator({ client: api.client(), now: clock.now });
    const server: KubeletServer = await startKubeletServer({
      backend: minimalBackend(),
      address: '127.0.0.1',
      port: 0,
      tls: { ...pki.serving, clientCA: pki.ca },
      anonymous: false,
      tokens,
      authorizer: alwaysAllow,
    });
    try {
      assert.equal((await call(server.port, '/pods', { ca: pki.ca, token: 'good' })).status, 200);
      assert.equal((await call(server.port, '/pods', { ca: pki.ca, token: 'good' })).status, 200);
      assert.equal(api.reviews.length, 1, 'the second request makes no review call');
      clock.advance(119_000);
      assert.equal((await call(server.port, '/pods', { ca: pki.ca, token: 'good' })).status, 200);
      assert.equal(api.reviews.length, 1, 'still cached just before the default 2 min');
      clock.advance(1_001);
      assert.equal((await call(server.port, '/pods', { ca: pki.ca, token: 'good' })).status, 200);
      assert.equal(api.reviews.length, 2, 'reviewed again after the TTL');
    } finally {
      await server.close();
    }
  });

  it('caches "not authenticated" for the same TTL', async () => {
    const clock = manualClock();
    const tokens = new WebhookTokenAuthenticator({ client: api.client(), cacheTTL: 10_000, now: clock.now });
    assert.equal(await tokens.authenticate('bad'), undefined);
    assert.equal(await tokens.authenticate('bad'), undefined);
    assert.equal(api.reviews.length, 1);
    clock.advance(10_001);
    assert.equal(await tokens.authenticate('bad'), undefined);
    assert.equal(api.reviews.length, 2);
  });

  it('does not cache a failed review', async () => {
    const tokens = new WebhookTokenAuthenticator({ client: api.client() });
    api.answer = () => ({ httpStatus: 503, message: 'unavailable' });
    await assert.rejects(tokens.authenticate('good'), (err: Error & { code?: string }) => err.code === 'KTS_AUTHN_WEBHOOK' && /503/.test(err.message));
    api.answer = () => ({ status: { authenticated: true, user: { username: 'alice' } } });
    assert.equal((await tokens.authenticate('good'))?.name, 'alice');
    assert.equal(api.reviews.length, 2);
  });

  it('shares one review between concurrent requests with the same token', async () => {
    const tokens = new WebhookTokenAuthenticator({ client: api.client() });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    api.answer = async () => {
      await gate;
      return { status: { authenticated: true, user: { username: 'alice' } } };
    };
    const all = Promise.all([tokens.authenticate('good'), tokens.authenticate('good'), tokens.authenticate('good')]);
    setTimeout(release, 50);
    const users = await all;
    assert.deepEqual(
      users.map((u) => u?.name),
      ['alice', 'alice', 'alice'],
    );
    assert.equal(api.reviews.length, 1);
    assert.deepEqual(tokens.cacheStats, { hits: 0, misses: 1, shared: 2 });
  });

  it('keeps no token in its keys', async () => {
    const tokens = new WebhookTokenAuthenticator({ client: api.client() });
    await tokens.authenticate('good');
    const keys = [...(tokens as unknown as { cache: { entries: Map<string, unknown> } }).cache.entries.keys()];
    assert.equal(keys.length, 1);
    assert.match(keys[0] ?? '', /^[0-9a-f]{64}$/);
    assert.ok(!keys.some((k) => k.includes('good')));
  });
});
