// The SubjectAccessReview answer cache: allowed answers are reused for cacheAuthorizedTTL
// (5 min by default), denied ones for cacheUnauthorizedTTL (30 s), on an injected clock;
// failures are not cached; different attributes are different entries; concurrent identical
// reviews share one request.
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startKubeletServer, type RequestAttributes } from '../../src/server/kubelet-server.js';
import { WebhookAuthorizer } from '../../src/server/webhook-authz.js';
import { call, makePki, manualClock, minimalBackend, startFakeApiServer, type FakeApiServer, type Pki } from './fixtures.js';

const attrs = (name: string, subresource = 'proxy', verb = 'get'): RequestAttributes => ({
  user: { name, groups: ['system:authenticated'], via: 'x509' },
  verb,
  resource: 'nodes',
  name: 'node-a',
  subresource,
  path: '/pods',
});

describe('SubjectAccessReview cache', () => {
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
    api.answer = (r) => ({ status: { allowed: (r.body.spec?.['user'] as string) === 'admin' } });
  });

  it('makes no review for a second identical request, through the server', async () => {
    const server = await startKubeletServer({
      backend: minimalBackend(),
      address: '127.0.0.1',
      port: 0,
      tls: { ...pki.serving, clientCA: pki.ca },
      anonymous: false,
      authorizer: new WebhookAuthorizer({ client: api.client() }),
    });
    try {
      assert.equal((await call(server.port, '/pods', { ca: pki.ca, who: pki.admin })).status, 200);
      assert.equal((await call(server.port, '/pods', { ca: pki.ca, who: pki.admin })).status, 200);
      assert.equal(api.reviews.length, 1);
      assert.equal((await call(server.port, '/metrics', { ca: pki.ca, who: pki.admin })).status, 200);
      assert.equal(api.reviews.length, 2, 'another subresource is another review');
    } finally {
      await server.close();
    }
  });

  it('keeps allowed answers for 5 min and denied ones for 30 s by default', async () => {
    const clock = manualClock();
    const authz = new WebhookAuthorizer({ client: api.client(), now: clock.now });
    assert.equal((await authz.authorize(attrs('admin'))).allowed, true);
    assert.equal((await authz.authorize(attrs('viewer'))).allowed, false);
    assert.equal(api.reviews.length, 2);
    clock.advance(30_001);
    assert.equal((await authz.authorize(attrs('admin'))).allowed, true);
    assert.equal((await authz.authorize(attrs('viewer'))).allowed, false);
    assert.equal(api.reviews.length, 3, 'the denial expired, the allowance did not');
    clock.advance(270_000);
    assert.equal((await authz.authorize(attrs('admin'))).allowed, true);
    assert.equal(api.reviews.length, 4, 'the allowance expired after 5 min');
  });

  it('takes its TTLs from the config fields', async () => {
    const clock = manualClock();
    const authz = new WebhookAuthorizer({ client: api.client(), now: clock.now, cacheAuthorizedTTL: 1_000, cacheUnauthorizedTTL: 0 });
    await authz.authorize(attrs('viewer'));
    await authz.authorize(attrs('viewer'));
    assert.equal(api.reviews.length, 2, 'cacheUnauthorizedTTL 0: denials not cached');
    await authz.authorize(attrs('admin'));
    clock.advance(999);
    await authz.authorize(attrs('admin'));
    assert.equal(api.reviews.length, 3);
    clock.advance(2);
    await authz.authorize(attrs('admin'));
    assert.equal(api.reviews.length, 4);
  });

  it('does not cache a failure, and shares concurrent identical reviews', async () => {
    const authz = new WebhookAuthorizer({ client: api.client() });
    api.answer = () => ({ httpStatus: 500, message: 'boom' });
    await assert.rejects(authz.authorize(attrs('admin')), (err: Error & { code?: string }) => err.code === 'KTS_AUTHZ_WEBHOOK');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    api.answer = async () => {
      await gate;
      return { status: { allowed: true } };
    };
    const all = Promise.all([authz.authorize(attrs('admin')), authz.authorize(attrs('admin'))]);
    setTimeout(release, 50);
    assert.deepEqual(
      (await all).map((d) => d.allowed),
      [true, true],
    );
    assert.equal(api.reviews.length, 2, 'one failed review, then one shared review');
  });
});
