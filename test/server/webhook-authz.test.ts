// Authorization through the API server's SubjectAccessReview: the review carries the user
// (groups, uid, extra) and upstream's resource attributes (verb from the method, resource
// nodes, the node's name, the subresource of the path); allowed lets the request through,
// denied answers 403 with upstream's text, and an API server failure answers 500, never allows.
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startKubeletServer, type KubeletServer } from '../../src/server/kubelet-server.js';
import { WebhookTokenAuthenticator } from '../../src/server/webhook-auth.js';
import { SUBJECT_ACCESS_REVIEW_PATH, WebhookAuthorizer } from '../../src/server/webhook-authz.js';
import { call, makePki, minimalBackend, startFakeApiServer, type FakeApiServer, type Pki } from './fixtures.js';

describe('authorization through SubjectAccessReview', () => {
  let pki: Pki;
  let api: FakeApiServer;
  let server: KubeletServer;

  before(async () => {
    pki = await makePki();
    api = await startFakeApiServer(pki);
    const client = api.client();
    server = await startKubeletServer({
      backend: minimalBackend(),
      address: '127.0.0.1',
      port: 0,
      tls: { ...pki.serving, clientCA: pki.ca },
      anonymous: false,
      tokens: new WebhookTokenAuthenticator({ client }),
      // No cache: every request here is a fresh review.
      authorizer: new WebhookAuthorizer({ client, cacheAuthorizedTTL: 0, cacheUnauthorizedTTL: 0 }),
    });
  });

  after(async () => {
    await server.close();
    await api.close();
    pki.close();
  });

  beforeEach(() => {
    api.reviews.length = 0;
  });

  const sars = (): unknown[] => api.reviews.filter((r) => r.path === SUBJECT_ACCESS_REVIEW_PATH).map((r) => r.body);

  it('lets an allowed request through, having asked with upstream attributes', async () => {
    api.answer = () => ({ status: { allowed: true } });
    const r = await call(server.port, '/metrics', { ca: pki.ca, who: pki.viewer });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(sars(), [
      {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: 'viewer',
          groups: ['system:authenticated'],
          resourceAttributes: { verb: 'get', version: 'v1', resource: 'nodes', subresource: 'metrics', name: 'node-a' },
        },
      },
    ]);
  });

  it("passes a token user's uid and extra, and the verb of the method", async () => {
    api.answer = (r) =>
      r.path === SUBJECT_ACCESS_REVIEW_PATH
        ? { status: { allowed: true } }
        : { status: { authenticated: true, user: { username: 'bob', uid: 'u-9', groups: ['devs'], extra: { scopes: ['a', 'b'] } } } };
    const r = await call(server.port, '/static-pods', { ca: pki.ca, token: 't-bob', method: 'POST' });
    assert.equal(r.status, 404, 'allowed, then the route answers (no submit endpoint here)');
    assert.deepEqual(sars(), [
      {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: 'bob',
          groups: ['devs', 'system:authenticated'],
          uid: 'u-9',
          extra: { scopes: ['a', 'b'] },
          resourceAttributes: { verb: 'create', version: 'v1', resource: 'nodes', subresource: 'proxy', name: 'node-a' },
        },
      },
    ]);
  });

  it("answers 403 with upstream's text when denied", async () => {
    api.answer = () => ({ status: { allowed: false, reason: 'no RBAC policy matched' } });
    const r = await call(server.port, '/pods', { ca: pki.ca, who: pki.viewer });
    assert.equal(r.status, 403);
    assert.equal(r.body, 'Forbidden (user=viewer, verb=get, resource=nodes, subresource(s)=[proxy])\n');
    api.answer = () => ({ status: { allowed: false, denied: true } });
    assert.equal(
      (await call(server.port, '/stats/summary', { ca: pki.ca, who: pki.viewer })).body,
      'Forbidden (user=viewer, verb=get, resource=nodes, subresource(s)=[stats])\n',
    );
  });

  it('answers 500 when the API server fails, and does not let the request in', async () => {
    api.answer = () => ({ httpStatus: 500, message: 'internal error' });
    const r = await call(server.port, '/pods', { ca: pki.ca, who: pki.admin });
    assert.equal(r.status, 500);
    assert.equal(r.body, 'Authorization error (user=admin, verb=get, resource=nodes, subresource(s)=[proxy])\n');
    api.answer = () => ({ httpStatus: 403, message: 'nodes cannot create subjectaccessreviews' });
    assert.equal((await call(server.port, '/pods', { ca: pki.ca, who: pki.admin })).status, 500);
  });
});
