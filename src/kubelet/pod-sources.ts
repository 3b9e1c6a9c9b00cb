// Where pods come from, merged: the static pod folder, the static pod URL, pods submitted to
// this node's API (kept under the root dir) and, in cluster mode, the API server (its source
// lives in cluster mode and delivers through `apply`). Pod config merges them per source; each
// change goes out on pod.update. A pod the node will not run is refused with a log line and, for
// an API pod, a FailedValidation event on the pod.
// Owns: pod config, the static sources and the desired-pods gauge.
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { KubeletConfig } from '../config/kubelet-config.js';
import type { KubeletMetrics } from '../metrics/kubelet-metrics.js';
import type { Bus } from '../bus/index.js';
import { PodConfig } from '../pods/pod-config.js';
import { FileSource, type SourceSnapshot } from '../sources/file-source.js';
import { UrlSource } from '../sources/url-source.js';
import { SubmitSource, SUBMIT_SOURCE } from '../sources/submit-source.js';
import { API_SOURCE } from '../sources/api-source.js';
import type { PublishPodEvent } from './pod-events.js';

export interface PodSources {
  podConfig: PodConfig;
  submitSource: SubmitSource;
  /** Applies a source's change set: refusals reported, changes published on pod.update. */
  apply: (result: ReturnType<PodConfig['set']>) => void;
  /** Every static source (file, URL, submitted) has delivered its first set. */
  staticSourcesReady: () => boolean;
  start(): Promise<void>;
  stop(): void;
}

export function podSources(d: {
  cfg: KubeletConfig;
  nodeName: string;
  bus: Bus;
  metrics: KubeletMetrics;
  publishPodEvent: PublishPodEvent;
  /** A static source delivered (mirror pods follow). */
  onStaticChange(): void;
  logger: Logger;
}): PodSources {
  const { cfg, nodeName, bus, metrics } = d;
  const log = d.logger;
  const sources = [
    ...['file', 'http'].filter((s) => (s === 'file' ? cfg.staticPodPath : cfg.staticPodURL)),
    SUBMIT_SOURCE,
    ...(cfg.kubeconfig ? [API_SOURCE] : []),
  ];
  const podConfig = new PodConfig(sources);
  const apply = ({ changes, refused }: ReturnType<PodConfig['set']>): void => {
    for (const r of refused) {
      log.error({ source: r.source, pod: r.fullName, uid: r.uid }, `pod refused: ${r.reason}`);
      // An API pod the node will not run (its fields cannot name host folders): say so on the pod, as upstream's FailedValidation.
      if (r.pod && r.source === API_SOURCE)
        d.publishPodEvent(r.pod, {
          type: 'Warning',
          reason: 'FailedValidation',
          message: `Error validating pod ${r.fullName} from ${r.source}, ignoring: ${r.reason}`,
        });
    }
    for (const c of changes) bus.publish('pod.update', { type: c.op, pod: c.pod, source: c.source });
    const apiPods = podConfig.sizeOf(API_SOURCE);
    metrics.desiredPods.set({ static: 'true' }, podConfig.size - apiPods);
    metrics.desiredPods.set({ static: 'false' }, apiPods);
  };
  const onSnapshot = (snap: SourceSnapshot): void => {
    apply(podConfig.set(snap.source, snap.pods));
    d.onStaticChange();
  };
  const fileSource = cfg.staticPodPath
    ? new FileSource({ path: cfg.staticPodPath, nodeName, checkEveryMs: cfg.fileCheckFrequency, logger: log, onSnapshot })
    : undefined;
  const urlSource = cfg.staticPodURL
    ? new UrlSource({ url: cfg.staticPodURL, headers: cfg.staticPodURLHeader, nodeName, checkEveryMs: cfg.httpCheckFrequency, logger: log, onSnapshot })
    : undefined;
  const submitSource = new SubmitSource({ file: join(cfg.rootDir, 'submitted-pods.json'), nodeName, onSnapshot, logger: log });
  return {
    podConfig,
    submitSource,
    apply,
    staticSourcesReady: () => sources.filter((s) => s !== API_SOURCE).every((s) => podConfig.hasSpoken(s)),
    start: async () => {
      submitSource.start();
      await fileSource?.start();
      await urlSource?.start();
    },
    stop: () => {
      fileSource?.stop();
      urlSource?.stop();
    },
  };
}
