// The kubelet API's authenticator and authorizer as the KubeletConfiguration asks for them, the
// way upstream's kubelet builds them at start: bearer tokens through TokenReview when
// authentication.webhook.enabled and there is an API server; authorization.mode Webhook through
// SubjectAccessReview, AlwaysAllow otherwise. Client certificates and anonymous access are the
// server's own (KubeletServerOptions.tls.clientCA, anonymous).
// Assumes: a Webhook mode without an API server was refused earlier (startKubelet does).
import type { Logger } from 'pino';
import type { KubeletConfig } from '../config/kubelet-config.js';
import { alwaysAllow, type Authorizer, type TokenAuthenticator } from './kubelet-server.js';
import { WebhookTokenAuthenticator, type ReviewClient } from './webhook-auth.js';
import { WebhookAuthorizer } from './webhook-authz.js';

export class AuthConfigError extends Error {
  readonly code = 'KTS_AUTH_CONFIG';

  constructor(message: string) {
    super(message);
    this.name = 'AuthConfigError';
  }
}

export interface ServerAuth {
  tokens?: TokenAuthenticator;
  authorizer: Authorizer;
}

export function serverAuthFromConfig(
  cfg: Pick<KubeletConfig, 'authentication' | 'authorization'>,
  client: ReviewClient | undefined,
  opts: { logger?: Logger; now?: () => number } = {},
): ServerAuth {
  const common = { ...(opts.logger ? { logger: opts.logger } : {}), ...(opts.now ? { now: opts.now } : {}) };
  let authorizer: Authorizer;
  switch (cfg.authorization.mode) {
    case 'AlwaysAllow':
      authorizer = alwaysAllow;
      break;
    case 'Webhook':
      if (!client) throw new AuthConfigError('authorization mode Webhook needs an API server client (SubjectAccessReview)');
      authorizer = new WebhookAuthorizer({
        client,
        cacheAuthorizedTTL: cfg.authorization.webhook.cacheAuthorizedTTL,
        cacheUnauthorizedTTL: cfg.authorization.webhook.cacheUnauthorizedTTL,
        ...common,
      });
      break;
    default: {
      const never: never = cfg.authorization.mode;
      throw new AuthConfigError(`unknown authorization mode ${String(never)}`);
    }
  }
  if (cfg.authentication.webhook.enabled && client) {
    return { authorizer, tokens: new WebhookTokenAuthenticator({ client, cacheTTL: cfg.authentication.webhook.cacheTTL, ...common }) };
  }
  return { authorizer };
}
