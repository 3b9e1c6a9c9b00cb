// Bearer tokens on the kubelet API through the API server's TokenReview: a recognised token is
// the user the review names (groups, uid and extra passed on to authorization), an
// unrecognised one is 401, and an API server that fails makes the request 401 too (never
// lets it in). Real kubelet HTTPS server and a real HTTPS server playing the API server.
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startKubeletServer, type KubeletServer, type RequestAttributes } from '../../src/server/kubelet-server.js';
import { TOKEN_REVIEW_PATH, WebhookTokenAuthenticator } from '../../src/server/webhook-auth.js';
import { call, makePki, minimalBackend, startFakeApiServer, type FakeApiServer, type Pki } from './fixtures.js';

describe('token authentication through TokenReview', () => {
  let pki: Pki;
  let api: FakeApiServer;
  let server: KubeletServer;
  const seen: RequestAttributes[] = [];

  before(async () => {
    pki = await makePki();
    api = await startFakeApiServer(pki);
    server = await startKubeletServer({
      backend: minimalBackend(),
      address: '127.0.0.1',
      port: 0,
      tls: { ...pki.serving, clientCA: pki.ca },
      anonymous: false,
      // No cache: every request here is a fresh review.
      tokens: new WebhookTokenAuthenticator({ client: api.client(), cacheTTL: 0 }),
      authorizer: {
        authorize: (a) => {
          seen.push(a);
          return Promise.resolve({ allowed: true });
        },
      },
    });
  });

  after(async () => {
    await server.close();
    await api.close();
    pki.close();
  });

  beforeEach(() => {
    api.reviews.length = 0;
    seen.length = 0;
  });

  it('lets a recognised token in as the user the review names', async () => {
    api.answer = (r) =>
      r.body.spec?.['token'] === 'good-token'
        ? {
            status: {
              authenticated: true,
              user: {
                username: 'system:serviceaccount:kube-system:metrics',
                uid: 'sa-uid-1',
                groups: ['system:serviceaccounts'],
                extra: { 'authentication.kubernetes.io/pod-name': ['metrics-0'] },
              },
            },
          }
        : { status: { authenticated: false } };
    const r = await call(server.port, '/pods', { ca: pki.ca, token: 'good-token' });
    assert.equal(r.status, 200, r.body);
    assert.equal(api.reviews.length, 1);
    assert.equal(api.reviews[0]?.path, TOKEN_REVIEW_PATH);
    assert.deepEqual(api.reviews[0]?.body, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'good-token' } });
    assert.deepEqual(seen[0]?.user, {
      name: 'system:serviceaccount:kube-system:metrics',
      groups: ['system:serviceaccounts', 'system:authenticated'],
      via: 'token',
      uid: 'sa-uid-1',
      extra: { 'authentication.kubernetes.io/pod-name': ['metrics-0'] },
    });
  });

  it('refuses a token the API server does not recognise (401)', async () => {
    api.answer = () => ({ status: { authenticated: false } });
    const r = await call(server.port, '/pods', { ca: pki.ca, token: 'stolen-token' });
    assert.equal(r.status, 401);
    assert.equal(r.body, 'Unauthorized\n');
    assert.equal(seen.length, 0, 'never reaches authorization');
  });

  it('refuses the request (401) when the API server fails or the review reports an error', async () => {
    api.answer = () => ({ httpStatus: 500, message: 'etcd is down' });
    assert.equal((await call(server.port, '/pods', { ca: pki.ca, token: 'good-token' })).status, 401);
    api.answer = () => ({ status: { authenticated: false, error: 'the token webhook is misconfigured' } });
    assert.equal((await call(server.port, '/pods', { ca: pki.ca, token: 'good-token' })).status, 401);
    assert.equal(api.reviews.length, 2);
    assert.equal(seen.length, 0);
  });

  it('prefers a client certificate and asks no review for it', async () => {
    const r = await call(server.port, '/pods', { ca: pki.ca, who: pki.admin, token: 'whatever' });
    assert.equal(r.status, 200);
    assert.equal(api.reviews.length, 0);
    assert.equal(seen[0]?.user.via, 'x509');
  });
});
