// configMap volumes (and the configMap source of projected volumes): one file per key of data
// and binaryData (or per items[] entry), binaryData base64-decoded, modes as secret volumes. As
// upstream's MakePayload: a missing configMap is an error unless optional (then empty); an
// items[] key found in neither map is an error unless optional (then skipped).
import type { Pod } from '../api/core-v1.js';
import type { Payload } from './atomic-writer.js';
import { DEFAULT_FILE_MODE } from './downward-api.js';
import { InvalidVolumeSpecError, KeyNotFoundError, ObjectNotFoundError } from './errors.js';
import type { ConfigMapObject, ObjectReader } from './objects.js';
import type { KeyToPath } from './secret.js';

export interface ConfigMapVolumeSource {
  name?: string;
  items?: KeyToPath[];
  defaultMode?: number;
  optional?: boolean;
}

export function configMapPayload(cm: ConfigMapObject, items: readonly KeyToPath[] | undefined, defaultMode: number, optional: boolean): Payload {
  const data = cm.data ?? {};
  const binary = cm.binaryData ?? {};
  const payload: Payload = new Map();
  if (!items || items.length === 0) {
    for (const [k, v] of Object.entries(data)) payload.set(k, { data: Buffer.from(v, 'utf8'), mode: defaultMode });
    for (const [k, v] of Object.entries(binary)) payload.set(k, { data: Buffer.from(v, 'base64'), mode: defaultMode });
    return payload;
  }
  for (const item of items) {
    const text = data[item.key];
    const bin = binary[item.key];
    let content: Buffer;
    if (text !== undefined) content = Buffer.from(text, 'utf8');
    else if (bin !== undefined) content = Buffer.from(bin, 'base64');
    else {
      if (optional) continue;
      throw new KeyNotFoundError(`configmap references non-existent config key: ${item.key}`);
    }
    payload.set(item.path, { data: content, mode: item.mode ?? defaultMode });
  }
  return payload;
}

export async function readConfigMap(reader: ObjectReader, namespace: string, name: string, optional: boolean): Promise<ConfigMapObject> {
  const cm = await reader.configMap(namespace, name);
  if (cm) return cm;
  if (optional) return {};
  throw new ObjectNotFoundError('configmap', name);
}

export async function configMapVolumePayload(pod: Pod, source: ConfigMapVolumeSource, reader: ObjectReader): Promise<Payload> {
  if (!source.name) throw new InvalidVolumeSpecError('configMap volume without name');
  const optional = source.optional === true;
  const cm = await readConfigMap(reader, pod.metadata.namespace ?? 'default', source.name, optional);
  return configMapPayload(cm, source.items, source.defaultMode ?? DEFAULT_FILE_MODE, optional);
}
