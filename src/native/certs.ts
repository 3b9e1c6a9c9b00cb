// Certificates the node needs, made with the system's openssl (Node can parse X.509 but not
// issue it): the self-signed serving certificate the kubelet writes to --cert-dir when no
// --tls-cert-file is given (upstream names: kubelet.crt / kubelet.key), and, for tests and the
// demo, a small CA that signs client certificates (CN = user, O = group).
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class CertError extends Error {
  readonly code = 'KTS_CERT';
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args, { timeout: 60_000 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new CertError('openssl is not installed (apt-get install openssl): needed to create certificates');
    throw new CertError(`openssl ${args[0] ?? ''} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

function san(hosts: readonly string[]): string {
  return hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
}

/**
 * The serving certificate and key: the given files, or a self-signed pair in `certDir`, made
 * once and reused while it is valid and names every host.
 */
export async function ensureServingCert(opts: {
  certDir: string;
  nodeName: string;
  hosts: readonly string[];
  certFile?: string;
  keyFile?: string;
}): Promise<{ cert: string; key: string; certFile: string; keyFile: string }> {
  if (opts.certFile || opts.keyFile) {
    if (!opts.certFile || !opts.keyFile) throw new CertError('--tls-cert-file and --tls-private-key-file go together');
    return { cert: readFileSync(opts.certFile, 'utf8'), key: readFileSync(opts.keyFile, 'utf8'), certFile: opts.certFile, keyFile: opts.keyFile };
  }
  mkdirSync(opts.certDir, { recursive: true, mode: 0o700 });
  const certFile = join(opts.certDir, 'kubelet.crt');
  const keyFile = join(opts.certDir, 'kubelet.key');
  if (existsSync(certFile) && existsSync(keyFile)) {
    const cert = readFileSync(certFile, 'utf8');
    const x = new X509Certificate(cert);
    const names = x.subjectAltName ?? '';
    const valid = Date.parse(x.validTo) > Date.now() + 24 * 3600_000;
    if (valid && opts.hosts.every((h) => names.includes(h))) return { cert, key: readFileSync(keyFile, 'utf8'), certFile, keyFile };
  }
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '365',
    '-subj',
    `/CN=${opts.nodeName}@${Math.floor(Date.now() / 1000)}`,
    '-addext',
    `subjectAltName=${san([opts.nodeName, ...opts.hosts])}`,
    '-keyout',
    keyFile,
    '-out',
    certFile,
  ]);
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile, keyFile };
}

export interface TestCa {
  caFile: string;
  caKeyFile: string;
  /** Issues a client certificate for `cn` in groups `orgs`; returns file paths. */
  issueClient(cn: string, orgs?: readonly string[]): Promise<{ certFile: string; keyFile: string }>;
  /** Issues a server certificate for hosts. */
  issueServer(cn: string, hosts: readonly string[]): Promise<{ certFile: string; keyFile: string }>;
}

/** A throwaway CA in `dir` (tests, the demo): never used for anything real. */
export async function createCa(dir: string, name = 'kubelet-ts-test-ca'): Promise<TestCa> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caFile = join(dir, 'ca.crt');
  const caKeyFile = join(dir, 'ca.key');
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '30',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    caKeyFile,
    '-out',
    caFile,
  ]);
  let serial = 1;
  const issue = async (base: string, subj: string, ext: string): Promise<{ certFile: string; keyFile: string }> => {
    const keyFile = join(dir, `${base}.key`);
    const csr = join(dir, `${base}.csr`);
    const certFile = join(dir, `${base}.crt`);
    const extFile = join(dir, `${base}.ext`);
    await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', subj, '-keyout', keyFile, '-out', csr]);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(extFile, `${ext}\n`);
    await openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      caFile,
      '-CAkey',
      caKeyFile,
      '-set_serial',
      String(serial++),
      '-days',
      '30',
      '-extfile',
      extFile,
      '-out',
      certFile,
    ]);
    return { certFile, keyFile };
  };
  const subject = (cn: string, orgs: readonly string[]): string => `${orgs.map((o) => `/O=${o}`).join('')}/CN=${cn}`;
  return {
    caFile,
    caKeyFile,
    issueClient: (cn, orgs = []) => issue(`client-${cn.replace(/[^a-zA-Z0-9_-]/g, '_')}`, subject(cn, orgs), 'extendedKeyUsage=clientAuth'),
    issueServer: (cn, hosts) => issue(`server-${cn.replace(/[^a-zA-Z0-9_-]/g, '_')}`, `/CN=${cn}`, `extendedKeyUsage=serverAuth\nsubjectAltName=${san(hosts)}`),
  };
}
