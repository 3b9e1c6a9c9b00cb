// What the kubelet knows of its node before anything runs: its name, its addresses (--node-ip,
// else the host's first non-loopback IPv4: pods' hostIP, the downward API's status.hostIP and
// the Node's InternalIP all use the same), the host's figures and the allocatable computed from
// them, the one reading that admission, resourceFieldRef defaults and the Node's status share.
import { nodeName as nodeNameOf, type KubeletConfig } from '../config/kubelet-config.js';
import { defaultNodeIP, readHostFacts, type HostFacts } from '../native/node-info.js';
import { capacityAndAllocatable } from '../cluster/node-status.js';

export interface NodeFacts {
  nodeName: string;
  nodeIPs: string[];
  host: HostFacts;
  allocatable: Record<string, string>;
}

export function nodeFacts(cfg: KubeletConfig): NodeFacts {
  const nodeIPs = cfg.nodeIP
    ? cfg.nodeIP
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
    : [defaultNodeIP() ?? '127.0.0.1'];
  const host = readHostFacts(cfg.rootDir);
  const { allocatable } = capacityAndAllocatable({
    host,
    maxPods: cfg.maxPods,
    systemReserved: cfg.systemReserved,
    kubeReserved: cfg.kubeReserved,
    evictionHard: cfg.evictionHard,
  });
  return { nodeName: nodeNameOf(cfg), nodeIPs, host, allocatable };
}
