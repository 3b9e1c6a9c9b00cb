// Runtime checks for envelopes that arrive from elsewhere (another thread's port, a NATS bridge).
// TypeScript types stop at the thread boundary: a worker with a bug, an older build or a
// hostile publisher can post anything. The bus checks the envelope and, shallowly, the message
// (its `type` is one the topic knows and the fields subscribers key on are present with the
// right kinds) before any subscriber sees it. Deep shapes (a whole Pod) are not checked here:
// subscribers that need more validate at their own boundary (pod config validates manifests).
import { BusError, isPlainError, type RejectReason } from './errors.js';
import { ENVELOPE_VERSION, REPLY_TOPIC, REQUEST_PREFIX, TOPICS, type Envelope, type MessageOf, type Topic } from './messages.js';

type Kind = 'string' | 'number' | 'boolean' | 'object' | 'array';
/** A field's kind; a trailing `?` makes it optional. */
type FieldSpec = Kind | `${Kind}?`;
type Shape<M> = { [K in Exclude<keyof M, 'type'>]-?: FieldSpec };

/**
 * For every topic, every message `type` it may carry and the kinds of its fields. The mapped
 * type makes the compiler demand an entry for each type and each field of each message.
 */
type Schema = { [T in Topic]: { [K in MessageOf<T>['type']]: Shape<Extract<MessageOf<T>, { type: K }>> } };

const podUpdate = { pod: 'object', source: 'string' } as const;
const plegEvent = { podUid: 'string', containerId: 'string' } as const;

export const MESSAGE_SCHEMA: Schema = {
  'pod.update': {
    add: podUpdate,
    update: podUpdate,
    remove: { ...podUpdate, gracePeriodSeconds: 'number?' },
  },
  'pleg.event': { ContainerStarted: plegEvent, ContainerDied: plegEvent, ContainerRemoved: plegEvent, ContainerChanged: plegEvent },
  'pod.state': {
    state: { uid: 'string', state: 'object', events: 'array' },
    gone: { uid: 'string', events: 'array' },
  },
  'pleg.relist': {
    relist: { ok: 'boolean', durationMs: 'number', intervalMs: 'number', pods: 'number', at: 'number', error: 'string?' },
    mode: { evented: 'boolean', streamError: 'string?', at: 'number' },
  },
  'pod.status': { status: { uid: 'string', namespace: 'string', name: 'string', status: 'object' } },
  'probe.result': {
    result: { podUid: 'string', containerName: 'string', containerId: 'string', probe: 'string', result: 'string', message: 'string?', at: 'number' },
  },
  'pod.event': { event: { uid: 'string', namespace: 'string', name: 'string', eventType: 'string', reason: 'string', message: 'string', container: 'string?', at: 'number' } },
  'actor.health': { health: { actor: 'string', ok: 'boolean', message: 'string?' } },
};

function kindOf(v: unknown): Kind | 'other' {
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
    case 'pleg.event':
    case 'pod.state':
    case 'pleg.relist':
    case 'pod.status':
    case 'probe.result':
    case 'pod.event':
    case 'actor.health':
      return undefined;
    default: {
      const never: never = topic;
      return `no deep check for ${String(never)}`;
    }
  }
}

export type Verdict = { type: 'valid'; envelope: Envelope } | { type: 'invalid'; reason: RejectReason; detail: string };

const invalid = (reason: RejectReason, detail: string): Verdict => ({ type: 'invalid', reason, detail });

/** Checks an envelope that came from elsewhere. */
export function checkEnvelope(x: unknown): Verdict {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return invalid('not-object', `an envelope must be an object, got ${x === null ? 'null' : Array.isArray(x) ? 'an array' : typeof x}`);
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
    if (r['ok'] === false && r['noResponder'] !== true && !isPlainError(r['error'])) return invalid('message', 'a failed reply must carry {error: {name, message, code?}}');
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
    if (got !== want) return invalid('message-field', `topic ${topic}, type ${t}: field "${field}" must be ${optional ? 'absent or ' : ''}a ${want}, got ${v === undefined ? 'nothing' : got}`);
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
