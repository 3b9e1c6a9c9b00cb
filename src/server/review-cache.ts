// The answer cache in front of the API server's TokenReview and SubjectAccessReview, as the
// upstream kubelet keeps one for each webhook: an answer is reused until its TTL runs out (the
// TTL is chosen per answer, so allowed and denied can live for different times), lookups that
// arrive while the same review is in flight share that one request, and failures are never
// cached (the next request asks again).
//
// Owns: the entries and the in-flight promises. Keys are chosen by the caller and must not be
// secrets (the token authenticator passes a sha256 of the token). Bounded: past `maxEntries` the
// oldest entry is dropped, so a flood of distinct tokens cannot grow memory without limit.
// Time comes from the injected clock.

export interface ReviewCacheOptions<V> {
  /** How long an answer is reused, in ms; 0 means not cached. */
  ttlFor(value: V): number;
  maxEntries?: number;
  now?: () => number;
}

export interface ReviewCacheStats {
  hits: number;
  misses: number;
  shared: number;
}

export class ReviewCache<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>();
  private readonly inflight = new Map<string, Promise<V>>();
  private readonly maxEntries: number;
  private readonly now: () => number;
  readonly stats: ReviewCacheStats = { hits: 0, misses: 0, shared: 0 };

  constructor(private readonly opts: ReviewCacheOptions<V>) {
    this.maxEntries = opts.maxEntries ?? 4096;
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached answer for `key`, else the answer of `review()` (shared with concurrent callers). */
  get(key: string, review: () => Promise<V>): Promise<V> {
    const hit = this.entries.get(key);
    if (hit) {
      if (hit.expires > this.now()) {
        this.stats.hits++;
        return Promise.resolve(hit.value);
      }
      this.entries.delete(key);
    }
    const pending = this.inflight.get(key);
    if (pending) {
      this.stats.shared++;
      return pending;
    }
    this.stats.misses++;
    const p = review().then(
      (value) => {
        this.inflight.delete(key);
        this.store(key, value);
        return value;
      },
      (err: unknown) => {
        this.inflight.delete(key);
        throw err;
      },
    );
    this.inflight.set(key, p);
    return p;
  }

  private store(key: string, value: V): void {
    const ttl = this.opts.ttlFor(value);
    if (ttl <= 0) return;
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(key, { value, expires: this.now() + ttl });
  }
}
