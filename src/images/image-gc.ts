// Image garbage collection as upstream's image manager decides it (pure; kubelet/image-gc.ts runs
// it against the runtime):
//  - every image the runtime lists gets a record: when it was first seen and when it was last in
//    use (any container, running or exited, refers to it), and its size;
//  - when the image filesystem is at or above imageGCHighThresholdPercent, enough is freed to
//    bring it down to imageGCLowThresholdPercent;
//  - the eviction watcher's node-level reclaim frees all it can (DeleteUnusedImages);
//  - candidates are the images not in use, not pinned, not the sandbox image and older than
//    imageMinimumGCAge since first seen; least recently used first, then the first seen first.

export interface ListedImage {
  id: string;
  /** Tags and digests (the sandbox image is kept by any of its names). */
  names: string[];
  sizeBytes: number;
  pinned: boolean;
}

export interface ImageRecord {
  firstDetected: number;
  lastUsed: number;
  sizeBytes: number;
}

export interface ImageGcPolicy {
  highThresholdPercent: number;
  lowThresholdPercent: number;
  minAgeMs: number;
}

/** The bytes to free to reach the low threshold, or 0 when usage is below the high one (upstream). */
export function bytesToFree(capacityBytes: number, availableBytes: number, p: ImageGcPolicy): number {
  if (capacityBytes <= 0) return 0;
  const usagePercent = 100 - Math.floor((availableBytes * 100) / capacityBytes);
  if (usagePercent < p.highThresholdPercent) return 0;
  return Math.max(0, Math.floor((capacityBytes * (100 - p.lowThresholdPercent)) / 100) - availableBytes);
}

/**
 * Updates `records` from a listing: new images are first seen now, images in use were last used
 * now, images gone are forgotten. Returns the records (the same map).
 */
export function detectImages(
  records: Map<string, ImageRecord>,
  images: readonly ListedImage[],
  inUse: ReadonlySet<string>,
  now: number,
): Map<string, ImageRecord> {
  const listed = new Set<string>();
  for (const img of images) {
    listed.add(img.id);
    const r = records.get(img.id);
    if (!r) records.set(img.id, { firstDetected: now, lastUsed: inUse.has(img.id) ? now : 0, sizeBytes: img.sizeBytes });
    else {
      r.sizeBytes = img.sizeBytes;
      if (inUse.has(img.id)) r.lastUsed = now;
    }
  }
  for (const id of [...records.keys()]) if (!listed.has(id)) records.delete(id);
  return records;
}

export interface RemovalPlan {
  remove: { id: string; sizeBytes: number }[];
  /** What the plan frees (its images' sizes). */
  freesBytes: number;
  /** Images kept, by why: in use, pinned, the sandbox image, too young. */
  kept: { inUse: number; pinned: number; sandbox: number; young: number };
}

/** The images to remove to free `want` bytes (Infinity: every candidate), in upstream's order. */
export function planImageRemoval(
  records: ReadonlyMap<string, ImageRecord>,
  images: readonly ListedImage[],
  inUse: ReadonlySet<string>,
  sandboxImage: string,
  want: number,
  now: number,
  minAgeMs: number,
): RemovalPlan {
  const kept = { inUse: 0, pinned: 0, sandbox: 0, young: 0 };
  const candidates: { id: string; rec: ImageRecord }[] = [];
  for (const img of images) {
    const rec = records.get(img.id);
    if (!rec) continue;
    if (inUse.has(img.id)) kept.inUse++;
    else if (img.pinned) kept.pinned++;
    else if (img.names.some((n) => sameImage(n, sandboxImage))) kept.sandbox++;
    else if (now - rec.firstDetected < minAgeMs) kept.young++;
    else candidates.push({ id: img.id, rec });
  }
  candidates.sort((a, b) => a.rec.lastUsed - b.rec.lastUsed || a.rec.firstDetected - b.rec.firstDetected || a.id.localeCompare(b.id));
  const remove: RemovalPlan['remove'] = [];
  let freesBytes = 0;
  for (const c of candidates) {
    if (freesBytes >= want) break;
    remove.push({ id: c.id, sizeBytes: c.rec.sizeBytes });
    freesBytes += c.rec.sizeBytes;
  }
  return { remove, freesBytes, kept };
}

/** "pause:3.9" and "registry.k8s.io/pause:3.9" name the same image when one is the other's short form. */
function sameImage(name: string, ref: string): boolean {
  if (!ref) return false;
  if (name === ref) return true;
  const strip = (s: string): string => s.replace(/^(docker\.io\/)?(library\/)?/, '');
  return strip(name) === strip(ref);
}
