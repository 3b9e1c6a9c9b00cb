// projected volumes: one folder holding files from several sources: secrets, configMaps, the
// downward API and service account tokens (TokenRequest, bound to the pod). As upstream's
// collectData: every source is read, failures are collected and reported together (one
// message, or `[a, b]` for several), later sources overwrite earlier files at the same path.
import type { Pod } from '../api/core-v1.js';
import type { Payload } from './atomic-writer.js';
import { configMapPayload, readConfigMap } from './configmap.js';
import { DEFAULT_FILE_MODE, downwardAPIPayload, type DownwardAPIVolumeFile } from './downward-api.js';
import { InvalidVolumeSpecError, VolumeSourcesError } from './errors.js';
import type { ObjectReader } from './objects.js';
import type { NodeAllocatable } from './resources.js';
import { readSecret, secretPayload, type KeyToPath } from './secret.js';

export const DEFAULT_TOKEN_EXPIRATION_SECONDS = 3600;

export interface ServiceAccountTokenProjection {
  audience?: string;
  expirationSeconds?: number;
  path: string;
}

export interface VolumeProjection {
  secret?: { name?: string; items?: KeyToPath[]; optional?: boolean };
  configMap?: { name?: string; items?: KeyToPath[]; optional?: boolean };
  downwardAPI?: { items?: DownwardAPIVolumeFile[] };
  serviceAccountToken?: ServiceAccountTokenProjection;
}

export interface ProjectedVolumeSource {
  sources?: VolumeProjection[];
  defaultMode?: number;
}

/** A token for the pod's service account (the volume manager caches and rotates them). */
export type TokenGetter = (req: { audiences: string[]; expirationSeconds: number }) => Promise<string>;

export async function projectedVolumePayload(
  pod: Pod,
  source: ProjectedVolumeSource,
  reader: ObjectReader,
  token: TokenGetter,
  node: NodeAllocatable,
): Promise<Payload> {
  const ns = pod.metadata.namespace ?? 'default';
  const defaultMode = source.defaultMode ?? DEFAULT_FILE_MODE;
  const payload: Payload = new Map();
  const errors: unknown[] = [];
  for (const s of source.sources ?? []) {
    try {
      if (s.secret) {
        if (!s.secret.name) throw new InvalidVolumeSpecError('projected secret source without name');
        const optional = s.secret.optional === true;
        const secret = await readSecret(reader, ns, s.secret.name, optional);
        for (const [k, v] of secretPayload(secret, s.secret.items, defaultMode, optional)) payload.set(k, v);
      } else if (s.configMap) {
        if (!s.configMap.name) throw new InvalidVolumeSpecError('projected configMap source without name');
        const optional = s.configMap.optional === true;
        const cm = await readConfigMap(reader, ns, s.configMap.name, optional);
        for (const [k, v] of configMapPayload(cm, s.configMap.items, defaultMode, optional)) payload.set(k, v);
      } else if (s.downwardAPI) {
        for (const [k, v] of downwardAPIPayload(pod, s.downwardAPI.items ?? [], defaultMode, node)) payload.set(k, v);
      } else if (s.serviceAccountToken) {
        const t = s.serviceAccountToken;
        const value = await token({ audiences: t.audience ? [t.audience] : [], expirationSeconds: t.expirationSeconds ?? DEFAULT_TOKEN_EXPIRATION_SECONDS });
        payload.set(t.path, { data: Buffer.from(value, 'utf8'), mode: defaultMode });
      }
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length === 1 && errors[0] instanceof Error) throw errors[0];
  if (errors.length > 0) throw new VolumeSourcesError(errors);
  return payload;
}
