// The bus: public surface. Actors import from here only.
//
// Quick map: messages.ts (topics and envelopes: the shared vocabulary), validate.ts (checks at
// the thread boundary), mailbox.ts (bounded and coalescing queues), faults.ts (chaos hooks),
// metrics.ts, bus.ts (routing, pub/sub, request/reply), port-bridge.ts (worker threads).
//
// The NATS bridge (a later issue) is a Bridge, like the port bridge, and needs no actor change:
//   const handle = bus.bridge({
//     name: 'nats',
//     outbound: (env) => { if (mirrored.has(env.topic)) nc.publish(`kubelet.${node}.${env.topic}`, json.encode(env)); },
//     carriesRequests: false,            // unless it also maps _req.<name> / _reply to NATS request/reply
//   });
//   nc.subscribe(`kubelet.${node}.>`, { callback: (err, m) => handle.inject(json.decode(m.data)) });
// Envelopes are plain data and survive JSON (no undefined-only fields are relied on); inbound
// ones are validated and counted like port traffic. Echo: the bus never hands an envelope back
// to the bridge it came from, but NATS echoes a connection's own publications unless the
// connection is opened with `noEcho: true`, which the bridge must do (or drop env.source ===
// bus.name). Commands taken in from NATS should arrive as requests (`_req.<name>`), so they get
// a reply, a timeout and KTS_BUS_NO_RESPONDER for free.
export {
  Bus,
  DEFAULT_CAPACITY,
  systemBusClock,
  type Bridge,
  type BridgeHandle,
  type BusClock,
  type BusOptions,
  type Handler,
  type InjectResult,
  type PublishOptions,
  type SubscribeOptions,
} from './bus.js';
export { BusError, toPlainError, type BusErrorCode, type PlainError, type RejectReason } from './errors.js';
export { FaultTable, checkFaults, seeded, type Delivery, type TopicFaults } from './faults.js';
export { CoalescingMailbox, FifoMailbox, type Mailbox, type OverflowPolicy, type PushOutcome } from './mailbox.js';
export {
  ENVELOPE_VERSION,
  EXTERNAL_TOPICS,
  REPLY_TOPIC,
  REQUEST_PREFIX,
  TOPICS,
  isTopic,
  type AnyMessage,
  type Envelope,
  type MessageOf,
  type ReplyMessage,
  type RequestMessage,
  type Topic,
  type TopicEnvelope,
  type Topics,
} from './messages.js';
export { busMetrics, type DropReason } from './metrics.js';
export {
  REQUESTS,
  REQUEST_SCHEMA,
  isRequestName,
  requestProblem,
  type ActorHealth,
  type PlegStats,
  type PodWorkerSummary,
  type ProbeThreadStats,
  type ReplyOf,
  type RequestName,
  type RequestOf,
  type Requests,
  type SyncPoolStats,
} from './requests.js';
export { connectPort, type PortBridge, type PortBridgeOptions } from './port-bridge.js';
export { MESSAGE_SCHEMA, checkEnvelope, envelopeError, invalidEnvelope, type Verdict } from './validate.js';
