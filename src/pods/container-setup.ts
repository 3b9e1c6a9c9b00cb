// The node-side steps of creating a container that need the runtime and run on a pool thread
// inside executeSync (sync.ts calls them; kept here so that file's hunks stay small):
//  - the managed /etc/hosts, written once the sandbox exists (its IPs are known only then);
//  - the runAsNonRoot check, which needs the image's user from ImageStatus (upstream
//    getImageUser + verifyRunAsNonRoot: an image naming no user runs as root);
//  - the node facts every container config takes (machine memory, seccomp folder, hosts file).
// Failures never throw: a missing hosts file only leaves the image's own /etc/hosts, a failed
// ImageStatus is reported as the container's CreateContainerConfigError.
import type { Container, Pod } from '../api/core-v1.js';
import type { CriClient } from '../native/cri/client.js';
import { podHostDomain, podHostname, type ContainerNodeOptions, type SandboxOptions } from './cri-config.js';
import { etcHostsPath, hostAliasesOf, managedHostsContent, nodeHostsContent, readNodeHosts, writeEtcHosts } from './etc-hosts.js';
import { needsImageUser, runAsNonRootViolation } from './security-context.js';

type CallOpts = { signal?: AbortSignal };

export function containerNodeOptions(opts: SandboxOptions, etcHosts?: string): ContainerNodeOptions {
  return {
    ...(opts.machineMemoryBytes === undefined ? {} : { machineMemoryBytes: opts.machineMemoryBytes }),
    ...(opts.seccompProfileRoot === undefined ? {} : { seccompProfileRoot: opts.seccompProfileRoot }),
    ...(etcHosts === undefined ? {} : { etcHostsPath: etcHosts }),
  };
}

/**
 * Writes `<root-dir>/pods/<uid>/etc-hosts` for the pod's sandbox, from the sandbox IPs the sync
 * already read (PodSandboxStatus of a new sandbox, the PLEG's state of an existing one);
 * undefined when it cannot (no root dir, no IP).
 */
export async function ensureEtcHosts(pod: Pod, sandboxId: string, ips: readonly string[], opts: SandboxOptions): Promise<string | undefined> {
  if (!opts.rootDir || !sandboxId) return undefined;
  try {
    const path = etcHostsPath(opts.rootDir, pod.metadata.uid ?? '');
    // Host network: upstream's syncPod gives the runtime the pod's API IPs (the node's), so it
    // mounts the node's hosts file under its own header, plus the hostAliases.
    if (pod.spec.hostNetwork) return await writeEtcHosts(path, nodeHostsContent(readNodeHosts(), hostAliasesOf(pod)));
    // Upstream mounts the hosts file only once the pod has an IP.
    if (ips.length === 0) return undefined;
    return await writeEtcHosts(path, managedHostsContent(ips, podHostname(pod), podHostDomain(pod, opts.clusterDomain), hostAliasesOf(pod)));
  } catch {
    return undefined;
  }
}

/** The CreateContainerConfigError message when runAsNonRoot forbids this container, else undefined. */
export async function checkRunAsNonRoot(cri: CriClient, pod: Pod, c: Container, callOpts: CallOpts): Promise<string | undefined> {
  if (!needsImageUser(pod, c)) return runAsNonRootViolation(pod, c, {});
  try {
    const st = await cri.ImageStatus({ image: { image: c.image ?? '' }, verbose: false }, callOpts);
    const img = st.image;
    const uid = img?.uid ? Number(img.uid.value) : undefined;
    return runAsNonRootViolation(pod, c, { ...(uid === undefined ? {} : { uid }), ...(img?.username ? { username: img.username } : {}) });
  } catch (err) {
    return `failed to get image user of "${c.image ?? ''}": ${err instanceof Error ? err.message : String(err)}`;
  }
}
