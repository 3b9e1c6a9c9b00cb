// Worker entry for the MessagePort CRI test: gets a port to the embedded runtime, runs a pod
// through CRI from this thread, and reports what it saw.
import { parentPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { createCriClient } from '../../src/native/cri/client.js';
import { MessagePortCriTransport } from '../../src/native/cri/port-transport.js';
import { containerConfig, newPod, sandboxConfig } from './cri-fixtures.js';

const { port, logRoot } = workerData as { port: MessagePort; logRoot: string };
const cri = createCriClient(new MessagePortCriTransport(port, 'test'));
try {
  const pod = newPod('worker');
  const config = sandboxConfig(pod, logRoot);
  const { podSandboxId } = await cri.RunPodSandbox({ config });
  const { containerId } = await cri.CreateContainer({
    podSandboxId,
    config: containerConfig(pod, 'app', 'docker.io/library/busybox:1.35', ['sleep', '3600']),
    sandboxConfig: config,
  });
  await cri.StartContainer({ containerId });
  const st = await cri.ContainerStatus({ containerId, verbose: false });
  let notFound = '';
  try {
    await cri.ContainerStatus({ containerId: 'f'.repeat(64), verbose: false });
  } catch (err) {
    notFound = (err as { code?: string }).code ?? 'no code';
  }
  parentPort?.postMessage({
    ok: true,
    podSandboxId,
    containerId,
    state: st.status?.state,
    uid: st.status?.labels['io.kubernetes.pod.uid'],
    expectedUid: pod.uid,
    notFound,
  });
} catch (err) {
  parentPort?.postMessage({ ok: false, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
} finally {
  cri.close();
}
