// Runtime checks for envelopes that arrive from elsewhere (another thread's port, a NATS bridge).
// TypeScript types stop at the thread boundary: a worker with a bug, an older build or a
// hostile publisher can post anything. The bus checks the envelope and, shallowly, the message
// (its `type` is one the topic knows and the fields subscribers key on are present with the
// right kinds) before any subscriber sees it. Deep shapes (a whole Pod) are not checked here:
// subscribers that need more validate at their own boundary (pod config validates manifests).
import { BusError, isPlainError, type RejectReason } from './errors.js';
import { ENVELOPE_VERSION, REPLY_TOPIC, REQUEST_PREFIX, TOPICS, type Envelope, type MessageOf, type Topic } from './messages.js';

export type Kind = 'string' | 'number' | 'boolean' | 'object' | 'array';
/** A field's kind; a trailing `?` makes it optional. */
export type FieldSpec = Kind | `${Kind}?`;
type Shape<M> = { [K in Exclude<keyof M, 'type'>]-?: FieldSpec };

/**
 * For every topic, every message `type` it may carry and the kinds of its fields. The mapped
 * type makes the compiler demand an entry for each type and each field of each message.
 */
type Schema = { [T in Topic]: { [K in MessageOf<T>['type']]: Shape<Extract<MessageOf<T>, { type: K }>> } };

const podUpdate = { pod: 'object', source: 'string' } as const;
const podWorker = { uid: 'string', namespace: 'string', name: 'string' } as const;

export const MESSAGE_SCHEMA: Schema = {
  'pod.update': {
    add: podUpdate,
    update: podUpdate,
    remove: { ...podUpdate, gracePeriodSeconds: 'number?' },
  },
  'pod.state': {
    state: { uid: 'string', state: 'object', events: 'array' },
    gone: { uid: 'string', events: 'array' },
  },
  'pleg.relist': {
    relist: { ok: 'boolean', durationMs: 'number', intervalMs: 'number', pods: 'number', at: 'number', error: 'string?' },
    mode: { evented: 'boolean', streamError: 'string?', at: 'number' },
  },
  'pod.status': { status: { uid: 'string', namespace: 'string', name: 'string', status: 'object' } },
  'pod.worker': { terminated: { ...podWorker, status: 'object?' }, gone: podWorker },
  'probe.result': {
    result: { podUid: 'string', containerName: 'string', containerId: 'string', probe: 'string', result: 'string', message: 'string?', at: 'number' },
  },
  'pod.event': {
    event: { uid: 'string', namespace: 'string', name: 'string', eventType: 'string', reason: 'string', message: 'string', container: 'string?', at: 'number' },
  },
  eviction: {
    observed: { at: 'number', signals: 'object', unknown: 'object' },
    threshold: { at: 'number', signal: 'string', hard: 'boolean', met: 'boolean', threshold: 'number?', available: 'number?', capacity: 'number?' },
    conditions: { at: 'number', conditions: 'array', added: 'array', removed: 'array' },
    evict: {
      at: 'number',
      uid: 'string',
      namespace: 'string',
      name: 'string',
      signal: 'string',
      hard: 'boolean',
      gracePeriodSeconds: 'number',
      message: 'string',
      annotations: 'object',
    },
    reclaim: { at: 'number', signal: 'string' },
  },
  'node.event': { event: { eventType: 'string', reason: 'string', message: 'string', at: 'number' } },
  'actor.health': { health: { actor: 'string', ok: 'boolean', message: 'string?' } },
};

const CONDITIONS = new Set(['MemoryPressure', 'DiskPressure', 'PIDPressure']);

/** The eviction handle kills the pod an evict names and reports the conditions: they must be readable. */
function evictionProblem(m: Record<string, unknown>): string | undefined {
  if (m['type'] === 'conditions') {
    for (const f of ['conditions', 'added', 'removed']) {
      const list = m[f] as unknown[];
      if (!list.every((c) => typeof c === 'string' && CONDITIONS.has(c))) return `${f} must hold only ${[...CONDITIONS].join(', ')}`;
    }
  }
  if (m['type'] === 'evict') {
    if (m['uid'] === '') return 'uid must not be empty';
    const g = m['gracePeriodSeconds'] as number;
    if (!Number.isInteger(g) || g < 0) return 'gracePeriodSeconds must be a whole number >= 0';
    if (!Object.values(m['annotations'] as object).every((v) => typeof v === 'string')) return 'annotations must map to strings';
  }
  return undefined;
}

/** The kind of a value as the schemas name it ('other': null, NaN, a function, ...). */
export function kindOf(v: unknown): Kind | 'other' {
  if (Array.isArray(v)) return 'array';
  const t = typeof v;
  if (t === 'object') return v === null ? 'other' : 'object';
  if (t === 'number') return Number.isFinite(v) ? 'number' : 'other';
  if (t === 'string' || t === 'boolean') return t;
  return 'other';
}

/** Extra checks where a shallow kind is not enough for subscribers to read safely. */
function deepCheck(topic: Topic, m: Record<string, unknown>): string | undefined {
  switch (topic) {
    case 'pod.update': {
      const md = (m['pod'] as { metadata?: unknown }).metadata;
      return kindOf(md) === 'object' ? undefined : 'pod.metadata must be an object';
    }
    case 'pod.state':
      return podStateProblem(m);
    case 'probe.result':
      if (!PROBE_KINDS.has(m['probe'] as string)) return `probe must be one of ${[...PROBE_KINDS].join(', ')}`;
      return PROBE_RESULTS.has(m['result'] as string) ? undefined : `result must be one of ${[...PROBE_RESULTS].join(', ')}`;
    case 'pod.worker':
    case 'pleg.relist':
    case 'pod.status':
    case 'pod.event':
    case 'actor.health':
    case 'node.event':
      return undefined;
    case 'eviction':
      return evictionProblem(m);
    default: {
      const never: never = topic;
      return `no deep check for ${String(never)}`;
    }
  }
}

// pod.state carries a runtime state that the pod workers keep and read on every later round
// (housekeeping, syncs, status): a wrong shape there would throw from a timer, far from the bus.
// So the whole state is checked, field by field, as the relister builds it.
const PROBE_KINDS = new Set(['liveness', 'readiness', 'startup']);
const PROBE_RESULTS = new Set(['success', 'failure', 'unknown']);
const CONTAINER_STATES = new Set(['created', 'running', 'exited', 'unknown']);
const PLEG_EVENT_TYPES = new Set(['ContainerStarted', 'ContainerDied', 'ContainerRemoved', 'ContainerChanged']);
const SANDBOX_SHAPE: Record<string, FieldSpec> = {
  id: 'string',
  attempt: 'number',
  ready: 'boolean',
  createdAt: 'number',
  ips: 'array',
  hostNetwork: 'boolean',
};
const CONTAINER_SHAPE: Record<string, FieldSpec> = {
  id: 'string',
  runtime: 'string',
  name: 'string',
  sandboxId: 'string',
  attempt: 'number',
  restartCount: 'number',
  hash: 'string',
  state: 'string',
  createdAt: 'number',
  startedAt: 'number',
  finishedAt: 'number',
  exitCode: 'number',
  reason: 'string',
  message: 'string',
  image: 'string',
  imageRef: 'string',
};
const STATE_SHAPE: Record<string, FieldSpec> = {
  uid: 'string',
  name: 'string',
  namespace: 'string',
  sandboxes: 'array',
  containers: 'array',
  observedAt: 'number?',
  source: 'string?',
};

/**
 * Why `v` does not have `shape`, or undefined. Lax (topic messages, which grow fields across
 * versions): fields the shape does not name are let through. Strict (request bodies, whose
 * every field a handler reads): an unnamed field is refused, and the message says an optional
 * field may be absent.
 */
export function shapeProblem(v: unknown, shape: Record<string, FieldSpec>, what: string, mode: 'lax' | 'strict' = 'lax'): string | undefined {
  if (kindOf(v) !== 'object') return `${what} must be an object`;
  const o = v as Record<string, unknown>;
  for (const [field, spec] of Object.entries(shape)) {
    const optional = spec.endsWith('?');
    if (o[field] === undefined && optional) continue;
    const want = optional ? spec.slice(0, -1) : spec;
    if (kindOf(o[field]) !== want) return `${what}.${field} must be ${optional && mode === 'strict' ? 'absent or ' : ''}a ${want}`;
  }
  if (mode === 'strict') for (const field of Object.keys(o)) if (!Object.hasOwn(shape, field)) return `${what}.${field} is not a field of this request`;
  return undefined;
}

function podStateProblem(m: Record<string, unknown>): string | undefined {
  const events = m['events'] as unknown[];
  for (const [i, e] of events.entries()) {
    const bad = shapeProblem(e, { type: 'string', podUid: 'string', containerId: 'string' }, `events[${i}]`);
    if (bad) return bad;
    if (!PLEG_EVENT_TYPES.has((e as { type: string }).type)) return `events[${i}].type is not a PLEG event`;
  }
  if (m['type'] !== 'state') return undefined;
  const state = m['state'] as Record<string, unknown>;
  const bad = shapeProblem(state, STATE_SHAPE, 'state');
  if (bad) return bad;
  if (state['uid'] !== m['uid']) return 'state.uid must be the message uid';
  if (state['source'] !== undefined && state['source'] !== 'event') return "state.source must be absent or 'event'";
  for (const [i, sb] of (state['sandboxes'] as unknown[]).entries()) {
    const p = shapeProblem(sb, SANDBOX_SHAPE, `state.sandboxes[${i}]`);
    if (p) return p;
    if (!(sb as { ips: unknown[] }).ips.every((ip) => typeof ip === 'string')) return `state.sandboxes[${i}].ips must be strings`;
  }
  for (const [i, c] of (state['containers'] as unknown[]).entries()) {
    const p = shapeProblem(c, CONTAINER_SHAPE, `state.containers[${i}]`);
    if (p) return p;
    if (!CONTAINER_STATES.has((c as { state: string }).state)) return `state.containers[${i}].state is not a container state`;
  }
  return undefined;
}

export type Verdict = { type: 'valid'; envelope: Envelope } | { type: 'invalid'; reason: RejectReason; detail: string };

const invalid = (reason: RejectReason, detail: string): Verdict => ({ type: 'invalid', reason, detail });

/** Checks an envelope that came from elsewhere. */
export function checkEnvelope(x: unknown): Verdict {
  if (typeof x !== 'object' || x === null || Array.isArray(x))
    return invalid('not-object', `an envelope must be an object, got ${x === null ? 'null' : Array.isArray(x) ? 'an array' : typeof x}`);
  const e = x as Record<string, unknown>;
  if (e['v'] !== ENVELOPE_VERSION) return invalid('version', `envelope version ${String(e['v'])}, this bus speaks ${ENVELOPE_VERSION}`);
  if (typeof e['id'] !== 'string' || e['id'] === '') return invalid('id', 'envelope without an id');
  const topic = e['topic'];
  if (typeof topic !== 'string' || topic === '') return invalid('topic', 'envelope without a topic');
  if (typeof e['source'] !== 'string') return invalid('source', 'envelope without a source');
  if (kindOf(e['ts']) !== 'number') return invalid('ts', 'envelope without a finite timestamp');
  if (e['corr'] !== undefined && typeof e['corr'] !== 'string') return invalid('corr', 'envelope corr must be a string');
  const m = e['msg'];
  if (topic === REPLY_TOPIC) {
    if (typeof e['corr'] !== 'string') return invalid('corr', 'a reply without corr');
    const r = m as Record<string, unknown> | null;
    if (kindOf(r) !== 'object' || typeof r?.['ok'] !== 'boolean') return invalid('message', 'a reply must be {ok, ...}');
    if (r['ok'] === false && r['noResponder'] !== true && !isPlainError(r['error']))
      return invalid('message', 'a failed reply must carry {error: {name, message, code?}}');
    return { type: 'valid', envelope: x as Envelope };
  }
  if (topic.startsWith(REQUEST_PREFIX)) {
    const r = m as Record<string, unknown> | null;
    if (kindOf(r) !== 'object' || !('req' in (r as object))) return invalid('message', 'a request must be {req, timeoutMs}');
    if (kindOf(r?.['timeoutMs']) !== 'number') return invalid('message', 'a request must carry timeoutMs');
    return { type: 'valid', envelope: x as Envelope };
  }
  if (!(TOPICS as readonly string[]).includes(topic)) return invalid('unknown-topic', `unknown topic "${topic}"`);
  if (kindOf(m) !== 'object') return invalid('message', `topic ${topic}: the message must be an object`);
  const msg = m as Record<string, unknown>;
  const t = msg['type'];
  if (typeof t !== 'string') return invalid('message-type', `topic ${topic}: message without a type`);
  const shapes = MESSAGE_SCHEMA[topic as Topic] as Record<string, Record<string, FieldSpec>>;
  const shape = Object.hasOwn(shapes, t) ? shapes[t] : undefined;
  if (!shape) return invalid('message-type', `topic ${topic}: unknown message type "${t}" (known: ${Object.keys(shapes).join(', ')})`);
  for (const [field, spec] of Object.entries(shape)) {
    const optional = spec.endsWith('?');
    const want = (optional ? spec.slice(0, -1) : spec) as Kind;
    const v = msg[field];
    if (v === undefined && optional) continue;
    const got = kindOf(v);
    if (got !== want)
      return invalid(
        'message-field',
        `topic ${topic}, type ${t}: field "${field}" must be ${optional ? 'absent or ' : ''}a ${want}, got ${v === undefined ? 'nothing' : got}`,
      );
  }
  const deep = deepCheck(topic as Topic, msg);
  if (deep) return invalid('message-field', `topic ${topic}, type ${t}: ${deep}`);
  return { type: 'valid', envelope: x as Envelope };
}

/** The refusal as an error (undefined when the envelope is fine). */
export function envelopeError(x: unknown): BusError | undefined {
  const v = checkEnvelope(x);
  return v.type === 'valid' ? undefined : new BusError('KTS_BUS_INVALID_ENVELOPE', `bus envelope refused (${v.reason}): ${v.detail}`, { reason: v.reason });
}

/** Compatibility: why an envelope is refused, or undefined. */
export function invalidEnvelope(x: unknown): string | undefined {
  const v = checkEnvelope(x);
  return v.type === 'valid' ? undefined : v.detail;
}
