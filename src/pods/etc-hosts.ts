// The kubelet-managed /etc/hosts of a pod, as upstream writes it to `<root-dir>/pods/<uid>/etc-hosts`
// and bind-mounts into every container: localhost entries, the pod's IPs with its hostname (the
// FQDN first when a subdomain is set), then the hostAliases. A hostNetwork pod gets the node's
// own /etc/hosts under a header of its own, plus its hostAliases (upstream v1.20 mounts it for
// host-network pods too: their IPs are the node's).
//
// The content is pure; writeEtcHosts runs on a pool thread after the sandbox exists (the pod IPs
// are known only then), as upstream makes it when it creates each container.
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Pod } from '../api/core-v1.js';
import { podDir } from '../volumes/paths.js';
import { joinUnder } from '../util/safe-path.js';

export interface HostAlias {
  ip: string;
  hostnames?: string[];
}

export const MANAGED_HOSTS_HEADER = '# Kubernetes-managed hosts file.\n';
export const MANAGED_HOSTS_HEADER_HOST_NETWORK = '# Kubernetes-managed hosts file (host network).\n';

export function hostAliasesOf(pod: Pod): HostAlias[] {
  return (pod.spec['hostAliases'] ?? []) as HostAlias[];
}

function aliasEntries(aliases: readonly HostAlias[]): string {
  if (aliases.length === 0) return '';
  return `\n# Entries added by HostAliases.\n${aliases.map((a) => `${a.ip}\t${(a.hostnames ?? []).join('\t')}\n`).join('')}`;
}

/** Upstream managedHostsFileContent. */
export function managedHostsContent(podIPs: readonly string[], hostname: string, hostDomain: string, aliases: readonly HostAlias[]): string {
  let out = MANAGED_HOSTS_HEADER;
  out += '127.0.0.1\tlocalhost\n';
  out += '::1\tlocalhost ip6-localhost ip6-loopback\n';
  out += 'fe00::0\tip6-localnet\n';
  out += 'fe00::0\tip6-mcastprefix\n';
  out += 'fe00::1\tip6-allnodes\n';
  out += 'fe00::2\tip6-allrouters\n';
  for (const ip of podIPs) out += hostDomain ? `${ip}\t${hostname}.${hostDomain}\t${hostname}\n` : `${ip}\t${hostname}\n`;
  return out + aliasEntries(aliases);
}

/** Upstream nodeHostsFileContent: the node's hosts file, for hostNetwork pods. */
export function nodeHostsContent(nodeHosts: string, aliases: readonly HostAlias[]): string {
  return MANAGED_HOSTS_HEADER_HOST_NETWORK + nodeHosts + aliasEntries(aliases);
}

/** Throws UnsafePathError for a UID that is no plain path component (it would leave <root-dir>/pods). */
export function etcHostsPath(rootDir: string, uid: string): string {
  return joinUnder(podDir(rootDir, uid), ['etc-hosts']);
}

/** Writes the pod's hosts file (mode 0644, as upstream) and returns its path. */
export async function writeEtcHosts(path: string, content: string): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content, { mode: 0o644 });
  return path;
}

export function readNodeHosts(path = '/etc/hosts'): string {
  return readFileSync(path, 'utf8');
}
