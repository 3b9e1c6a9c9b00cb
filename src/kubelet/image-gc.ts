// Image GC against the runtime, as upstream's image manager runs it: every 5 minutes the images
// and containers are listed (records: first seen, last used), and when the image filesystem is at
// or above imageGCHighThresholdPercent the least recently used unused images are removed until
// it is down to imageGCLowThresholdPercent; the eviction watcher's node-level reclaim for disk
// removes every unused image (deleteUnused). What to remove is images/image-gc.ts's decision.
// Failing to free enough is a Warning FreeDiskSpaceFailed on the node, failing twice in a row an
// ImageGCFailed (upstream: the first failure may be stats not yet ready). Rounds never overlap.
import type { Logger } from 'pino';
import type { CriClient } from '../native/cri/client.js';
import type { Reading } from '../native/stats/reading.js';
import { bytesToFree, detectImages, planImageRemoval, type ImageGcPolicy, type ImageRecord, type ListedImage } from '../images/image-gc.js';

/** Upstream ImageGCPeriod. */
export const IMAGE_GC_PERIOD_MS = 5 * 60_000;

export interface ImageGcOptions {
  cri: CriClient;
  policy: ImageGcPolicy;
  /** Kept whatever its use (the pause image). */
  sandboxImage: string;
  /** Capacity and available bytes of the image filesystem. */
  imageFs(): Promise<Reading<{ capacityBytes: number; availableBytes: number }>>;
  /** A Warning event on the Node (the cluster parts record it). */
  nodeEvent(reason: string, message: string): void;
  logger: Logger;
  periodMs?: number;
  now?: () => number;
}

export interface ImageGcResult {
  wanted: number;
  freed: number;
  removed: string[];
}

export class ImageGc {
  readonly records = new Map<string, ImageRecord>();
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private failedBefore = false;
  private readonly now: () => number;

  constructor(private readonly o: ImageGcOptions) {
    this.now = o.now ?? Date.now;
  }

  start(): void {
    void this.serial(() => this.detect());
    this.timer = setInterval(() => void this.round(), this.o.periodMs ?? IMAGE_GC_PERIOD_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Lists images and containers and updates the records; returns what it listed. */
  private async detect(): Promise<{ images: ListedImage[]; inUse: Set<string> }> {
    const [listed, containers] = await Promise.all([this.o.cri.ListImages({}, { timeoutMs: 30_000 }), this.o.cri.ListContainers({}, { timeoutMs: 30_000 })]);
    const images: ListedImage[] = listed.images.map((i) => ({
      id: i.id,
      names: [...i.repoTags, ...i.repoDigests],
      sizeBytes: Number(i.size ?? 0),
      pinned: false,
    }));
    // Any container, running or exited, holds its image (upstream: GetPods(all)).
    const byRef = new Map<string, string>();
    for (const i of images) {
      byRef.set(i.id, i.id);
      for (const n of i.names) byRef.set(n, i.id);
    }
    const inUse = new Set<string>();
    for (const c of containers.containers) {
      const id = byRef.get(c.imageRef) ?? byRef.get(c.image?.image ?? '');
      if (id) inUse.add(id);
    }
    detectImages(this.records, images, inUse, this.now());
    return { images, inUse };
  }

  private async remove(want: number): Promise<ImageGcResult> {
    const { images, inUse } = await this.detect();
    const plan = planImageRemoval(this.records, images, inUse, this.o.sandboxImage, want, this.now(), this.o.policy.minAgeMs);
    const removed: string[] = [];
    let freed = 0;
    for (const img of plan.remove) {
      try {
        await this.o.cri.RemoveImage({ image: { image: img.id } }, { timeoutMs: 60_000 });
        removed.push(img.id);
        freed += img.sizeBytes;
        this.records.delete(img.id);
      } catch (err) {
        this.o.logger.warn({ image: img.id, err: (err as Error).message }, 'image GC could not remove an image');
      }
    }
    if (removed.length > 0) this.o.logger.info({ removed: removed.length, freedBytes: freed, kept: plan.kept }, 'image GC removed unused images');
    return { wanted: want, freed, removed };
  }

  /** One threshold round (every period). Resolves to what it did; never rejects. */
  round(): Promise<ImageGcResult | undefined> {
    return this.serial(async () => {
      try {
        const fs = await this.o.imageFs();
        if (!fs.ok) throw new Error(`image filesystem stats: ${fs.error}`);
        const want = bytesToFree(fs.value.capacityBytes, fs.value.availableBytes, this.o.policy);
        if (want === 0) {
          await this.detect();
          this.failedBefore = false;
          return { wanted: 0, freed: 0, removed: [] };
        }
        const r = await this.remove(want);
        if (r.freed < want) {
          const message = `failed to garbage collect required amount of images. Wanted to free ${want} bytes, but freed ${r.freed} bytes`;
          this.o.nodeEvent('FreeDiskSpaceFailed', message);
          throw new Error(message);
        }
        this.failedBefore = false;
        return r;
      } catch (err) {
        const message = (err as Error).message;
        if (this.failedBefore) this.o.nodeEvent('ImageGCFailed', message);
        this.o.logger.error({ err: message, again: this.failedBefore }, 'image garbage collection failed');
        this.failedBefore = true;
        return undefined;
      }
    });
  }

  /** Every unused image old enough (the eviction watcher's node-level reclaim); resolves to the bytes freed. */
  deleteUnused(): Promise<number> {
    return this.serial(async () => (await this.remove(Number.POSITIVE_INFINITY)).freed);
  }
}
