// A real Kubernetes control plane (v1.20.2: etcd, kube-apiserver, and on request
// kube-controller-manager + kube-scheduler) for one test file, inside a network namespace this
// helper creates, torn down by stop(). Used by the cluster suite (test/cluster/*.cluster.test.ts).
//
//   const cluster = await startTestCluster({ controllers: true });
//   after(() => cluster.stop());
//   const kc = await cluster.nodeKubeconfig('n1');            // CN=system:node:n1, O=system:nodes
//   const kubelet = cluster.spawnInNetns('node', ['dist/src/cli.js', '--kubeconfig', kc,
//     '--node-ip', cluster.nodeIP, ...], { logFile: join(cluster.dir, 'kubelet.log') });
//   const r = await cluster.kubectl(['get', 'nodes', '-o', 'json']);   // as O=system:masters
//
// The API (see TestCluster below):
//   netnsPath        /var/run/netns/<name>: give it to `nsenter --net=...`, or to
//                    startTestContainerd({ netnsPath }) for a containerd on the same node
//   nodeIP           the namespace's address (a /30 on a veth from the host): where the node
//                    lives and the API server listens; reachable from the test process
//   apiServerURL     https://<nodeIP>:6443, the same from the host and from inside the namespace
//   dir, caFile, ca  temp folder (certs under pki/, kubeconfigs/, logs/, etcd/); the cluster CA,
//                    which signs the API server certificate and every client certificate (give
//                    it to a kubelet as --client-ca-file: the API server's kubelet client cert
//                    comes from it); `ca` issues more certificates (e.g. a kubelet serving cert)
//   adminKubeconfig  O=system:masters
//   nodeKubeconfig(name), userKubeconfig(user, groups)   client-certificate kubeconfigs
//   kubectl(args, { stdin, timeoutMs, kubeconfig })      /usr/bin/kubectl, admin by default;
//                    resolves with the exit code, never rejects on a non-zero one
//   spawnInNetns(cmd, args, { env, logFile })            a process in the namespace, killed by stop()
//   stopApiServer(), startApiServer()                    kube-apiserver only, same flags and etcd data
//   stop()           every process it started (SIGTERM, SIGKILL after 5 s), the namespace and
//                    veth, the temp folder
//
// Network: namespace `ktsc-<pid>-<hex>`, `lo` up, veth `ktsc<hex>h` (host, 10.2xx.y.z+1/30) to
// `ktsc<hex>n` (namespace, +2 = nodeIP), a /30 chosen at random among ones that overlap no
// address or route on the host. No default route inside: the namespace reaches only itself and
// the host end of the veth. Every process runs as `setpriv --pdeathsig KILL nsenter --net=PATH CMD`
// (never `ip netns exec`: it remounts /sys and hides the cgroup hierarchy) in its own process
// group, so it dies with the test process even on SIGKILL; an exit hook and SIGINT/SIGTERM/SIGHUP
// hooks kill the groups and delete the namespace; a namespace or temp folder left by a test
// process that died anyway is removed by the next startTestCluster. Because of pdeathsig, call
// spawnInNetns from the main thread (the signal follows the spawning thread).
//
// Needs root, iproute2, util-linux (nsenter, setpriv), openssl, /usr/bin/etcd (etcd-server),
// /usr/bin/kubectl, and the binaries `bash scripts/ensure-k8s.sh` builds (KTS_K8S_BIN or
// KTS_K8S_CACHE/bin, default ~/.cache/kubelet-ts/k8s-v1.20.2/bin). Anything missing fails with
// what is missing and how to get it; it never skips.
//
// Measured on this kind of machine (2 cores, shared with other work, load 2-8): up in 7-14 s
// without controllers (network + certificates 0.6-1.5 s, etcd 0.2-0.9 s, kube-apiserver until
// /readyz 5.5-13 s, most of it building its OpenAPI spec), controller-manager + scheduler another
// 2.7-3.7 s; stop() 1.3-1.5 s; stopApiServer() 1.2 s alone, 5 s (the SIGKILL grace) with the
// controllers' watches open; startApiServer() again 7-9 s.
import { execFile, execFileSync, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
} from 'node:fs';
import { request } from 'node:https';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { TestCa } from '../../src/native/certs.js';
import { createClusterPki, readKubeconfigCredentials, type ClusterPki, type KubeconfigCredentials } from './cluster-pki.js';

const run = promisify(execFile);

export interface KubectlResult {
  stdout: string;
  stderr: string;
  /** Exit code; 124 when killed for running past timeoutMs (stderr says so). */
  code: number;
}

export interface TestCluster {
  /** /var/run/netns/<name>, for `nsenter --net=...` and startTestContainerd({ netnsPath }). */
  netnsPath: string;
  /** The namespace's address, where the node lives and the API server listens; reachable from the test process. */
  nodeIP: string;
  /** The host end of the veth (nodeIP - 1): the test process as seen from inside the namespace. */
  hostIP: string;
  /** https://<nodeIP>:6443, the same from the test process and from inside the namespace. */
  apiServerURL: string;
  /** Temp folder: pki/, kubeconfigs/, logs/, etcd/. */
  dir: string;
  /** The cluster CA: signs the API server's certificate and every client certificate. */
  caFile: string;
  /** The CA itself, to issue more certificates (files land in dir/pki). */
  ca: TestCa;
  /** Log files of the control plane (etcd, kube-apiserver, and with controllers the other two). */
  logs: Record<string, string>;
  /** How long each start phase took, ms (network+pki, etcd, kube-apiserver, controllers; kube-apiserver again after startApiServer). */
  timings: Record<string, number>;
  /** O=system:masters. */
  adminKubeconfig: string;
  /** Client certificate CN=system:node:<name>, O=system:nodes; server apiServerURL. */
  nodeKubeconfig(nodeName: string): Promise<string>;
  /** Any other client-certificate user (for 403 tests). */
  userKubeconfig(user: string, groups?: string[]): Promise<string>;
  /** /usr/bin/kubectl with the admin kubeconfig (or opts.kubeconfig). Default timeout 60 s. */
  kubectl(args: string[], opts?: { stdin?: string; timeoutMs?: number; kubeconfig?: string }): Promise<KubectlResult>;
  /**
   * Starts a process inside the namespace, in its own process group; stop() ends it (SIGTERM to
   * the group, SIGKILL after 5 s). With logFile, stdout and stderr are appended there; without,
   * they are pipes the caller must read (or the child blocks once a pipe fills).
   */
  spawnInNetns(cmd: string, args: string[], opts?: { env?: Record<string, string>; logFile?: string }): ChildProcess;
  /**
   * Stops kube-apiserver only: SIGTERM, SIGKILL after graceMs (default 5 s; with the
   * controllers' watches open, its graceful shutdown alone takes over 15 s). etcd keeps the data.
   */
  stopApiServer(opts?: { graceMs?: number }): Promise<void>;
  /** Starts kube-apiserver again with the same flags and etcd data, waits for /readyz. */
  startApiServer(): Promise<void>;
  /** Kills every process it started, deletes the namespace and veth, removes dir. Idempotent. */
  stop(): Promise<void>;
}

export interface TestClusterOptions {
  /** Also kube-controller-manager and kube-scheduler (Deployments, ReplicaSets, scheduling). */
  controllers?: boolean;
  /** How long each component may take to become ready (default 60 s). */
  readyTimeoutMs?: number;
}

export class TestClusterError extends Error {
  readonly code = 'KTS_TEST_CLUSTER';
}

/** Where scripts/ensure-k8s.sh puts the control-plane binaries. */
export function k8sBinDir(): string {
  if (process.env.KTS_K8S_BIN) return process.env.KTS_K8S_BIN;
  const cache = process.env.KTS_K8S_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kubelet-ts', 'k8s-v1.20.2');
  return join(cache, 'bin');
}

const ETCD = '/usr/bin/etcd';
const KUBECTL = '/usr/bin/kubectl';
const API_PORT = 6443;
const NETNS_PREFIX = 'ktsc-';
const DIR_PREFIX = 'kts-cluster-';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter).some((d) => d !== '' && executable(join(d, cmd)));
}

function preflight(controllers: boolean): string {
  if (process.getuid && process.getuid() !== 0)
    throw new TestClusterError('the test cluster needs root (network namespaces, veth pairs); run the cluster tests as root');
  const bin = k8sBinDir();
  const missing: string[] = [];
  for (const b of ['kube-apiserver', ...(controllers ? ['kube-controller-manager', 'kube-scheduler'] : [])]) {
    if (!executable(join(bin, b))) missing.push(`${join(bin, b)} (build it: bash scripts/ensure-k8s.sh)`);
  }
  if (!executable(ETCD)) missing.push(`${ETCD} (Debian package etcd-server: bash scripts/ensure-k8s.sh installs it)`);
  if (!executable(KUBECTL)) missing.push(`${KUBECTL} (kubectl 1.27 or later; not a Debian 12 package: install the upstream binary there)`);
  const tools: [string, string][] = [
    ['ip', 'iproute2'],
    ['nsenter', 'util-linux'],
    ['setpriv', 'util-linux'],
    ['openssl', 'openssl'],
  ];
  for (const [cmd, pkg] of tools) if (!onPath(cmd)) missing.push(`${cmd} (apt-get install ${pkg}; bash scripts/ensure-deps.sh)`);
  if (missing.length > 0) throw new TestClusterError(`cannot start the test cluster, missing: ${missing.join('; ')}`);
  return bin;
}

async function sh(cmd: string, args: string[]): Promise<string> {
  try {
    return (await run(cmd, args, { timeout: 20_000 })).stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new TestClusterError(`${cmd} ${args.join(' ')} failed: ${(e.stderr ?? '').trim() || e.message}`, { cause: err });
  }
}

function quiet(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 10_000 });
  } catch {
    // already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tail(file: string, lines = 20): string {
  try {
    const text = readFileSync(file, 'utf8').trimEnd();
    return text === '' ? '(empty log)' : text.split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// --- addresses -------------------------------------------------------------------------------

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** Every IPv4 range the host's addresses and routes (all tables) name. Gateways and sources count as /32: conservative. */
async function usedRanges(): Promise<[number, number][]> {
  const text = (await sh('ip', ['-4', '-o', 'addr', 'show'])) + (await sh('ip', ['-4', 'route', 'show', 'table', 'all']));
  const out: [number, number][] = [];
  for (const m of text.matchAll(/(?<![\d.])(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})(?:\/(\d{1,2}))?(?![\d.])/g)) {
    const len = m[2] === undefined ? 32 : Number(m[2]);
    const size = 2 ** (32 - len);
    const start = Math.floor(ipv4ToInt(m[1] ?? '0.0.0.0') / size) * size;
    out.push([start, start + size - 1]);
  }
  return out;
}

/** A random 10.2xx.y.z/30 that overlaps nothing on the host. */
async function pickSubnet(): Promise<number> {
  const used = await usedRanges();
  for (let i = 0; i < 200; i++) {
    const [a, b, c] = randomBytes(3);
    const base = ipv4ToInt(`10.${200 + ((a ?? 0) % 56)}.${b ?? 0}.${((c ?? 0) % 64) * 4}`);
    if (used.every(([s, e]) => base + 3 < s || base > e)) return base;
  }
  throw new TestClusterError('no free 10.200.0.0/13 /30 for the test cluster network: the host routes cover them all');
}

// --- leftovers of dead test processes --------------------------------------------------------

function netnsInode(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

function pidsInNetns(ino: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readlinkSync(`/proc/${e}/ns/net`) === `net:[${ino}]`) out.push(Number(e));
    } catch {
      // gone, or a kernel thread
    }
  }
  return out;
}

/** Namespaces and temp folders of test clusters whose process is dead (SIGKILLed before any hook ran). */
function sweepLeftovers(): void {
  const nsDir = '/var/run/netns';
  const entries = existsSync(nsDir) ? readdirSync(nsDir) : [];
  for (const name of entries) {
    const m = /^ktsc-(\d+)-([0-9a-f]{6})$/.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    const ino = netnsInode(join(nsDir, name));
    if (ino !== undefined) {
      for (const pid of pidsInNetns(ino)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    quiet('ip', ['link', 'delete', `ktsc${m[2] ?? ''}h`]);
    quiet('ip', ['netns', 'delete', name]);
  }
  for (const name of readdirSync(tmpdir())) {
    const m = /^kts-cluster-(\d+)-/.exec(name);
    if (m && !alive(Number(m[1]))) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
}

// --- processes -------------------------------------------------------------------------------

class Proc {
  exited = false;
  private readonly done: Promise<void>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    this.done = new Promise<void>((resolve) => {
      child.once('exit', () => {
        this.exited = true;
        resolve();
      });
      child.once('error', () => {
        this.exited = true;
        resolve();
      });
    });
  }

  /** The whole process group (the child leads its own). */
  signal(sig: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, sig);
    } catch {
      // the group is gone (its leader may be a zombie we have not reaped yet)
    }
  }

  async waitExit(ms: number): Promise<boolean> {
    if (this.exited) return true;
    await Promise.race([this.done, sleep(ms)]);
    return this.exited;
  }

  async stop(graceMs = 5000): Promise<void> {
    if (this.child.pid === undefined) return;
    this.signal('SIGTERM');
    if (!(await this.waitExit(graceMs))) {
      this.signal('SIGKILL');
      await this.waitExit(5000);
    }
    // Anything left in the group (a grandchild that ignored SIGTERM after its leader exited).
    this.signal('SIGKILL');
  }
}

function spawnIn(netnsPath: string, name: string, cmd: string, args: string[], opts: { env?: Record<string, string>; logFile?: string } = {}): Proc {
  const fd = opts.logFile === undefined ? undefined : openSync(opts.logFile, 'a');
  const stdio: StdioOptions = fd === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', fd, fd];
  try {
    // setpriv: SIGKILL when we die, however we die; nsenter execs cmd (no fork for --net), so
    // the child's pid is cmd's own.
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', 'nsenter', `--net=${netnsPath}`, cmd, ...args], {
      stdio,
      detached: true,
      env: { ...process.env, ...opts.env },
    });
    return new Proc(name, child);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

// --- HTTPS probes ----------------------------------------------------------------------------

function httpsGet(
  url: string,
  tls: { ca?: string; cert?: string; key?: string; insecure?: boolean },
  timeoutMs = 3000,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'GET',
        ...(tls.ca === undefined ? {} : { ca: tls.ca }),
        ...(tls.cert === undefined ? {} : { cert: tls.cert }),
        ...(tls.key === undefined ? {} : { key: tls.key }),
        rejectUnauthorized: tls.insecure !== true,
        timeout: timeoutMs,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

// --- the cluster -----------------------------------------------------------------------------

const live = new Set<Cluster>();
let hooksInstalled = false;

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const c of live) c.killSync();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      for (const c of live) c.killSync();
      // Nobody else handles it: die of it, as without us.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.once(sig, onSignal);
  }
}

class Cluster implements TestCluster {
  readonly netnsPath: string;
  readonly apiServerURL: string;
  readonly logs: Record<string, string> = {};
  readonly timings: Record<string, number> = {};
  adminKubeconfig = '';
  caFile = '';
  private pkiValue: ClusterPki | undefined;
  private admin: KubeconfigCredentials | undefined;
  private readonly procs: Proc[] = [];
  private apiServer: Proc | undefined;
  private apiServerArgs: string[] = [];
  private stopped = false;
  private stopping: Promise<void> | undefined;
  private netnsCreated = false;
  private userSeq = 0;

  constructor(
    readonly dir: string,
    readonly netnsName: string,
    readonly hostIf: string,
    readonly nsIf: string,
    readonly hostIP: string,
    readonly nodeIP: string,
    private readonly bin: string,
    private readonly readyTimeoutMs: number,
  ) {
    this.netnsPath = `/var/run/netns/${netnsName}`;
    this.apiServerURL = `https://${nodeIP}:${API_PORT}`;
    for (const d of ['pki', 'kubeconfigs', 'logs', 'etcd']) mkdirSync(join(dir, d), { recursive: true, mode: 0o700 });
  }

  get ca(): TestCa {
    if (!this.pkiValue) throw new TestClusterError('the cluster PKI is not made yet');
    return this.pkiValue.ca;
  }

  private get pki(): ClusterPki {
    if (!this.pkiValue) throw new TestClusterError('the cluster PKI is not made yet');
    return this.pkiValue;
  }

  async setUpNetwork(): Promise<void> {
    await sh('ip', ['netns', 'add', this.netnsName]);
    this.netnsCreated = true;
    await sh('ip', ['link', 'add', this.hostIf, 'type', 'veth', 'peer', 'name', this.nsIf, 'netns', this.netnsName]);
    await sh('ip', ['addr', 'add', `${this.hostIP}/30`, 'dev', this.hostIf]);
    await sh('ip', ['link', 'set', this.hostIf, 'up']);
    const inNs = (args: string[]): Promise<string> => sh('nsenter', [`--net=${this.netnsPath}`, 'ip', ...args]);
    await inNs(['link', 'set', 'lo', 'up']);
    await inNs(['addr', 'add', `${this.nodeIP}/30`, 'dev', this.nsIf]);
    await inNs(['link', 'set', this.nsIf, 'up']);
  }

  async makePki(): Promise<void> {
    this.pkiValue = await createClusterPki(join(this.dir, 'pki'), { nodeIP: this.nodeIP, server: this.apiServerURL });
    this.caFile = this.pkiValue.caFile;
    this.adminKubeconfig = await this.pkiValue.kubeconfig(join(this.dir, 'kubeconfigs', 'admin.kubeconfig'), 'kubernetes-admin', ['system:masters']);
    this.admin = readKubeconfigCredentials(this.adminKubeconfig);
  }

  private start(name: string, cmd: string, args: string[]): Proc {
    const logFile = join(this.dir, 'logs', `${name}.log`);
    this.logs[name] = logFile;
    const p = spawnIn(this.netnsPath, name, cmd, args, { logFile });
    this.procs.push(p);
    return p;
  }

  private failure(p: Proc, what: string): TestClusterError {
    const state = p.exited ? `exited (code ${String(p.child.exitCode)}, signal ${String(p.child.signalCode)})` : `still running`;
    return new TestClusterError(
      `${what}; ${p.name} ${state}; last lines of its log (${this.logs[p.name] ?? 'none'}, removed with the cluster):\n${tail(this.logs[p.name] ?? '')}`,
    );
  }

  async startEtcd(): Promise<void> {
    const p = this.start('etcd', ETCD, [
      '--name=kts',
      `--data-dir=${join(this.dir, 'etcd')}`,
      '--listen-client-urls=http://127.0.0.1:2379',
      '--advertise-client-urls=http://127.0.0.1:2379',
      '--listen-peer-urls=http://127.0.0.1:2380',
      '--initial-advertise-peer-urls=http://127.0.0.1:2380',
      '--initial-cluster=kts=http://127.0.0.1:2380',
      '--logger=zap',
    ]);
    const log = this.logs.etcd ?? '';
    const deadline = Date.now() + this.readyTimeoutMs;
    for (;;) {
      if (p.exited) throw this.failure(p, 'etcd did not start');
      // capnslog says the first, zap the second, once the client port listens.
      if (existsSync(log) && /ready to serve client requests|serving client traffic/.test(readFileSync(log, 'utf8'))) return;
      if (Date.now() > deadline) throw this.failure(p, `etcd not ready within ${this.readyTimeoutMs} ms`);
      await sleep(100);
    }
  }

  apiServerFlags(): string[] {
    const pki = this.pki;
    return [
      '--etcd-servers=http://127.0.0.1:2379',
      `--secure-port=${API_PORT}`,
      '--bind-address=0.0.0.0',
      `--advertise-address=${this.nodeIP}`,
      `--client-ca-file=${pki.caFile}`,
      `--tls-cert-file=${pki.apiServer.certFile}`,
      `--tls-private-key-file=${pki.apiServer.keyFile}`,
      `--service-account-key-file=${pki.serviceAccount.pubFile}`,
      `--service-account-signing-key-file=${pki.serviceAccount.keyFile}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NodeRestriction',
      `--kubelet-client-certificate=${pki.apiServerKubeletClient.certFile}`,
      `--kubelet-client-key=${pki.apiServerKubeletClient.keyFile}`,
      '--kubelet-preferred-address-types=InternalIP,Hostname',
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
    ];
  }

  async startApiServer(): Promise<void> {
    if (this.stopped) throw new TestClusterError('the test cluster is stopped');
    if (this.apiServer && !this.apiServer.exited) throw new TestClusterError('kube-apiserver is already running');
    if (this.apiServerArgs.length === 0) this.apiServerArgs = this.apiServerFlags();
    if (this.apiServer) this.procs.splice(this.procs.indexOf(this.apiServer), 1);
    const p = this.start('kube-apiserver', join(this.bin, 'kube-apiserver'), this.apiServerArgs);
    this.apiServer = p;
    await this.waitHealthy(p, `${this.apiServerURL}/readyz`, { ca: this.admin?.ca ?? '', cert: this.admin?.cert ?? '', key: this.admin?.key ?? '' });
  }

  async stopApiServer(opts: { graceMs?: number } = {}): Promise<void> {
    const p = this.apiServer;
    if (!p || p.exited) return;
    await p.stop(opts.graceMs ?? 5000);
  }

  /** Polls url until 200 or the process exits or the deadline passes. */
  private async waitHealthy(p: Proc, url: string, tls: Parameters<typeof httpsGet>[1]): Promise<void> {
    const deadline = Date.now() + this.readyTimeoutMs;
    let last = 'no answer yet';
    for (;;) {
      if (p.exited) throw this.failure(p, `${p.name} did not come up (${url}: ${last})`);
      try {
        const r = await httpsGet(url, tls, 2000);
        if (r.status === 200) return;
        last = `HTTP ${r.status}: ${
          r.body
            .trim()
            .split('\n')
            .filter((l) => l.includes('failed'))
            .join('; ') || r.body.trim().slice(0, 300)
        }`;
      } catch (err) {
        last = (err as Error).message;
      }
      if (Date.now() > deadline) throw this.failure(p, `${p.name} not ready within ${this.readyTimeoutMs} ms (${url}: ${last})`);
      await sleep(250);
    }
  }

  async startControllers(): Promise<void> {
    const pki = this.pki;
    const cmKc = await pki.kubeconfig(join(this.dir, 'kubeconfigs', 'controller-manager.kubeconfig'), 'system:kube-controller-manager');
    const schedKc = await pki.kubeconfig(join(this.dir, 'kubeconfigs', 'scheduler.kubeconfig'), 'system:kube-scheduler');
    const delegated = (kc: string): string[] => [`--kubeconfig=${kc}`, `--authentication-kubeconfig=${kc}`, `--authorization-kubeconfig=${kc}`];
    const cm = this.start('kube-controller-manager', join(this.bin, 'kube-controller-manager'), [
      ...delegated(cmKc),
      `--service-account-private-key-file=${pki.serviceAccount.keyFile}`,
      `--root-ca-file=${pki.caFile}`,
      '--use-service-account-credentials=true',
      `--cluster-signing-cert-file=${pki.caFile}`,
      `--cluster-signing-key-file=${pki.caKeyFile}`,
      '--controllers=*',
      '--leader-elect=false',
      '--port=0',
    ]);
    const sched = this.start('kube-scheduler', join(this.bin, 'kube-scheduler'), [...delegated(schedKc), '--leader-elect=false', '--port=0']);
    const tls = { cert: this.admin?.cert ?? '', key: this.admin?.key ?? '', insecure: true };
    await Promise.all([
      this.waitHealthy(cm, `https://${this.nodeIP}:10257/healthz`, tls),
      this.waitHealthy(sched, `https://${this.nodeIP}:10259/healthz`, tls),
    ]);
  }

  nodeKubeconfig(nodeName: string): Promise<string> {
    return this.pki.kubeconfig(join(this.dir, 'kubeconfigs', `node-${nodeName.replace(/[^a-zA-Z0-9_.-]/g, '_')}.kubeconfig`), `system:node:${nodeName}`, [
      'system:nodes',
    ]);
  }

  userKubeconfig(user: string, groups: string[] = []): Promise<string> {
    return this.pki.kubeconfig(join(this.dir, 'kubeconfigs', `user-${user.replace(/[^a-zA-Z0-9_.-]/g, '_')}-${++this.userSeq}.kubeconfig`), user, groups);
  }

  kubectl(args: string[], opts: { stdin?: string; timeoutMs?: number; kubeconfig?: string } = {}): Promise<KubectlResult> {
    const timeoutMs = opts.timeoutMs ?? 60_000;
    return new Promise((resolve) => {
      const child = spawn(KUBECTL, [`--kubeconfig=${opts.kubeconfig ?? this.adminKubeconfig}`, `--cache-dir=${join(this.dir, 'kubectl-cache')}`, ...args], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.once('error', (err) => {
        clearTimeout(timer);
        resolve({ stdout, stderr: `${stderr}${err.message}`, code: 127 });
      });
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve(
          timedOut ? { stdout, stderr: `${stderr}kubectl ${args.join(' ')}: killed after ${timeoutMs} ms`, code: 124 } : { stdout, stderr, code: code ?? 1 },
        );
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.stdin ?? '');
    });
  }

  spawnInNetns(cmd: string, args: string[], opts: { env?: Record<string, string>; logFile?: string } = {}): ChildProcess {
    if (this.stopped) throw new TestClusterError('the test cluster is stopped');
    const p = spawnIn(this.netnsPath, `netns:${cmd}`, cmd, args, opts);
    this.procs.push(p);
    return p.child;
  }

  /** Synchronous: for the exit and signal hooks, where nothing asynchronous runs any more. */
  killSync(): void {
    for (const p of this.procs) p.signal('SIGKILL');
    this.removeNetwork();
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }

  private removeNetwork(): void {
    if (!this.netnsCreated) return;
    // The namespace going takes its veth end, and so the pair, with it; the host end is removed
    // too in case a process still holds the namespace.
    quiet('ip', ['link', 'delete', this.hostIf]);
    quiet('ip', ['netns', 'delete', this.netnsName]);
    this.netnsCreated = false;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      // Processes the test started first (a kubelet before the API server it talks to), then
      // the control plane in reverse start order.
      const order = ['kube-scheduler', 'kube-controller-manager', 'kube-apiserver', 'etcd'];
      await Promise.all(this.procs.filter((p) => !order.includes(p.name)).map((p) => p.stop()));
      // The API server's clients before it (its graceful shutdown waits on open watches), etcd last.
      for (const name of order) await Promise.all(this.procs.filter((p) => p.name === name).map((p) => p.stop()));
      this.removeNetwork();
      rmSync(this.dir, { recursive: true, force: true });
      live.delete(this);
    })();
    return this.stopping;
  }
}

/**
 * Starts etcd and kube-apiserver (and with `controllers`, kube-controller-manager and
 * kube-scheduler) in a new network namespace; resolves once /readyz (and the controllers'
 * /healthz) answer 200. On failure everything started so far is removed and the error quotes
 * the failing component's last log lines.
 */
export async function startTestCluster(opts: TestClusterOptions = {}): Promise<TestCluster> {
  const bin = preflight(opts.controllers === true);
  sweepLeftovers();
  installHooks();
  const id = randomBytes(3).toString('hex');
  const base = await pickSubnet();
  const dir = mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
  const c = new Cluster(
    dir,
    `${NETNS_PREFIX}${process.pid}-${id}`,
    `ktsc${id}h`,
    `ktsc${id}n`,
    intToIpv4(base + 1),
    intToIpv4(base + 2),
    bin,
    opts.readyTimeoutMs ?? 60_000,
  );
  live.add(c);
  try {
    const phase = async (name: string, fn: () => Promise<unknown>): Promise<void> => {
      const t0 = Date.now();
      await fn();
      c.timings[name] = Date.now() - t0;
    };
    await phase('network+pki', () => Promise.all([c.setUpNetwork(), c.makePki()]));
    await phase('etcd', () => c.startEtcd());
    await phase('kube-apiserver', () => c.startApiServer());
    if (opts.controllers) await phase('controllers', () => c.startControllers());
    return c;
  } catch (err) {
    await c.stop();
    throw err;
  }
}
