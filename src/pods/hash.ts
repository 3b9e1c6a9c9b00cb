// Stable hashing of API objects: canonical JSON (keys sorted at every level, undefined dropped)
// so equal objects hash equal whatever their key order. Used for static pod UIDs and for the
// container spec hash kept in the io.kubernetes.container.hash annotation (a changed spec
// restarts the container, as upstream).
import type { Container } from '../api/core-v1.js';

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** 32-bit FNV-1a over UTF-16 code units, as 8 hex digits. */
export function fnv1a32(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/**
 * The hash of a container spec. Upstream hashes the whole Container; so do we, minus the fields
 * that may change on a running container without a restart (resources are resized in place by
 * newer kubelets, but v1.20 restarts on them too, so they stay in).
 */
export function containerHash(c: Container): string {
  return fnv1a32(canonicalJson(c));
}
