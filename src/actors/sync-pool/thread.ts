// A sync pool thread (piscina worker): runs the CRI half of pod work (SyncPod, KillPod, inspect,
// remove) so that a slow, hung or crashing sync cannot stall the main thread or other pods.
//
// Runtime connection: for a CRI endpoint, one gRPC client per thread, made on first use; for
// the embedded runtime, each task brings its own MessagePort to it (ports cannot be shared
// between threads and piscina does not say which thread takes a task).
// Cancellation: each task carries a one-slot SharedArrayBuffer; the main thread stores 1 and
// notifies, Atomics.waitAsync here aborts the task's signal, and the next CRI call fails with
// CriCancelledError. No polling, no thread termination.
import { threadId } from 'node:worker_threads';
import { workerData } from 'piscina';
import { reportThreadStats } from '../../native/thread-stats.js';
import { connectCri } from '../../native/cri/index.js';
import { createCriClient, type CriClient } from '../../native/cri/client.js';
import { MessagePortCriTransport } from '../../native/cri/port-transport.js';
import { isCriError, toPlainError } from '../../native/cri/errors.js';
import { forwardCriCalls } from '../../native/cri/call-metrics.js';
import { executeSync, inspectPod, killPod } from '../../pods/sync.js';
import { LABEL_POD_UID } from '../../pods/runtime-state.js';
import type { SyncPoolWorkerData, SyncTask, SyncTaskResult } from './protocol.js';

const data = workerData as SyncPoolWorkerData;
reportThreadStats(`sync-${threadId}`);
const onCall = forwardCriCalls();
let shared: CriClient | undefined;

function clientFor(task: SyncTask): { cri: CriClient; done: () => void } {
  if (task.port) {
    const cri = createCriClient(new MessagePortCriTransport(task.port, 'embedded'), { runtimeRequestTimeoutMs: data.runtimeRequestTimeoutMs, onCall });
    return { cri, done: () => cri.close() };
  }
  if (!data.endpoint) throw new Error('sync pool: no runtime endpoint and no embedded runtime port in the task');
  shared ??= connectCri(data.endpoint, {
    runtimeRequestTimeoutMs: data.runtimeRequestTimeoutMs,
    onCall,
    ...(data.imageEndpoint ? { imageEndpoint: data.imageEndpoint } : {}),
  });
  return { cri: shared, done: () => undefined };
}

function signalOf(cancel: Int32Array | undefined): { signal: AbortSignal | undefined; stop: () => void } {
  if (!cancel) return { signal: undefined, stop: () => undefined };
  const ac = new AbortController();
  if (Atomics.load(cancel, 0) !== 0) {
    ac.abort();
    return { signal: ac.signal, stop: () => undefined };
  }
  const wait = Atomics.waitAsync(cancel, 0, 0);
  let stopped = false;
  if (wait.async) {
    void wait.value.then(() => {
      if (!stopped && Atomics.load(cancel, 0) !== 0) ac.abort();
    });
  }
  // Wake our own waiter when the task ends, so no waitAsync outlives it.
  return {
    signal: ac.signal,
    stop: () => {
      stopped = true;
      Atomics.notify(cancel, 0);
    },
  };
}

export default async function runTask(task: SyncTask): Promise<SyncTaskResult> {
  const { cri, done } = clientFor(task);
  const { signal, stop } = signalOf(task.cancel);
  try {
    switch (task.type) {
      case 'sync':
        return {
          type: 'sync',
          result: await executeSync(cri, task.pod, task.plan, {
            ...task.sandbox,
            ...(signal ? { signal } : {}),
            ...(task.prepared ? { prepared: task.prepared } : {}),
          }),
        };
      case 'kill':
        return {
          type: 'kill',
          ...(await killPod(cri, task.uid, task.graceSeconds, { ...(signal ? { signal } : {}), ...(task.pod ? { pod: task.pod } : {}) })),
        };
      case 'inspect':
        return { type: 'inspect', state: await inspectPod(cri, task.uid, data.runtimeName, signal) };
      case 'remove': {
        const sandboxes = await cri.ListPodSandbox({ filter: { labelSelector: { [LABEL_POD_UID]: task.uid } } }, signal ? { signal } : {});
        const removed: string[] = [];
        for (const s of sandboxes.items) {
          await cri.RemovePodSandbox({ podSandboxId: s.id }, signal ? { signal } : {});
          removed.push(s.id);
        }
        return { type: 'remove', removed };
      }
      case 'gc': {
        const removed: string[] = [];
        const errors: string[] = [];
        const o = signal ? { signal } : {};
        for (const id of task.containers) {
          await cri.RemoveContainer({ containerId: id }, o).then(
            () => removed.push(id),
            (err: unknown) => errors.push(`RemoveContainer ${id}: ${(err as Error).message}`),
          );
        }
        for (const id of task.sandboxes) {
          await cri.RemovePodSandbox({ podSandboxId: id }, o).then(
            () => removed.push(id),
            (err: unknown) => errors.push(`RemovePodSandbox ${id}: ${(err as Error).message}`),
          );
        }
        return { type: 'gc', removed, errors };
      }
      case 'crash':
        // Chaos hook: take this pool thread down mid-task (tests the pool's recovery).
        process.exit(70);
    }
  } catch (err) {
    if (isCriError(err)) return { type: 'error', error: toPlainError(err) };
    const e = err instanceof Error ? err : new Error(String(err));
    return { type: 'error', error: { kind: 'Error', message: e.message, ...(e.stack ? { stack: e.stack } : {}) } };
  } finally {
    stop();
    done();
  }
}
