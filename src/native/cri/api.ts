// The shape of CRI as the rest of kubelet-ts sees it: one method per RPC, named as the RPC
// (`cri.RunPodSandbox(req)`), typed from the generated proto types, returning decoded objects
// with every field present (proto3 defaults filled in). Both transports (gRPC over a unix socket,
// and the in-process simulated runtime) are hidden behind this; callers cannot tell them apart,
// because the in-process path runs the very same serialize/deserialize functions.
import type { MethodDefinition } from '@grpc/proto-loader';
import type { RuntimeServiceDefinition } from '../../gen/cri/runtime/v1/RuntimeService.js';
import type { ImageServiceDefinition } from '../../gen/cri/runtime/v1/ImageService.js';

export const RUNTIME_RPCS = [
  'Version',
  'RunPodSandbox',
  'StopPodSandbox',
  'RemovePodSandbox',
  'PodSandboxStatus',
  'ListPodSandbox',
  'CreateContainer',
  'StartContainer',
  'StopContainer',
  'RemoveContainer',
  'ListContainers',
  'ContainerStatus',
  'UpdateContainerResources',
  'ReopenContainerLog',
  'ExecSync',
  'Exec',
  'Attach',
  'PortForward',
  'ContainerStats',
  'ListContainerStats',
  'UpdateRuntimeConfig',
  'Status',
] as const satisfies readonly (keyof RuntimeServiceDefinition)[];

export const IMAGE_RPCS = ['ListImages', 'ImageStatus', 'PullImage', 'RemoveImage', 'ImageFsInfo'] as const satisfies readonly (keyof ImageServiceDefinition)[];

export type RuntimeRpc = (typeof RUNTIME_RPCS)[number];
export type ImageRpc = (typeof IMAGE_RPCS)[number];
export type RpcName = RuntimeRpc | ImageRpc;

export const ALL_RPCS: readonly RpcName[] = [...RUNTIME_RPCS, ...IMAGE_RPCS];

export function serviceOf(rpc: RpcName): 'RuntimeService' | 'ImageService' {
  return (IMAGE_RPCS as readonly string[]).includes(rpc) ? 'ImageService' : 'RuntimeService';
}

/** Operation names as the upstream kubelet labels its runtime metrics (`operation_type`). */
export const OPERATION: Record<RpcName, string> = {
  Version: 'version',
  Status: 'status',
  RunPodSandbox: 'run_podsandbox',
  StopPodSandbox: 'stop_podsandbox',
  RemovePodSandbox: 'remove_podsandbox',
  PodSandboxStatus: 'podsandbox_status',
  ListPodSandbox: 'list_podsandbox',
  CreateContainer: 'create_container',
  StartContainer: 'start_container',
  StopContainer: 'stop_container',
  RemoveContainer: 'remove_container',
  ListContainers: 'list_containers',
  ContainerStatus: 'container_status',
  UpdateContainerResources: 'update_container',
  ReopenContainerLog: 'reopen_container_log',
  ExecSync: 'exec_sync',
  Exec: 'exec',
  Attach: 'attach',
  PortForward: 'port_forward',
  ContainerStats: 'container_stats',
  ListContainerStats: 'list_container_stats',
  UpdateRuntimeConfig: 'update_runtime_config',
  ListImages: 'list_images',
  ImageStatus: 'image_status',
  PullImage: 'pull_image',
  RemoveImage: 'remove_image',
  ImageFsInfo: 'image_fs_info',
};

type Defs = RuntimeServiceDefinition & ImageServiceDefinition;

/* eslint-disable @typescript-eslint/no-explicit-any */
/** What a caller may pass: the permissive form (optional fields, numbers or strings for int64). */
export type RequestOf<K extends RpcName> = Defs[K] extends MethodDefinition<infer I, any, any, any> ? I : never;
/** The sandbox and container configs of RunPodSandbox and CreateContainer. */
export type SandboxConfig = NonNullable<RequestOf<'RunPodSandbox'>['config']>;
export type ContainerConfig = NonNullable<RequestOf<'CreateContainer'>['config']>;
/** What a server handler receives: the decoded form, every field present. */
export type DecodedRequestOf<K extends RpcName> = Defs[K] extends MethodDefinition<any, any, infer O, any> ? O : never;
/** What a server handler returns: the permissive form. */
export type ReplyOf<K extends RpcName> = Defs[K] extends MethodDefinition<any, infer R, any, any> ? R : never;
/** What a caller gets back: the decoded form, every field present. */
export type ResponseOf<K extends RpcName> = Defs[K] extends MethodDefinition<any, any, any, infer O> ? O : never;
/* eslint-enable @typescript-eslint/no-explicit-any */

export interface CallOptions {
  /**
   * Deadline for this call in milliseconds. Defaults to the runtime request timeout, except for
   * PullImage (no deadline, as upstream) and ExecSync (its own timeout plus the request timeout).
   * `Infinity` means no deadline.
   */
  timeoutMs?: number;
  /** Cancels the call; it then fails with CriCancelledError. */
  signal?: AbortSignal;
}

/** CRI as a typed object: `await cri.ContainerStatus({ containerId })`. */
export type CriApi = {
  [K in RpcName]: (req: RequestOf<K>, opts?: CallOptions) => Promise<ResponseOf<K>>;
};

/** A runtime implementation (the simulated runtime): decoded requests in, replies out. */
export type CriHandlers = {
  [K in RpcName]: (req: DecodedRequestOf<K>) => Promise<ReplyOf<K>>;
};

// ---- The event stream (GetContainerEvents) ------------------------------------------------------
// The one server-streaming RPC kubelet-ts uses. It stays out of RpcName (whose calls are unary
// everywhere: metrics, deadlines, the sim's fault gate); transports that can stream implement
// `streamEvents`, and a runtime that has no stream answers Unimplemented, as containerd 1.6 does.

/** Upstream's operation_type label for the stream. */
export const EVENTS_OPERATION = 'get_container_events';
export const EVENTS_RPC = 'GetContainerEvents';

/** A decoded event, every field present. */
export type ContainerEvent = RuntimeServiceDefinition['GetContainerEvents'] extends MethodDefinition<any, any, any, infer O> ? O : never; // eslint-disable-line @typescript-eslint/no-explicit-any
/** An event as a runtime writes it (the permissive form). */
export type ContainerEventReply = RuntimeServiceDefinition['GetContainerEvents'] extends MethodDefinition<any, infer R, any, any> ? R : never; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The receiving side of an event stream. `end` is called once: on cancel (no error) or when the stream fails. */
export interface EventStreamHandlers {
  event(e: ContainerEvent): void;
  end(err: Error | undefined): void;
}

export interface EventSubscription {
  cancel(): void;
}

/**
 * A runtime that streams its state changes (the simulated runtime). `subscribe` returns the
 * unsubscribe function; events are emitted synchronously, in the order the changes happened.
 */
export interface CriEventSource {
  subscribeContainerEvents(emit: (e: ContainerEventReply) => void): () => void;
}

export function isEventSource(h: unknown): h is CriEventSource {
  return typeof h === 'object' && h !== null && typeof (h as Partial<CriEventSource>).subscribeContainerEvents === 'function';
}
