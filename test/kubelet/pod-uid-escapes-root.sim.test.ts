// Regression (issue 16, finding 3): a static pod whose metadata.uid was "/../../../<dir>/victim"
// made the kubelet write its etc-hosts, container folders and logs outside --root-dir, and
// deleting the pod removed folders there recursively. A standalone kubelet on the embedded
// simulated runtime gets such a pod as a manifest file and through POST /static-pods: both are
// refused with an error naming metadata.uid, nothing appears at (or disappears from) the victim
// location, and the node's other pod keeps running untouched.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadKubeletConfig } from '../../src/config/kubelet-config.js';
import { startKubelet, type Kubelet } from '../../src/kubelet.js';
import { createCa } from '../../src/native/certs.js';
import { waitFor } from '../helpers/cri-fixtures.js';
import { freePort } from '../helpers/net.js';

const NODE = 'node-uid-escape';
const IMAGE = 'busybox:1.35';

/** Enough '..' to climb out of any base (the pods folder, /var/log/pods) up to '/'. */
const escapeTo = (abs: string): string => `/${'../'.repeat(16)}${abs.slice(1)}`;

const manifest = (name: string, uid?: string): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', ...(uid === undefined ? {} : { uid }) },
    spec: {
      terminationGracePeriodSeconds: 1,
      volumes: [{ name: 'scratch', emptyDir: {} }],
      containers: [{ name: 'app', image: IMAGE, command: ['sh', '-c', 'echo up; sleep 3600'], volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }] }],
    },
  });

/** Every file and folder under `dir`, relative, sorted: what "untouched" is compared against. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      out.push(e.isDirectory() ? `${r}/` : `${r}=${readFileSync(join(d, e.name), 'utf8')}`);
      if (e.isDirectory()) walk(join(d, e.name), r);
    }
  };
  walk(dir, '');
  return out.sort();
}

describe('a static pod whose uid climbs out of the root dir (issue 16, finding 3)', () => {
  let dir: string;
  let victims: string;
  let manifests: string;
  let kubelet: Kubelet;
  let port: number;
  let client: { cert: string; key: string };
  const logLines: string[] = [];

  const call = (path: string, method: string, body?: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, method, rejectUnauthorized: false, cert: client.cert, key: client.key }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const worker = (name: string) => kubelet.workers.all().find((w) => w.pod.metadata.name === `${name}-${NODE}`);
  const running = (name: string) => worker(name)?.status?.containerStatuses?.[0]?.state.running !== undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kts-uid-escape-'));
    victims = mkdtempSync(join(tmpdir(), 'kts-uid-victim-'));
    manifests = join(dir, 'manifests');
    mkdirSync(manifests);
    const ca = await createCa(join(dir, 'ca'));
    const c = await ca.issueClient('uid-escape-admin', ['system:masters']);
    client = { cert: readFileSync(c.certFile, 'utf8'), key: readFileSync(c.keyFile, 'utf8') };
    writeFileSync(join(dir, 'ca.crt'), readFileSync(ca.caFile, 'utf8'));
    writeFileSync(join(manifests, 'web.json'), manifest('web'));
    port = await freePort();
    const argv = [
      '--pod-manifest-path',
      manifests,
      '--embedded-runtime',
      'sim',
      '--hostname-override',
      NODE,
      '--root-dir',
      join(dir, 'root'),
      '--cert-dir',
      join(dir, 'pki'),
      '--port',
      String(port),
      '--healthz-port',
      '0',
      '--address',
      '127.0.0.1',
      '--client-ca-file',
      join(dir, 'ca.crt'),
      '--authorization-mode',
      'AlwaysAllow',
      '--file-check-frequency',
      '1s',
    ];
    const log = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });
    kubelet = await startKubelet(loadKubeletConfig(argv).config, log);
    await waitFor('web running', () => (running('web') ? true : undefined), 30_000, 100);
  });

  after(async () => {
    await kubelet?.stop({ runtime: 'stop' });
    rmSync(dir, { recursive: true, force: true });
    rmSync(victims, { recursive: true, force: true });
    // The simulated runtime writes container logs where the kubelet says: /var/log/pods.
    for (const e of existsSync('/var/log/pods') ? readdirSync('/var/log/pods') : []) {
      if (e.includes(`-${NODE}_`)) rmSync(join('/var/log/pods', e), { recursive: true, force: true });
    }
  });

  it('refuses the manifest file with an error naming metadata.uid and writes nothing at the victim path', async () => {
    const victim = join(victims, 'victim');
    const webBefore = worker('web')?.status?.containerStatuses?.[0]?.containerID;
    writeFileSync(join(manifests, 'evil.json'), manifest('evil', escapeTo(victim)));
    // Either the file source refuses the manifest, or (the bug) the pod runs: wait for one.
    await waitFor('the evil manifest handled', () => (logLines.some((l) => l.includes('evil.json')) || running('evil') ? true : undefined), 30_000, 100);
    const refusal = logLines.find((l) => l.includes('static pod manifest refused') && l.includes('evil.json'));
    assert.ok(refusal, `a log line refuses evil.json; the evil pod ${worker('evil') ? 'was started' : 'is unknown'}`);
    assert.match(refusal, /metadata\.uid: Invalid value: /);
    assert.equal(worker('evil'), undefined, 'no pod worker for the refused pod');
    assert.equal(existsSync(victim), false, `nothing created at ${victim}`);
    assert.deepEqual(readdirSync(victims), [], 'the victim folder is still empty');
    assert.ok(running('web'), 'the other pod still runs');
    assert.equal(worker('web')?.status?.containerStatuses?.[0]?.containerID, webBefore, 'and was not restarted');
  });

  it('refuses POST /static-pods with a 400 naming metadata.uid; what lives at the victim path survives the delete', async () => {
    const existing = join(victims, 'existing');
    // What a recursive delete of <pod dir>/volumes and <pod dir>/containers would take.
    mkdirSync(join(existing, 'volumes', 'data'), { recursive: true });
    mkdirSync(join(existing, 'containers'), { recursive: true });
    writeFileSync(join(existing, 'volumes', 'data', 'precious.txt'), 'keep me');
    writeFileSync(join(existing, 'containers', 'notes.txt'), 'keep me too');
    writeFileSync(join(existing, 'etc-hosts'), 'the victim hosts file');
    const before = tree(existing);
    const webBefore = worker('web')?.status?.containerStatuses?.[0]?.containerID;

    const r = await call('/static-pods', 'POST', manifest('evil-submitted', escapeTo(existing)));
    assert.equal(r.status, 400, `refused: ${r.body}`);
    assert.match(r.body, /metadata\.uid: Invalid value: /);
    assert.equal(worker('evil-submitted'), undefined, 'no pod worker for the refused pod');
    // Deleting it finds nothing to delete (and so deletes nothing).
    assert.equal((await call('/static-pods/default/evil-submitted', 'DELETE')).status, 404);
    // The file source refuses the same uid in a manifest; removing that manifest removes nothing either.
    writeFileSync(join(manifests, 'evil-existing.json'), manifest('evil-existing', escapeTo(existing)));
    await waitFor(
      'the second evil manifest handled',
      () => (logLines.some((l) => l.includes('evil-existing.json')) || running('evil-existing') ? true : undefined),
      30_000,
      100,
    );
    rmSync(join(manifests, 'evil-existing.json'));
    // A full file-source round after the removal (the web pod is re-read with it).
    writeFileSync(join(manifests, 'web-2.json'), manifest('web-2'));
    await waitFor('web-2 running', () => (running('web-2') ? true : undefined), 30_000, 100);
    assert.equal(worker('evil-existing'), undefined, 'no pod worker for the refused manifest');
    assert.deepEqual(tree(existing), before, 'the victim folder is exactly as it was');
    assert.ok(running('web'), 'the other pod still runs');
    assert.equal(worker('web')?.status?.containerStatuses?.[0]?.containerID, webBefore, 'and was not restarted');
  });

  it('an ordinary pod still gets its folder under the root, removed with the pod', async () => {
    const uid = worker('web-2')?.pod.metadata.uid ?? '';
    const folder = join(dir, 'root', 'pods', uid);
    assert.ok(existsSync(join(folder, 'etc-hosts')), 'etc-hosts where upstream puts it');
    assert.ok(existsSync(join(folder, 'volumes', 'kubernetes.io~empty-dir', 'scratch')));
    rmSync(join(manifests, 'web-2.json'));
    await waitFor('web-2 folder removed', () => (existsSync(folder) ? undefined : true), 30_000, 100);
    assert.deepEqual(readdirSync(victims).sort(), ['existing']);
  });
});
