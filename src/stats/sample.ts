// One sample of the node and its containers, every housekeeping interval on the eviction thread:
// the node's signals (node-signals.ts), the node's CPU time (the root cgroup; on the simulated
// node the sum of its containers'), the pods (ready sandboxes) and their running containers with
// ListContainerStats' figures and their log folders' sizes (the listing of pods and containers
// is kept between samples and refreshed when it falls behind). The eviction logic takes its usage
// from it (pod-usage.ts) and the stats summary is built from it (summary.ts), so the node is read
// once for both. CRI failures are a partial sample with the reason, never a throw.
import { uptime } from 'node:os';
import { join } from 'node:path';
import type { CriClient } from '../native/cri/client.js';
import { LABEL_CONTAINER_NAME, LABEL_POD_NAME, LABEL_POD_NAMESPACE, LABEL_POD_UID } from '../pods/runtime-state.js';
import { HostSignals, readSimFigures, simSignals, type NodeSignals } from './node-signals.js';
import { folderUsage, localVolumeUsage } from './pod-usage.js';
import type { ContainerSample, PodSample, StatsSample } from './summary.js';

export interface SampleOptions {
  nodeName: string;
  /** The kubelet's root dir: pods' emptyDir volumes live under it. */
  rootDir: string;
  podLogsDir: string;
  simNode: boolean;
  host: HostSignals;
  /** The pods and running containers listed last, kept between samples (see ListingCache). */
  listing: ListingCache;
}

/**
 * The ready sandboxes and running containers, listed again only when the stats name a container
 * the listing does not know, or it is older than its refresh period: at steady state a sample
 * makes one CRI list call (ListContainerStats) instead of three. A container that exited since
 * stays listed until the next refresh; its stats then carry no CPU or memory figures.
 */
export class ListingCache {
  at = 0;
  sandboxes: Awaited<ReturnType<CriClient['ListPodSandbox']>>['items'] = [];
  containers: Awaited<ReturnType<CriClient['ListContainers']>>['containers'] = [];
  private ids = new Set<string>();
  constructor(readonly refreshMs = 30_000) {}

  stale(now: number, statIds: readonly string[]): boolean {
    return now - this.at >= this.refreshMs || statIds.some((id) => id !== '' && !this.ids.has(id));
  }

  async refresh(cri: CriClient, now: number): Promise<void> {
    const [sandboxes, containers] = await Promise.all([
      cri.ListPodSandbox({ filter: { state: { state: 'SANDBOX_READY' } } }, { timeoutMs: 10_000 }),
      cri.ListContainers({}, { timeoutMs: 10_000 }),
    ]);
    this.sandboxes = sandboxes.items;
    // Every container is known (so an exited one does not force a refresh), the running ones sampled.
    this.ids = new Set(containers.containers.map((c) => c.id));
    this.containers = containers.containers.filter((c) => c.state === 'CONTAINER_RUNNING');
    this.at = now;
  }
}

const msOf = (ns: number | string | undefined): number => Math.floor(Number(ns ?? 0) / 1e6);

export async function readStatsSample(cri: CriClient | undefined, o: SampleOptions): Promise<{ sample: StatsSample; node: NodeSignals }> {
  const at = Date.now();
  const node = o.simNode ? simSignals(cri ? await readSimFigures(cri) : { ok: false, error: 'no container runtime' }) : await o.host.read();
  const sample: StatsSample = { at, nodeName: o.nodeName, bootMs: at - uptime() * 1000, pods: [], containers: [] };
  if (node.memory) sample.memory = node.memory;
  if (node.nodefs) sample.nodefs = node.nodefs;
  if (node.imagefs) sample.imagefs = node.imagefs;
  if (node.pids) sample.pids = node.pids;
  if (!o.simNode) {
    const cpu = o.host.cgroups.cpu('/');
    if (cpu.ok) sample.nodeCpuNs = cpu.value.usageCoreNanoSeconds;
  }
  if (!cri) {
    sample.containerError = 'no container runtime';
    return { sample, node };
  }
  try {
    const stats = await cri.ListContainerStats({}, { timeoutMs: 10_000 });
    if (
      o.listing.stale(
        at,
        stats.stats.map((x) => x.attributes?.id ?? ''),
      )
    )
      await o.listing.refresh(cri, at);
    const pods = new Map<string, PodSample>();
    for (const sb of o.listing.sandboxes) {
      const uid = sb.labels[LABEL_POD_UID] ?? sb.metadata?.uid;
      if (!uid || pods.has(uid)) continue;
      pods.set(uid, { uid, name: sb.metadata?.name ?? '', namespace: sb.metadata?.namespace ?? '', createdAtMs: msOf(sb.createdAt) });
    }
    const byId = new Map(stats.stats.map((s) => [s.attributes?.id ?? '', s]));
    let cpuSum: number | undefined;
    for (const c of o.listing.containers) {
      const uid = c.labels[LABEL_POD_UID];
      const name = c.labels[LABEL_CONTAINER_NAME] ?? c.metadata?.name;
      if (!uid || !name) continue;
      const ns = c.labels[LABEL_POD_NAMESPACE] ?? pods.get(uid)?.namespace ?? '';
      const podName = c.labels[LABEL_POD_NAME] ?? pods.get(uid)?.name ?? '';
      const cs: ContainerSample = { id: c.id, name, podUid: uid, podName, podNamespace: ns, createdAtMs: msOf(c.createdAt) };
      const st = byId.get(c.id);
      const cpu = st?.cpu?.usageCoreNanoSeconds?.value;
      if (cpu !== undefined) {
        cs.cpuNs = Number(cpu);
        cpuSum = (cpuSum ?? 0) + cs.cpuNs;
      }
      const ws = st?.memory?.workingSetBytes?.value;
      if (ws !== undefined) cs.memoryWorkingSetBytes = Number(ws);
      if (st?.writableLayer?.usedBytes) cs.rootfsBytes = Number(st.writableLayer.usedBytes.value);
      if (st?.writableLayer?.inodesUsed) cs.rootfsInodes = Number(st.writableLayer.inodesUsed.value);
      const logs = folderUsage(join(o.podLogsDir, `${ns}_${podName}_${uid}`, name));
      cs.logsBytes = logs.bytes;
      cs.logsInodes = logs.inodes;
      sample.containers.push(cs);
      if (!pods.has(uid)) pods.set(uid, { uid, name: podName, namespace: ns, createdAtMs: cs.createdAtMs });
    }
    sample.pods = [...pods.values()];
    for (const p of sample.pods) {
      const v = localVolumeUsage(o.rootDir, p.uid);
      p.volumesBytes = v.bytes;
      p.volumesInodes = v.inodes;
    }
    // A simulated node has no kernel to ask: its CPU time is what its containers used.
    if (o.simNode) sample.nodeCpuNs = cpuSum ?? 0;
  } catch (err) {
    sample.containerError = (err as Error).message;
  }
  return { sample, node };
}
