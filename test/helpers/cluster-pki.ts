// The certificates and kubeconfigs of a test control plane (test/helpers/cluster.ts), on top of
// the project's throwaway CA (src/native/certs.ts createCa): one CA signs the API server's
// serving certificate and every client certificate; a service-account key pair; kubeconfig
// files that embed their credentials (so a file stays valid whatever is issued after it).
//
// Everything here is for tests only: keys live unencrypted in the cluster's temp folder.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { createCa, type TestCa } from '../../src/native/certs.js';

const run = promisify(execFile);

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args, { timeout: 60_000 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('openssl is not installed (apt-get install openssl; bash scripts/ensure-deps.sh installs it)', { cause: err });
    throw new Error(`openssl ${args[0] ?? ''} failed: ${(e.stderr ?? e.message).trim()}`, { cause: err });
  }
}

/** An RSA key pair for service-account tokens: the private key signs, the public key verifies. */
export async function createServiceAccountKeys(dir: string): Promise<{ keyFile: string; pubFile: string }> {
  const keyFile = join(dir, 'sa.key');
  const pubFile = join(dir, 'sa.pub');
  await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', keyFile]);
  await openssl(['pkey', '-in', keyFile, '-pubout', '-out', pubFile]);
  return { keyFile, pubFile };
}

export interface KubeconfigCredentials {
  server: string;
  /** PEM text. */
  ca: string;
  cert: string;
  key: string;
}

/** Writes a kubeconfig with one cluster, one user (client certificate) and one current context. */
export function writeKubeconfig(file: string, name: string, creds: KubeconfigCredentials): void {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'kts-test', cluster: { server: creds.server, 'certificate-authority-data': b64(creds.ca) } }],
    users: [{ name, user: { 'client-certificate-data': b64(creds.cert), 'client-key-data': b64(creds.key) } }],
    contexts: [{ name, context: { cluster: 'kts-test', user: name } }],
    'current-context': name,
  };
  writeFileSync(file, stringifyYaml(doc), { mode: 0o600 });
}

/** The server and PEM credentials of a kubeconfig written by writeKubeconfig (for raw node:https requests). */
export function readKubeconfigCredentials(file: string): KubeconfigCredentials {
  const doc = parseYaml(readFileSync(file, 'utf8')) as {
    clusters?: { cluster?: { server?: string; 'certificate-authority-data'?: string } }[];
    users?: { user?: { 'client-certificate-data'?: string; 'client-key-data'?: string } }[];
  };
  const cluster = doc.clusters?.[0]?.cluster;
  const user = doc.users?.[0]?.user;
  const un = (s: string | undefined, what: string): string => {
    if (!s) throw new Error(`${file}: no ${what}`);
    return Buffer.from(s, 'base64').toString('utf8');
  };
  if (!cluster?.server) throw new Error(`${file}: no cluster server`);
  return {
    server: cluster.server,
    ca: un(cluster['certificate-authority-data'], 'certificate-authority-data'),
    cert: un(user?.['client-certificate-data'], 'client-certificate-data'),
    key: un(user?.['client-key-data'], 'client-key-data'),
  };
}

export interface ClusterPki {
  ca: TestCa;
  caFile: string;
  caKeyFile: string;
  /** The API server's serving certificate. */
  apiServer: { certFile: string; keyFile: string };
  /** The API server's client certificate towards kubelets (CN=kube-apiserver-kubelet-client, O=system:masters). */
  apiServerKubeletClient: { certFile: string; keyFile: string };
  serviceAccount: { keyFile: string; pubFile: string };
  /** Issues a client certificate for user `cn` in `groups` and writes a kubeconfig for it to `file`. */
  kubeconfig(file: string, cn: string, groups?: readonly string[]): Promise<string>;
}

/** The API server serving certificate's names: upstream's defaults for the `kubernetes` service, plus the node address. */
export function apiServerHosts(nodeIP: string, serviceIP = '10.0.0.1'): string[] {
  return [nodeIP, '127.0.0.1', serviceIP, 'localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];
}

export async function createClusterPki(dir: string, opts: { nodeIP: string; server: string }): Promise<ClusterPki> {
  const ca = await createCa(dir, 'kubelet-ts-test-cluster-ca');
  // createCa names files after the common name: issue one certificate at a time, and copy each
  // into its kubeconfig before the next can overwrite it.
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = chain.then(fn);
    chain = p.catch(() => undefined);
    return p;
  };
  const [apiServer, apiServerKubeletClient, serviceAccount] = await Promise.all([
    serial(() => ca.issueServer('kube-apiserver', apiServerHosts(opts.nodeIP))),
    serial(() => ca.issueClient('kube-apiserver-kubelet-client', ['system:masters'])),
    createServiceAccountKeys(dir),
  ]);
  const caPem = readFileSync(ca.caFile, 'utf8');
  return {
    ca,
    caFile: ca.caFile,
    caKeyFile: ca.caKeyFile,
    apiServer,
    apiServerKubeletClient,
    serviceAccount,
    kubeconfig: (file, cn, groups = []) =>
      serial(async () => {
        const c = await ca.issueClient(cn, groups);
        writeKubeconfig(file, cn, { server: opts.server, ca: caPem, cert: readFileSync(c.certFile, 'utf8'), key: readFileSync(c.keyFile, 'utf8') });
        return file;
      }),
  };
}
