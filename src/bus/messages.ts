// The bus vocabulary: every topic and the messages it carries, as discriminated unions on
// `type`, plain structured-clone-safe data (no classes, functions, Maps or Dates: they do not
// survive postMessage or JSON for NATS). An Envelope wraps each message with a schema version,
// an id, its origin and time, so a message arriving from another thread (or, later, NATS) can be
// checked (validate.ts) before anything reads it. Bump ENVELOPE_VERSION when a message shape
// changes incompatibly; the bus refuses envelopes of another version rather than guess.
//
// Adding a topic: add it to Topics, to TOPICS and to MESSAGE_SCHEMA in validate.ts (the compiler
// insists on the last one: every `type` of every topic must be described there).
import type { Pod, PodStatus } from '../api/core-v1.js';
import type { PlegEvent } from '../pods/pleg-event.js';
import type { PodRuntimeState } from '../pods/runtime-state.js';
import type { ProbeKind } from '../probes/spec.js';
import type { PlainError } from './errors.js';

export const ENVELOPE_VERSION = 1;

export interface Topics {
  /**
   * Desired state from pod config to the pod workers. Subscribers should coalesce per pod UID
   * (`coalesce: (m) => m.pod.metadata.uid`): only the latest desired state of a pod matters.
   */
  'pod.update': { type: 'add' | 'update'; pod: Pod; source: string } | { type: 'remove'; pod: Pod; source: string; gracePeriodSeconds?: number };
  /**
   * What the PLEG thread saw: a pod's full runtime state with the lifecycle events that changed
   * it (upstream's ContainerStarted / ContainerDied / ContainerRemoved / ContainerChanged, with
   * the pod UID and the container or sandbox ID).
   */
  'pod.state': { type: 'state'; uid: string; state: PodRuntimeState; events: PlegEvent[] } | { type: 'gone'; uid: string; events: PlegEvent[] };
  /**
   * One relist finished (health and metrics of the PLEG), or the PLEG changed mode: following the
   * runtime's event stream or relisting (with why the stream is not used, when it is not).
   */
  'pleg.relist':
    | { type: 'relist'; ok: boolean; durationMs: number; intervalMs: number; pods: number; at: number; error?: string }
    | { type: 'mode'; evented: boolean; streamError?: string; at: number };
  /** A pod's computed status changed (status manager, /pods, the NATS bridge). */
  'pod.status': { type: 'status'; uid: string; namespace: string; name: string; status: PodStatus };
  /**
   * A pod worker reached terminated (killed, finished or refused; with its final status), or is
   * gone for good (terminated and its sandboxes removed): the cluster parts finish the pod's
   * API object and forget it.
   */
  'pod.worker':
    { type: 'terminated'; uid: string; namespace: string; name: string; status?: PodStatus } | { type: 'gone'; uid: string; namespace: string; name: string };
  /**
   * A probe's result changed (the probe thread publishes only changes, as upstream's results
   * manager). `containerId` is the CRI ID of the probed container.
   */
  'probe.result': {
    type: 'result';
    podUid: string;
    containerName: string;
    containerId: string;
    probe: ProbeKind;
    result: 'success' | 'failure' | 'unknown';
    message?: string;
    at: number;
  };
  /**
   * A pod event as the kubelet records it (upstream reasons: Pulled, Created, Started, Killing,
   * BackOff, Unhealthy, ...), in every mode: cluster mode also sends it to the API server.
   */
  'pod.event': {
    type: 'event';
    uid: string;
    namespace: string;
    name: string;
    eventType: 'Normal' | 'Warning';
    reason: string;
    message: string;
    container?: string;
    at: number;
  };
  /**
   * The eviction watcher (actors/eviction): each round's signals (available and capacity per
   * signal, and the ones it could not read), a threshold met or resolved, the node's pressure
   * conditions when they change, a pod it evicts (with the terminal status the pod reports), and
   * a node-level reclaim it asks for (dead containers, unused images) before evicting for disk.
   */
  eviction:
    | { type: 'observed'; at: number; signals: Record<string, { available: number; capacity: number }>; unknown: Record<string, string> }
    | { type: 'threshold'; at: number; signal: string; hard: boolean; met: boolean; threshold?: number; available?: number; capacity?: number }
    | { type: 'conditions'; at: number; conditions: string[]; added: string[]; removed: string[] }
    | {
        type: 'evict';
        at: number;
        uid: string;
        namespace: string;
        name: string;
        signal: string;
        hard: boolean;
        gracePeriodSeconds: number;
        message: string;
        annotations: Record<string, string>;
      }
    | { type: 'reclaim'; at: number; signal: string };
  /** An event about the node itself (image GC: FreeDiskSpaceFailed, ImageGCFailed): cluster mode records it on the Node. */
  'node.event': { type: 'event'; eventType: 'Normal' | 'Warning'; reason: string; message: string; at: number };
  /** An actor's health changed. */
  'actor.health': { type: 'health'; actor: string; ok: boolean; message?: string };
}

export type Topic = keyof Topics;
export type MessageOf<T extends Topic> = Topics[T];
/** Any message of any topic. */
export type AnyMessage = Topics[Topic];

export const TOPICS: readonly Topic[] = [
  'pod.update',
  'pod.state',
  'pleg.relist',
  'pod.status',
  'pod.worker',
  'probe.result',
  'pod.event',
  'eviction',
  'node.event',
  'actor.health',
];

/**
 * Topics published for whoever listens from outside (the NATS bridge, a chaos campaign, a
 * test): a topic in neither this list nor read by a subscriber in src/ is dead, and the lint
 * test (test/lint/topics.test.ts) fails on it.
 */
export const EXTERNAL_TOPICS: readonly Topic[] = ['actor.health'];

export function isTopic(x: string): x is Topic {
  return (TOPICS as readonly string[]).includes(x);
}

/**
 * Request/reply uses internal topics: `_req.<name>` carries a RequestMessage, `_reply` a
 * ReplyMessage whose envelope `corr` is the request's id. Subscribers of the topics above never
 * see them. Names starting with `_` are reserved for the bus.
 */
export const REQUEST_PREFIX = '_req.';
export const REPLY_TOPIC = '_reply';

export interface RequestMessage {
  /** The request body (any structured-clone value, so it is wrapped). */
  req: unknown;
  /** The requester's timeout, so relays can forget the request when it expires. */
  timeoutMs: number;
}

export type ReplyMessage =
  | { ok: true; value: unknown }
  | { ok: false; error: PlainError }
  /** Sent by a bus (or bridge) that got a request and has no route to a responder for it. */
  | { ok: false; noResponder: true; from: string };

export interface Envelope<T extends string = string, M = unknown> {
  v: number;
  /** Unique per envelope (a duplicate injected by fault injection keeps its id). */
  id: string;
  topic: T;
  /** Who published it: the name of the bus (a thread or process). */
  source: string;
  /** Publication time, ms since the epoch, from the publishing bus's clock. */
  ts: number;
  /** Correlation: on a reply, the request's id; publishers may set it to link messages. */
  corr?: string;
  msg: M;
}

export type TopicEnvelope<T extends Topic> = Envelope<T, MessageOf<T>>;
