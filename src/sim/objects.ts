// The records the simulated runtime keeps per sandbox and per container: plain data that the
// runtime (runtime.ts) indexes and the lifecycle (lifecycle.ts) moves through its states.
import { createHash, randomBytes } from 'node:crypto';
import type { PodSandboxConfig__Output } from '../gen/cri/runtime/v1/PodSandboxConfig.js';
import type { ContainerConfig__Output } from '../gen/cri/runtime/v1/ContainerConfig.js';
import type { LinuxContainerResources__Output } from '../gen/cri/runtime/v1/LinuxContainerResources.js';
import type { Scheduled } from './clock.js';
import type { Program } from './command.js';
import type { ExecAnswer, SimBehaviour } from './annotations.js';
import type { ContainerLog } from './logs.js';
import type { IpPool } from './ipam.js';
import type { SimImage } from './images.js';

export type SandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED';

export interface Sandbox {
  id: string;
  name: string;
  config: PodSandboxConfig__Output;
  state: SandboxState;
  createdAt: number;
  ip: string;
  pool: IpPool | undefined;
  runtimeHandler: string;
  containers: Set<string>;
  hostNetwork: boolean;
}

export interface Container {
  id: string;
  name: string;
  sandboxId: string;
  config: ContainerConfig__Output;
  imageSpec: string;
  image: SimImage | undefined;
  state: ContainerState;
  createdAt: number;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  reason: string;
  message: string;
  logPath: string;
  log: ContainerLog | undefined;
  behaviour: SimBehaviour;
  program: Program | undefined;
  pc: number;
  /** Wall time (epoch ms) the container started, for stats. */
  startedMs: number;
  /** Timers of stop, run-seconds and OOM (few, bounded). */
  timers: Scheduled[];
  /** The program's current sleep, and the periodic log line: one each, replaced as they go. */
  wake: Scheduled | undefined;
  ticker: Scheduled | undefined;
  exitWaiters: (() => void)[];
  termSent: boolean;
  files: Map<string, string>;
  execAnswers: Map<string, ExecAnswer>;
  resources: LinuxContainerResources__Output | null;
  logSeq: number;
}

export function hex64(): string {
  return randomBytes(32).toString('hex');
}

export function hash32(id: string): number {
  return createHash('sha1').update(id).digest().readUInt32BE(0);
}
