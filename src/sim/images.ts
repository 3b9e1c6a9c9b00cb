// The simulated image store: what ListImages, ImageStatus, PullImage, RemoveImage and
// ImageFsInfo answer, and what CreateContainer resolves its image against. Names are
// normalized as containerd does (`busybox` is `docker.io/library/busybox:latest`); IDs and
// digests are derived from the name, so the same image has the same ID on every run.
import { createHash } from 'node:crypto';

export interface ImageSpecOption {
  name: string;
  /** Uncompressed size in bytes (default: 4 MiB). */
  sizeBytes?: number;
}

export interface PullFailureRule {
  /** Glob over the normalized reference (`*` any run of characters), or /regex/. */
  pattern: string;
  /** gRPC status name (default NOT_FOUND, as containerd answers for an unknown reference). */
  code?: string;
  message?: string;
}

export interface SimImage {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: number;
}

/** Images a fresh sim holds: the names the tests, benchmarks and a default kubelet use. */
export const DEFAULT_IMAGES: readonly ImageSpecOption[] = [
  { name: 'docker.io/library/busybox:1.35', sizeBytes: 1_464_447 },
  { name: 'docker.io/library/busybox:latest', sizeBytes: 1_464_447 },
  { name: 'registry.k8s.io/pause:3.9', sizeBytes: 321_520 },
  { name: 'registry.k8s.io/pause:3.6', sizeBytes: 301_773 },
];

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** containerd's reference normalization: docker.io/library/NAME:latest for short names. */
export function normalizeImageRef(ref: string): string {
  let name = ref.trim();
  if (name.startsWith('sha256:')) return name;
  const firstSlash = name.indexOf('/');
  const first = firstSlash < 0 ? '' : name.slice(0, firstSlash);
  const hasRegistry = firstSlash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!hasRegistry) name = `docker.io/${firstSlash < 0 ? `library/${name}` : name}`;
  const lastSlash = name.lastIndexOf('/');
  const tail = name.slice(lastSlash + 1);
  if (!tail.includes(':') && !tail.includes('@')) name = `${name}:latest`;
  return name;
}

function repoOf(normalized: string): string {
  const at = normalized.indexOf('@');
  if (at >= 0) return normalized.slice(0, at);
  const colon = normalized.lastIndexOf(':');
  return colon > normalized.lastIndexOf('/') ? normalized.slice(0, colon) : normalized;
}

function globToRegExp(pattern: string): RegExp {
  const m = /^\/(.*)\/([a-z]*)$/.exec(pattern);
  if (m) return new RegExp(m[1] ?? '', m[2]);
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

export class ImageStore {
  private readonly byId = new Map<string, SimImage>();
  /** Tag or digest reference -> image ID. */
  private readonly byRef = new Map<string, string>();
  private failures: { re: RegExp; rule: PullFailureRule }[] = [];

  constructor(preload: readonly ImageSpecOption[] = DEFAULT_IMAGES) {
    for (const img of preload) this.add(img.name, img.sizeBytes);
  }

  setPullFailures(rules: readonly PullFailureRule[]): void {
    this.failures = rules.map((rule) => ({ re: globToRegExp(rule.pattern), rule }));
  }

  /** The failure rule that matches this reference, if any. */
  pullFailure(ref: string): PullFailureRule | undefined {
    const normalized = normalizeImageRef(ref);
    return this.failures.find((f) => f.re.test(normalized) || f.re.test(ref))?.rule;
  }

  /** Adds (or re-tags) an image; returns it. */
  add(ref: string, sizeBytes = 4 * 1024 * 1024): SimImage {
    const normalized = normalizeImageRef(ref);
    const existing = this.resolve(normalized);
    if (existing) return existing;
    const repo = repoOf(normalized);
    const digest = `sha256:${sha256(`manifest:${normalized}`)}`;
    const image: SimImage = {
      id: `sha256:${sha256(`config:${normalized}`)}`,
      repoTags: normalized.includes('@') ? [] : [normalized],
      repoDigests: [`${repo}@${digest}`],
      size: sizeBytes,
    };
    this.byId.set(image.id, image);
    for (const r of [...image.repoTags, ...image.repoDigests]) this.byRef.set(r, image.id);
    return image;
  }

  /** Finds an image by tag, digest reference, full ID or ID without `sha256:`. */
  resolve(ref: string): SimImage | undefined {
    if (ref === '') return undefined;
    const byId = this.byId.get(ref) ?? this.byId.get(`sha256:${ref}`);
    if (byId) return byId;
    const id = this.byRef.get(normalizeImageRef(ref));
    return id === undefined ? undefined : this.byId.get(id);
  }

  remove(ref: string): boolean {
    const image = this.resolve(ref);
    if (!image) return false;
    this.byId.delete(image.id);
    for (const r of [...image.repoTags, ...image.repoDigests]) this.byRef.delete(r);
    return true;
  }

  list(): SimImage[] {
    return [...this.byId.values()];
  }

  get totalBytes(): number {
    let n = 0;
    for (const i of this.byId.values()) n += i.size;
    return n;
  }

  get count(): number {
    return this.byId.size;
  }
}
