// secret volumes (and the secret source of projected volumes): one file per key of the secret
// (or per items[] entry, at its path), content base64-decoded, mode items[].mode, else
// defaultMode, else 0644. As upstream's MakePayload: a missing secret is an error unless the
// volume is optional (then it is empty); an items[] key the secret lacks is an error unless
// optional (then that file is skipped).
import type { Pod } from '../api/core-v1.js';
import type { Payload } from './atomic-writer.js';
import { DEFAULT_FILE_MODE } from './downward-api.js';
import { InvalidVolumeSpecError, KeyNotFoundError, ObjectNotFoundError } from './errors.js';
import type { ObjectReader, SecretObject } from './objects.js';

export interface KeyToPath {
  key: string;
  path: string;
  mode?: number;
}

export interface SecretVolumeSource {
  secretName?: string;
  items?: KeyToPath[];
  defaultMode?: number;
  optional?: boolean;
}

export function secretPayload(secret: SecretObject, items: readonly KeyToPath[] | undefined, defaultMode: number, optional: boolean): Payload {
  const data = secret.data ?? {};
  const payload: Payload = new Map();
  if (!items || items.length === 0) {
    for (const [k, v] of Object.entries(data)) payload.set(k, { data: Buffer.from(v, 'base64'), mode: defaultMode });
    return payload;
  }
  for (const item of items) {
    const v = data[item.key];
    if (v === undefined) {
      if (optional) continue;
      throw new KeyNotFoundError(`references non-existent secret key: ${item.key}`);
    }
    payload.set(item.path, { data: Buffer.from(v, 'base64'), mode: item.mode ?? defaultMode });
  }
  return payload;
}

/** The secret a source names, or an empty one when it is optional and missing. */
export async function readSecret(reader: ObjectReader, namespace: string, name: string, optional: boolean): Promise<SecretObject> {
  const secret = await reader.secret(namespace, name);
  if (secret) return secret;
  if (optional) return {};
  throw new ObjectNotFoundError('secret', name);
}

export async function secretVolumePayload(pod: Pod, source: SecretVolumeSource, reader: ObjectReader): Promise<Payload> {
  if (!source.secretName) throw new InvalidVolumeSpecError('secret volume without secretName');
  const optional = source.optional === true;
  const secret = await readSecret(reader, pod.metadata.namespace ?? 'default', source.secretName, optional);
  return secretPayload(secret, source.items, source.defaultMode ?? DEFAULT_FILE_MODE, optional);
}
