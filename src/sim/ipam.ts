// Pod IP addresses for simulated sandboxes, from an IPv4 CIDR as the CNI bridge plugin with
// host-local IPAM hands them out: the network address and the gateway (.1) are never given,
// addresses go out in order and come back on StopPodSandbox / RemovePodSandbox.
export class IpPool {
  readonly cidr: string;
  private readonly base: number;
  private readonly size: number;
  private readonly used = new Set<number>();
  private cursor = 2;

  constructor(cidr: string) {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr.trim());
    const octets = m ? m.slice(1, 5).map(Number) : [];
    const bits = Number(m?.[5]);
    if (!m || octets.some((o) => o > 255) || bits < 8 || bits > 30) {
      throw new Error(`invalid pod CIDR ${JSON.stringify(cidr)}: expected an IPv4 CIDR from /8 to /30, e.g. 10.88.0.0/16`);
    }
    const addr = octets.reduce((a, o) => a * 256 + o, 0);
    this.size = 2 ** (32 - bits);
    this.base = addr - (addr % this.size);
    this.cidr = `${IpPool.format(this.base)}/${bits}`;
  }

  static format(n: number): string {
    return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
  }

  get inUse(): number {
    return this.used.size;
  }

  /** Usable addresses: all but network, gateway and broadcast. */
  get capacity(): number {
    return this.size - 3;
  }

  /** The next free address, or undefined when the range is exhausted. */
  allocate(): string | undefined {
    if (this.used.size >= this.capacity) return undefined;
    for (;;) {
      if (this.cursor >= this.size - 1) this.cursor = 2;
      const offset = this.cursor++;
      if (!this.used.has(offset)) {
        this.used.add(offset);
        return IpPool.format(this.base + offset);
      }
    }
  }

  release(ip: string): void {
    const parts = ip.split('.').map(Number);
    const n = parts.reduce((a, o) => a * 256 + o, 0);
    this.used.delete(n - this.base);
  }

  contains(ip: string): boolean {
    const n = ip
      .split('.')
      .map(Number)
      .reduce((a, o) => a * 256 + o, 0);
    return n >= this.base && n < this.base + this.size;
  }
}
