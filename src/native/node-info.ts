// What the node reports about its host: machine and boot IDs, kernel and OS image, CPU, memory,
// ephemeral storage, addresses. Read from /proc, /etc and /sys as upstream's cadvisor-backed
// machine info does; each reader tolerates a missing file (containers and VMs lack some), so a
// node always registers, with '' where the host does not say.
import { readFileSync, statfsSync } from 'node:fs';
import { cpus, hostname, networkInterfaces, release } from 'node:os';

function readTrim(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

export interface HostFacts {
  machineID: string;
  systemUUID: string;
  bootID: string;
  kernelVersion: string;
  osImage: string;
  architecture: string;
  operatingSystem: string;
  cpuCores: number;
  memoryBytes: number;
  /** Capacity of the filesystem holding the root dir, and its free bytes. */
  ephemeralStorageBytes: number;
  hostname: string;
}

function osImage(): string {
  const text = readTrim('/etc/os-release');
  const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text);
  return m?.[1] ?? 'Linux';
}

function memTotal(): number {
  const m = /^MemTotal:\s+(\d+)\s+kB$/m.exec(readTrim('/proc/meminfo'));
  return m?.[1] ? Number(m[1]) * 1024 : 0;
}

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', ia32: '386' };

export function readHostFacts(rootDir: string): HostFacts {
  let ephemeral: number;
  try {
    const s = statfsSync(rootDir);
    ephemeral = s.blocks * s.bsize;
  } catch {
    try {
      const s = statfsSync('/');
      ephemeral = s.blocks * s.bsize;
    } catch {
      ephemeral = 0;
    }
  }
  return {
    machineID: readTrim('/etc/machine-id') || readTrim('/var/lib/dbus/machine-id'),
    systemUUID: readTrim('/sys/class/dmi/id/product_uuid') || readTrim('/etc/machine-id'),
    bootID: readTrim('/proc/sys/kernel/random/boot_id'),
    kernelVersion: release(),
    osImage: osImage(),
    architecture: ARCH[process.arch] ?? process.arch,
    operatingSystem: 'linux',
    cpuCores: cpus().length,
    memoryBytes: memTotal(),
    ephemeralStorageBytes: ephemeral,
    hostname: hostname().toLowerCase(),
  };
}

/** The first non-loopback IPv4 address of the host: the node's InternalIP when --node-ip is empty. */
export function defaultNodeIP(): string | undefined {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}
