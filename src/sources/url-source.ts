// The manifest URL source (--manifest-url / staticPodURL, headers from --manifest-url-header),
// polled every httpCheckFrequency (20 s), as upstream: the body is YAML or JSON (a Pod, many
// documents, or a List). A body that parses is the new full set (an empty body empties it); a
// failed fetch or an unreadable body keeps the previous set and is logged, so a flaky web
// server does not kill pods.
import type { Logger } from 'pino';
import type { Pod } from '../api/core-v1.js';
import { parseManifests } from '../pods/static-pod.js';
import { readBodyCapped } from './manifest-limits.js';
import { silentLogger } from '../log.js';
import type { SourceSnapshot } from './file-source.js';

export interface UrlSourceOptions {
  url: string;
  headers?: Record<string, string>;
  nodeName: string;
  checkEveryMs?: number;
  timeoutMs?: number;
  logger?: Logger;
  onSnapshot: (snapshot: SourceSnapshot) => void;
}

export class UrlSource {
  private timer: NodeJS.Timeout | undefined;
  private lastError = '';
  private lastBody: string | undefined;
  private readonly log: Logger;

  constructor(private readonly opts: UrlSourceOptions) {
    const parsed = new URL(opts.url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`--manifest-url must be http(s), not ${parsed.protocol}`);
    this.log = (opts.logger ?? silentLogger).child({ source: 'http', url: opts.url });
  }

  async start(): Promise<void> {
    await this.poll();
    this.timer = setInterval(() => void this.poll(), this.opts.checkEveryMs ?? 20_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Fetches once; emits a snapshot when the body parsed (or changed), logs otherwise. */
  async poll(): Promise<void> {
    let body: string;
    try {
      const res = await fetch(this.opts.url, {
        headers: this.opts.headers ?? {},
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
        redirect: 'follow',
      });
      if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
      body = await readBodyCapped(res.body);
    } catch (err) {
      const msg = `cannot fetch ${this.opts.url}: ${(err as Error).message}`;
      if (msg !== this.lastError) this.log.error({ err: (err as Error).message }, 'manifest URL fetch failed; keeping the current pods');
      this.lastError = msg;
      return;
    }
    this.lastError = '';
    if (body === this.lastBody) return;
    const pods: Pod[] = [];
    const errors: string[] = [];
    if (body.trim() !== '') {
      const results = parseManifests(body, { nodeName: this.opts.nodeName, source: 'http', location: this.opts.url });
      for (const r of results) {
        if (r.ok) pods.push(r.pod);
        else errors.push(`${r.where}: ${r.error}`);
      }
      if (pods.length === 0 && errors.length > 0 && results.every((r) => !r.ok && r.error.startsWith('cannot parse'))) {
        this.log.error({ errors }, 'manifest URL body does not parse; keeping the current pods');
        return;
      }
    }
    this.lastBody = body;
    for (const e of errors) this.log.error({}, `static pod manifest refused: ${e}`);
    this.opts.onSnapshot({ source: 'http', pods, errors });
  }
}
