// What crosses between the sync pool and its threads: a thread's workerData, the tasks it runs
// and their results, all plain data (structured clone).
import type { MessagePort } from 'node:worker_threads';
import type { Pod } from '../../api/core-v1.js';
import type { PlainCriError } from '../../native/cri/errors.js';
import type { SandboxOptions } from '../../pods/cri-config.js';
import type { PodRuntimeState } from '../../pods/runtime-state.js';
import type { HookEvent, SyncPlan, SyncResult } from '../../pods/sync.js';
import type { PreparedPod } from '../../volumes/prepared.js';

export interface SyncPoolWorkerData {
  endpoint: string | undefined;
  imageEndpoint: string | undefined;
  runtimeRequestTimeoutMs: number;
  /** Scheme of container IDs in pod status ("containerd", "sim"). */
  runtimeName: string;
}

type TaskBase = { port?: MessagePort; cancel?: Int32Array };

export type SyncTask = TaskBase &
  (
    | { type: 'sync'; pod: Pod; plan: SyncPlan; sandbox: SandboxOptions; prepared?: PreparedPod }
    | { type: 'kill'; uid: string; graceSeconds: number; pod?: Pod }
    | { type: 'inspect'; uid: string }
    | { type: 'remove'; uid: string }
    | { type: 'gc'; containers: string[]; sandboxes: string[] }
    | { type: 'crash' }
  );

export type PlainError = PlainCriError | { kind: 'Error'; message: string; stack?: string };

export type SyncTaskResult =
  | { type: 'sync'; result: SyncResult }
  | { type: 'kill'; killed: string[]; errors: string[]; events?: HookEvent[] }
  | { type: 'inspect'; state: PodRuntimeState }
  | { type: 'remove'; removed: string[] }
  | { type: 'gc'; removed: string[]; errors: string[] }
  | { type: 'error'; error: PlainError };
