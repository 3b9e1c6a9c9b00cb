// The server's authenticator and authorizer from the KubeletConfiguration: Webhook mode makes
// a SubjectAccessReview authorizer with the configured TTLs, AlwaysAllow allows, the token
// webhook exists only when enabled and an API server is there.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultKubeletConfig } from '../../src/config/kubelet-config.js';
import { alwaysAllow } from '../../src/server/kubelet-server.js';
import { serverAuthFromConfig } from '../../src/server/auth-config.js';
import { WebhookTokenAuthenticator } from '../../src/server/webhook-auth.js';
import { WebhookAuthorizer } from '../../src/server/webhook-authz.js';
import { manualClock } from './fixtures.js';

describe('server auth from the config', () => {
  it('builds the webhooks from the config fields', async () => {
    const cfg = defaultKubeletConfig();
    cfg.authorization.webhook.cacheUnauthorizedTTL = 1_000;
    const posts: string[] = [];
    const client = { post: <T>(path: string): Promise<T> => (posts.push(path), Promise.resolve({ status: { allowed: false, authenticated: false } } as T)) };
    const clock = manualClock();
    const auth = serverAuthFromConfig(cfg, client, { now: clock.now });
    assert.ok(auth.authorizer instanceof WebhookAuthorizer);
    assert.ok(auth.tokens instanceof WebhookTokenAuthenticator);
    const attrs = {
      user: { name: 'u', groups: [], via: 'x509' as const },
      verb: 'get',
      resource: 'nodes' as const,
      name: 'n',
      subresource: 'proxy',
      path: '/pods',
    };
    await auth.authorizer.authorize(attrs);
    await auth.authorizer.authorize(attrs);
    clock.advance(1_001);
    await auth.authorizer.authorize(attrs);
    assert.equal(posts.length, 2, 'denials cached for the configured 1 s');
  });

  it('allows everything in AlwaysAllow and has no token webhook without an API server or when disabled', () => {
    const cfg = defaultKubeletConfig();
    cfg.authorization.mode = 'AlwaysAllow';
    assert.deepEqual(serverAuthFromConfig(cfg, undefined), { authorizer: alwaysAllow });
    cfg.authentication.webhook.enabled = false;
    assert.equal(serverAuthFromConfig(cfg, { post: () => Promise.reject(new Error('x')) }).tokens, undefined);
    cfg.authorization.mode = 'Webhook';
    assert.throws(() => serverAuthFromConfig(cfg, undefined), /needs an API server client/);
  });
});
