// Bearer-token authentication through the API server, as the upstream kubelet's token webhook:
// each unknown token is sent in an authentication.k8s.io/v1 TokenReview and the answer's user
// (username, uid, groups, extra) becomes the request's user, with system:authenticated added as
// upstream's delegating authenticator does.
//
// Owns: the answer cache. Answers are kept for authentication.webhook.cacheTTL (2 min by
// default), negative ones too (upstream caches both with the same TTL); a review that failed
// (the API server did not answer, or answered with status.error) is not cached and makes the
// request 401. Concurrent requests with the same token share one review. The cache key is the
// sha256 of the token: the token itself is never a key and never logged.
// Assumes: the client is authenticated to the API server as the node and may create TokenReviews.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { silentLogger } from '../log.js';
import type { TokenAuthenticator, UserInfo } from './kubelet-server.js';
import { ReviewCache } from './review-cache.js';

/** The one call the webhooks make: `ApiClient` fits, so does anything with the same `post`. */
export interface ReviewClient {
  post<T>(path: string, body: unknown): Promise<T>;
}

export const TOKEN_REVIEW_PATH = '/apis/authentication.k8s.io/v1/tokenreviews';

/** The token could not be reviewed (as opposed to: reviewed and not recognised). */
export class TokenReviewError extends Error {
  readonly code = 'KTS_AUTHN_WEBHOOK';

  constructor(message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'TokenReviewError';
  }
}

interface TokenReviewReply {
  status?: {
    authenticated?: boolean;
    error?: string;
    user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  };
}

export interface WebhookTokenAuthenticatorOptions {
  client: ReviewClient;
  /** authentication.webhook.cacheTTL in ms (default 2 min); 0 turns the cache off. */
  cacheTTL?: number;
  maxCacheEntries?: number;
  now?: () => number;
  logger?: Logger;
}

type Answer = { user: UserInfo } | { user: undefined };

export class WebhookTokenAuthenticator implements TokenAuthenticator {
  private readonly cache: ReviewCache<Answer>;
  private readonly client: ReviewClient;
  private readonly log: Logger;

  constructor(opts: WebhookTokenAuthenticatorOptions) {
    const ttl = opts.cacheTTL ?? 120_000;
    this.client = opts.client;
    this.log = (opts.logger ?? silentLogger).child({ component: 'token-webhook' });
    this.cache = new ReviewCache<Answer>({
      ttlFor: () => ttl,
      ...(opts.maxCacheEntries !== undefined ? { maxEntries: opts.maxCacheEntries } : {}),
      ...(opts.now ? { now: opts.now } : {}),
    });
  }

  get cacheStats(): Readonly<ReviewCache<Answer>['stats']> {
    return this.cache.stats;
  }

  async authenticate(token: string): Promise<UserInfo | undefined> {
    const key = createHash('sha256').update(token).digest('hex');
    const answer = await this.cache.get(key, () => this.review(token, key));
    return answer.user;
  }

  private async review(token: string, key: string): Promise<Answer> {
    let reply: TokenReviewReply;
    try {
      reply = await this.client.post<TokenReviewReply>(TOKEN_REVIEW_PATH, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.log.warn({ tokenHash: key.slice(0, 12), err: why }, 'TokenReview failed');
      throw new TokenReviewError(`TokenReview failed: ${why}`, { cause: err });
    }
    const status = reply.status ?? {};
    if (status.authenticated !== true) {
      // Upstream: "not authenticated" with an error text is a failure (not cached), without one a
      // plain no (cached).
      if (status.error) throw new TokenReviewError(`TokenReview: ${status.error}`);
      return { user: undefined };
    }
    const u = status.user ?? {};
    if (!u.username) throw new TokenReviewError('TokenReview answered authenticated without a username');
    const groups = [...(u.groups ?? [])];
    if (!groups.includes('system:authenticated')) groups.push('system:authenticated');
    const user: UserInfo = { name: u.username, groups, via: 'token' };
    if (u.uid) user.uid = u.uid;
    if (u.extra && Object.keys(u.extra).length > 0) user.extra = u.extra;
    return { user };
  }
}
