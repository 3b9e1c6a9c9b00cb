// The sim-runtime command end to end (a child process serving CRI and the control API, stopped
// by SIGTERM, sockets removed), its config validation, and the control HTTP API.
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectCri } from '../../src/native/cri/index.js';
import { CriUnavailableError } from '../../src/native/cri/errors.js';
import { SimRuntime, startSimControlServer, validateSimConfig, loadSimConfig, runSimRuntimeCommand } from '../../src/sim/index.js';
import { silentLogger } from '../../src/log.js';
import { containerConfig, newPod, sandboxConfig, waitFor } from '../helpers/cri-fixtures.js';
import { createSimClient } from '../../src/sim/index.js';

const ENTRY = fileURLToPath(new URL('../../src/sim/cli-main.js', import.meta.url));

function http(socketPath: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body));
  });
}

describe('sim config validation', () => {
  it('accepts a full config and maps it to runtime options', () => {
    const opts = validateSimConfig({
      seed: 5,
      podCidr: '10.1.0.0/16',
      images: ['busybox:1.35', { name: 'registry.k8s.io/pause:3.9', sizeBytes: 100 }],
      pull: { latencyMs: 10, failures: [{ pattern: '*.invalid/*', code: 'NOT_FOUND' }] },
      latency: { '*': { fixedMs: 1, jitterMs: 1 } },
      faults: { StartContainer: { errorRate: 0.1, code: 'UNAVAILABLE' } },
    });
    assert.equal(opts.seed, 5);
    assert.deepEqual(opts.faults, { StartContainer: { errorRate: 0.1, code: 'UNAVAILABLE' } });
    assert.equal(new SimRuntime(opts).podCidr, '10.1.0.0/16');
  });

  it('names the bad field in its errors', () => {
    assert.throws(() => validateSimConfig({ sed: 1 }, 'x.yaml'), /x\.yaml: unknown field "sed"/);
    assert.throws(() => validateSimConfig({ podCidr: '10.0.0.0/33' }, 'x.yaml'), /x\.yaml: podCidr: invalid pod CIDR/);
    assert.throws(() => validateSimConfig({ faults: { StartContainer: { errorRate: 'often' } } }, 'x.yaml'), /faults\.StartContainer\.errorRate/);
    assert.throws(() => validateSimConfig({ pull: { failures: [{ pattern: 'x', code: 'BAD' }] } }, 'x.yaml'), /pull\.failures\[0\]\.code/);
    assert.throws(() => validateSimConfig({ images: [{ size: 1 }] }, 'x.yaml'), /images\[0\]: unknown field "size"/);
  });

  it('reads YAML and JSON files, and says which file is broken', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kts-sim-cfg-'));
    try {
      await writeFile(join(dir, 'a.yaml'), 'seed: 9\nfaults:\n  Version: {errorRate: 1}\n');
      assert.equal(loadSimConfig(join(dir, 'a.yaml')).seed, 9);
      await writeFile(join(dir, 'b.json'), '{"seed": ');
      assert.throws(() => loadSimConfig(join(dir, 'b.json')), /b\.json is not valid JSON/);
      assert.throws(() => loadSimConfig(join(dir, 'none.yaml')), /cannot read sim config/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('makes the command exit 2 with a clear line for bad flags', async () => {
    assert.equal(await runSimRuntimeCommand(['--nope'], silentLogger), 2);
    assert.equal(await runSimRuntimeCommand([], silentLogger), 2);
  });
});

describe('sim control API', () => {
  let dir: string;
  let sim: SimRuntime;
  let control: Awaited<ReturnType<typeof startSimControlServer>>;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kts-sim-ctl-'));
    sim = new SimRuntime({ seed: 3 });
    control = await startSimControlServer(sim, { listen: `unix://${join(dir, 'control.sock')}` });
  });
  after(async () => {
    await control.close();
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('switches faults and latency at run time and reads them back', async () => {
    const put = await http(control.socketPath, 'PUT', '/faults', { CreateContainer: { errorRate: 0.5, code: 'UNAVAILABLE' } });
    assert.equal(put.status, 200);
    assert.deepEqual(sim.faults.get('CreateContainer'), { errorRate: 0.5, code: 'UNAVAILABLE' });
    assert.deepEqual((await http(control.socketPath, 'GET', '/faults')).json, { CreateContainer: { errorRate: 0.5, code: 'UNAVAILABLE' } });
    assert.equal((await http(control.socketPath, 'PUT', '/latency', { '*': { fixedMs: 5 } })).status, 200);
    assert.deepEqual(sim.latency.get('Version'), { fixedMs: 5 });
    assert.equal((await http(control.socketPath, 'DELETE', '/faults')).status, 200);
    assert.equal(sim.faults.get('CreateContainer'), undefined);
    await http(control.socketPath, 'DELETE', '/latency');
  });

  it('refuses a bad body with 400 naming the problem, keeping the old rules', async () => {
    await http(control.socketPath, 'PUT', '/faults', { Version: { errorRate: 0.1 } });
    const bad = await http(control.socketPath, 'PUT', '/faults', { Version: { errorRate: 7 } });
    assert.equal(bad.status, 400);
    assert.match((bad.json as { error: string }).error, /faults\.Version\.errorRate/);
    assert.deepEqual(sim.faults.get('Version'), { errorRate: 0.1 });
    const notJson = await http(control.socketPath, 'PUT', '/faults', '{oops');
    assert.equal(notJson.status, 400);
    assert.equal((await http(control.socketPath, 'GET', '/nothing')).status, 404);
    assert.equal((await http(control.socketPath, 'POST', '/stats')).status, 405);
    await http(control.socketPath, 'DELETE', '/faults');
  });

  it('answers malformed request targets and broken request heads with a 4xx and keeps serving', async () => {
    // The same targets that once killed the kubelet's healthz port ('//[' threw from new URL).
    // '//[' and '//host/stats' are paths (no such resource), never an authority; the others are refused.
    const want: Record<string, number> = { '//[': 404, '//host/stats': 404, '/%zz': 404, '*': 400, 'http://x/stats': 400 };
    for (const [target, status] of Object.entries(want)) {
      const head = await rawRequest(control.socketPath, `GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert.match(head, new RegExp(`^HTTP/1\\.1 ${status} `), `target ${target}: ${head.slice(0, 80)}`);
    }
    assert.match(await rawRequest(control.socketPath, 'GARBAGE\r\n\r\n'), /^HTTP\/1\.1 400 /);
    assert.equal((await http(control.socketPath, 'GET', '/stats')).status, 200);
  });

  it('crashes the named running containers at once, and refuses bad bodies', async () => {
    const cri = createSimClient(sim, {});
    try {
      const pod = newPod('crash');
      const { podSandboxId } = await cri.RunPodSandbox({ config: sandboxConfig(pod, dir) });
      const ids: string[] = [];
      for (const name of ['a', 'b']) {
        const { containerId } = await cri.CreateContainer({
          podSandboxId,
          config: containerConfig(pod, name, 'docker.io/library/busybox:1.35', ['sleep', '1000']),
          sandboxConfig: sandboxConfig(pod, dir),
        });
        await cri.StartContainer({ containerId });
        ids.push(containerId);
      }
      const r = await http(control.socketPath, 'POST', '/crash', { containerIds: [...ids, 'nope'], code: 3 });
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { crashed: 2, notRunning: 0, unknown: 1 });
      for (const id of ids) {
        const s = (await cri.ContainerStatus({ containerId: id })).status;
        assert.deepEqual([s?.state, s?.exitCode, s?.reason], ['CONTAINER_EXITED', 3, 'Error']);
      }
      assert.deepEqual((await http(control.socketPath, 'POST', '/crash', { containerIds: ids })).json, { crashed: 0, notRunning: 2, unknown: 0 });
      assert.equal((await http(control.socketPath, 'POST', '/crash', { containerIds: 'x' })).status, 400);
      assert.equal((await http(control.socketPath, 'POST', '/crash', { containerIds: [], code: 300 })).status, 400);
      assert.equal((await http(control.socketPath, 'POST', '/crash', '{oops')).status, 400);
      assert.equal((await http(control.socketPath, 'GET', '/crash')).status, 405);
      await cri.RemovePodSandbox({ podSandboxId });
    } finally {
      cri.close();
    }
  });

  it('reports stats', async () => {
    const stats = (await http(control.socketPath, 'GET', '/stats')).json as { seed: number; containers: { running: number } };
    assert.equal(stats.seed, 3);
    assert.equal(stats.containers.running, 0);
  });
});

describe('sim-runtime command, end to end', () => {
  let dir: string;
  let child: ChildProcess | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kts-sim-cmd-'));
  });
  after(async () => {
    child?.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('serves CRI v1 and v1alpha2 and the control API, then stops on SIGTERM and removes its sockets', async () => {
    const sock = join(dir, 'sim.sock');
    const ctl = join(dir, 'ctl.sock');
    await writeFile(join(dir, 'sim.yaml'), 'seed: 11\npodCidr: 10.250.0.0/24\n');
    const proc = spawn(process.execPath, [ENTRY, '--listen', `unix://${sock}`, '--config', join(dir, 'sim.yaml'), '--control', `unix://${ctl}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, KUBELET_TS_LOG_LEVEL: 'warn' },
    });
    child = proc;
    let stderr = '';
    proc.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    await waitFor('sockets', () => (existsSync(sock) && existsSync(ctl) ? true : undefined), 15_000);
    const v1 = connectCri(`unix://${sock}`, { runtimeRequestTimeoutMs: 5_000 });
    const v1alpha2 = connectCri(`unix://${sock}`, { apiVersion: 'v1alpha2', runtimeRequestTimeoutMs: 5_000 });
    try {
      assert.equal((await v1.Version({})).runtimeApiVersion, 'v1');
      assert.equal((await v1alpha2.Version({})).runtimeApiVersion, 'v1alpha2');
      assert.equal(((await http(ctl, 'GET', '/stats')).json as { seed: number }).seed, 11, 'the config file was used');
      await http(ctl, 'PUT', '/faults', { Status: { errorRate: 1 } });
      await assert.rejects(v1.Status({}), CriUnavailableError);
      proc.kill('SIGTERM');
      assert.equal(await exited, 0, `exit code (stderr: ${stderr})`);
      assert.equal(existsSync(sock), false, 'CRI socket removed');
      assert.equal(existsSync(ctl), false, 'control socket removed');
    } finally {
      v1.close();
      v1alpha2.close();
    }
  });

  it('exits 2 with one clear line for a broken config', async () => {
    await writeFile(join(dir, 'bad.yaml'), 'podCidr: nonsense\n');
    const proc = spawn(process.execPath, [ENTRY, '--listen', `unix://${join(dir, 'x.sock')}`, '--config', join(dir, 'bad.yaml')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
    assert.equal(code, 2);
    assert.match(stderr, /bad\.yaml: podCidr: invalid pod CIDR "nonsense"/);
  });
});

/** Writes `bytes` to the unix socket and returns what came back until the server closed or 2 s passed. */
function rawRequest(socketPath: string, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(socketPath);
    let out = '';
    const timer = setTimeout(() => sock.destroy(), 2_000);
    sock.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      if (/\r\n\r\n/.test(out)) sock.end();
    });
    sock.on('error', reject);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    sock.write(bytes);
  });
}
