// Authorization through the API server, as the upstream kubelet's Webhook mode: each request's
// attributes (user, groups, uid, extra; resource "nodes", name = this node, verb from the
// method, subresource from the path) go in an authorization.k8s.io/v1 SubjectAccessReview, and
// status.allowed decides. The kubelet always sends resource attributes, never non-resource ones
// (upstream does the same for every path it serves).
//
// Owns: the answer cache. Allowed answers are kept for cacheAuthorizedTTL (5 min by default),
// denied ones for cacheUnauthorizedTTL (30 s); concurrent identical reviews share one request.
// A review that fails is not cached and is thrown as SubjectAccessReviewError: the server then
// answers 500 (upstream: "Authorization error"), never allows.
// Assumes: the client may create SubjectAccessReviews (system:nodes may, by the default RBAC).
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { silentLogger } from '../log.js';
import type { Authorizer, RequestAttributes } from './kubelet-server.js';
import { ReviewCache } from './review-cache.js';
import type { ReviewClient } from './webhook-auth.js';

export const SUBJECT_ACCESS_REVIEW_PATH = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

export class SubjectAccessReviewError extends Error {
  readonly code = 'KTS_AUTHZ_WEBHOOK';

  constructor(message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'SubjectAccessReviewError';
  }
}

export interface SubjectAccessReviewSpec {
  user: string;
  groups: string[];
  uid?: string;
  extra?: Record<string, string[]>;
  resourceAttributes: { verb: string; version: string; resource: string; subresource: string; name: string };
}

interface SubjectAccessReviewReply {
  status?: { allowed?: boolean; denied?: boolean; reason?: string; evaluationError?: string };
}

export interface WebhookAuthorizerOptions {
  client: ReviewClient;
  /** authorization.webhook.cacheAuthorizedTTL in ms (default 5 min). */
  cacheAuthorizedTTL?: number;
  /** authorization.webhook.cacheUnauthorizedTTL in ms (default 30 s). */
  cacheUnauthorizedTTL?: number;
  maxCacheEntries?: number;
  now?: () => number;
  logger?: Logger;
}

type Decision = { allowed: boolean; reason?: string };

/** The review the kubelet sends for a request (exported for tests and logs). */
export function subjectAccessReviewSpec(attrs: RequestAttributes): SubjectAccessReviewSpec {
  const spec: SubjectAccessReviewSpec = {
    user: attrs.user.name,
    groups: attrs.user.groups,
    resourceAttributes: { verb: attrs.verb, version: 'v1', resource: attrs.resource, subresource: attrs.subresource, name: attrs.name },
  };
  if (attrs.user.uid) spec.uid = attrs.user.uid;
  if (attrs.user.extra) spec.extra = attrs.user.extra;
  return spec;
}

export class WebhookAuthorizer implements Authorizer {
  readonly name = 'Webhook';
  private readonly cache: ReviewCache<Decision>;
  private readonly client: ReviewClient;
  private readonly log: Logger;

  constructor(opts: WebhookAuthorizerOptions) {
    const allowedTtl = opts.cacheAuthorizedTTL ?? 300_000;
    const deniedTtl = opts.cacheUnauthorizedTTL ?? 30_000;
    this.client = opts.client;
    this.log = (opts.logger ?? silentLogger).child({ component: 'authz-webhook' });
    this.cache = new ReviewCache<Decision>({
      ttlFor: (d) => (d.allowed ? allowedTtl : deniedTtl),
      ...(opts.maxCacheEntries !== undefined ? { maxEntries: opts.maxCacheEntries } : {}),
      ...(opts.now ? { now: opts.now } : {}),
    });
  }

  get cacheStats(): Readonly<ReviewCache<Decision>['stats']> {
    return this.cache.stats;
  }

  authorize(attrs: RequestAttributes): Promise<Decision> {
    const spec = subjectAccessReviewSpec(attrs);
    // Extra values are sorted into the key so that the same user always hits the same entry.
    const extra = spec.extra ? Object.fromEntries(Object.entries(spec.extra).sort(([a], [b]) => a.localeCompare(b))) : undefined;
    const key = createHash('sha256')
      .update(JSON.stringify([spec.user, spec.groups, spec.uid ?? '', extra ?? {}, spec.resourceAttributes]))
      .digest('hex');
    return this.cache.get(key, () => this.review(spec));
  }

  private async review(spec: SubjectAccessReviewSpec): Promise<Decision> {
    let reply: SubjectAccessReviewReply;
    try {
      reply = await this.client.post<SubjectAccessReviewReply>(SUBJECT_ACCESS_REVIEW_PATH, {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec,
      });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.log.warn({ user: spec.user, ...spec.resourceAttributes, err: why }, 'SubjectAccessReview failed');
      throw new SubjectAccessReviewError(`SubjectAccessReview failed: ${why}`, { cause: err });
    }
    const s = reply.status ?? {};
    const reason = s.reason || s.evaluationError || undefined;
    // Not allowed and not explicitly denied is "no opinion"; the kubelet has no other
    // authorizer to ask, so that is a no as well.
    return s.allowed === true ? { allowed: true, ...(reason ? { reason } : {}) } : { allowed: false, ...(reason ? { reason } : {}) };
  }
}
