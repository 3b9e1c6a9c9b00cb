// The bus vocabulary: every topic and the messages it carries, as discriminated unions on
// `type`, plain structured-clone-safe data. An Envelope wraps each message with a schema version,
// an id, its origin and time, so a message arriving from another thread (or, later, NATS) can be
// checked before anything reads it. Bump ENVELOPE_VERSION when a message shape changes
// incompatibly; the bus refuses envelopes of another version.
import type { Pod, PodStatus } from '../api/core-v1.js';
import type { PlegEvent } from '../actors/pleg.js';
import type { PodRuntimeState } from '../pods/runtime-state.js';

export const ENVELOPE_VERSION = 1;

export interface Topics {
  /** Desired state from pod config to the pod workers. Coalescible per pod UID (latest wins). */
  'pod.update': { type: 'add' | 'update'; pod: Pod; source: string } | { type: 'remove'; pod: Pod; source: string; gracePeriodSeconds?: number };
  /** What the PLEG thread saw: a pod's full runtime state with the events that changed it. */
  'pod.state': { type: 'state'; uid: string; state: PodRuntimeState; events: PlegEvent[] } | { type: 'gone'; uid: string; events: PlegEvent[] };
  /** One relist finished (health and metrics of the PLEG). */
  'pleg.relist': { type: 'relist'; ok: boolean; durationMs: number; intervalMs: number; pods: number; at: number; error?: string };
  /** A pod's computed status changed (status manager, /pods, the NATS bridge). */
  'pod.status': { type: 'status'; uid: string; namespace: string; name: string; status: PodStatus };
  /** An actor's health changed. */
  'actor.health': { type: 'health'; actor: string; ok: boolean; message?: string };
}

export type Topic = keyof Topics;
export type MessageOf<T extends Topic> = Topics[T];

export const TOPICS: readonly Topic[] = ['pod.update', 'pod.state', 'pleg.relist', 'pod.status', 'actor.health'];

/** Request/reply uses these internal topics; they never reach subscribers of the topics above. */
export const REQUEST_PREFIX = '_req.';
export const REPLY_TOPIC = '_reply';

export interface Envelope<T extends string = string, M = unknown> {
  v: number;
  id: string;
  topic: T;
  /** Who published it: "<bus name>" (a thread or process). */
  source: string;
  ts: number;
  /** Request/reply: the request's id on a reply, and where to reply on a request. */
  corr?: string;
  msg: M;
}

/** Checks an envelope that came from elsewhere; returns why it is refused, or undefined. */
export function invalidEnvelope(x: unknown): string | undefined {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return 'not an object';
  const e = x as Partial<Envelope>;
  if (e.v !== ENVELOPE_VERSION) return `envelope version ${String(e.v)} (this bus speaks ${ENVELOPE_VERSION})`;
  if (typeof e.id !== 'string' || e.id === '') return 'no id';
  if (typeof e.topic !== 'string' || e.topic === '') return 'no topic';
  if (typeof e.source !== 'string') return 'no source';
  if (typeof e.ts !== 'number' || !Number.isFinite(e.ts)) return 'no timestamp';
  const known = (TOPICS as readonly string[]).includes(e.topic) || e.topic === REPLY_TOPIC || e.topic.startsWith(REQUEST_PREFIX);
  if (!known) return `unknown topic "${e.topic}"`;
  const m = e.msg as { type?: unknown } | null | undefined;
  if (typeof m !== 'object' || m === null) return 'no message';
  if (!e.topic.startsWith('_') && typeof m.type !== 'string') return 'message without a type';
  return undefined;
}
