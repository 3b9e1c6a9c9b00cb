// downwardAPI volumes (and the downwardAPI source of projected volumes): files holding the pod's
// own fields (metadata.name, namespace, uid, labels, annotations, one label or annotation) and
// its containers' resources. labels and annotations are formatted as upstream's formatMap:
// `key="value"` lines sorted by key, values quoted as Go's %q, no trailing newline.
// Pure: the pod comes in, a payload comes out; the volume manager writes it.
import type { Pod } from '../api/core-v1.js';
import type { Payload } from './atomic-writer.js';
import { InvalidVolumeSpecError } from './errors.js';
import { resourceFieldValue, type NodeAllocatable, type ResourceFieldSelector } from './resources.js';

export const DEFAULT_FILE_MODE = 0o644;

export interface DownwardAPIVolumeFile {
  path: string;
  fieldRef?: { fieldPath: string; apiVersion?: string };
  resourceFieldRef?: ResourceFieldSelector;
  mode?: number;
}

export interface DownwardAPIVolumeSource {
  items?: DownwardAPIVolumeFile[];
  defaultMode?: number;
}

/** Go's strconv.Quote, for the characters label and annotation values can hold. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    switch (ch) {
      case '"':
        out += '\\"';
        continue;
      case '\\':
        out += '\\\\';
        continue;
      case '\x07':
        out += '\\a';
        continue;
      case '\b':
        out += '\\b';
        continue;
      case '\f':
        out += '\\f';
        continue;
      case '\n':
        out += '\\n';
        continue;
      case '\r':
        out += '\\r';
        continue;
      case '\t':
        out += '\\t';
        continue;
      case '\v':
        out += '\\v';
        continue;
    }
    if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c >= 0x80 && c < 0xa0) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** Upstream formatMap: sorted `key="value"` lines. */
export function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${goQuote(m?.[k] ?? '')}`)
    .join('\n');
}

const SUBSCRIPT = /^metadata\.(labels|annotations)\['(.+)'\]$/;

/**
 * The pod metadata fields both the downward API volume and env read (name, namespace, uid, one
 * label or annotation by key); undefined for any other path.
 */
export function podMetadataField(pod: Pod, fieldPath: string): string | undefined {
  const m = SUBSCRIPT.exec(fieldPath);
  if (m) return (m[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations)?.[m[2] ?? ''] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return pod.metadata.name ?? '';
    case 'metadata.namespace':
      return pod.metadata.namespace ?? 'default';
    case 'metadata.uid':
      return pod.metadata.uid ?? '';
    default:
      return undefined;
  }
}

/** The value of a fieldRef as the downward API volume serves it. */
export function volumeFieldValue(pod: Pod, fieldPath: string): string {
  const common = podMetadataField(pod, fieldPath);
  if (common !== undefined) return common;
  switch (fieldPath) {
    case 'metadata.labels':
      return formatMap(pod.metadata.labels);
    case 'metadata.annotations':
      return formatMap(pod.metadata.annotations);
    default:
      throw new InvalidVolumeSpecError(`unsupported fieldPath: ${fieldPath}`);
  }
}

/** The files of a downwardAPI item list (also used by projected volumes). */
export function downwardAPIPayload(pod: Pod, items: readonly DownwardAPIVolumeFile[], defaultMode: number, node: NodeAllocatable): Payload {
  const payload: Payload = new Map();
  for (const item of items) {
    let value: string;
    if (item.fieldRef) {
      value = volumeFieldValue(pod, item.fieldRef.fieldPath);
    } else if (item.resourceFieldRef) {
      const name = item.resourceFieldRef.containerName;
      const container = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find((c) => c.name === name);
      if (!container) throw new InvalidVolumeSpecError(`container ${name ?? '""'} not found in pod for resourceFieldRef of ${item.path}`);
      value = resourceFieldValue(container, item.resourceFieldRef, node);
    } else {
      throw new InvalidVolumeSpecError(`downwardAPI item ${item.path} has neither fieldRef nor resourceFieldRef`);
    }
    payload.set(item.path, { data: Buffer.from(value, 'utf8'), mode: item.mode ?? defaultMode });
  }
  return payload;
}

export function downwardAPIVolumePayload(pod: Pod, source: DownwardAPIVolumeSource, node: NodeAllocatable): Payload {
  return downwardAPIPayload(pod, source.items ?? [], source.defaultMode ?? DEFAULT_FILE_MODE, node);
}
