// The bus: public surface. Actors import from here only.
export { Bus, DEFAULT_CAPACITY, systemBusClock, type Bridge, type BridgeHandle, type BusClock, type BusOptions, type Handler, type InjectResult, type PublishOptions, type SubscribeOptions } from './bus.js';
export { BusError, toPlainError, type BusErrorCode, type PlainError, type RejectReason } from './errors.js';
export { FaultTable, checkFaults, seeded, type Delivery, type TopicFaults } from './faults.js';
export { CoalescingMailbox, FifoMailbox, type Mailbox, type OverflowPolicy, type PushOutcome } from './mailbox.js';
export { ENVELOPE_VERSION, REPLY_TOPIC, REQUEST_PREFIX, TOPICS, isTopic, type AnyMessage, type Envelope, type MessageOf, type ProbeKind, type ReplyMessage, type RequestMessage, type Topic, type TopicEnvelope, type Topics } from './messages.js';
export { busMetrics, type DropReason } from './metrics.js';
export { connectPort, type PortBridge, type PortBridgeOptions } from './port-bridge.js';
export { MESSAGE_SCHEMA, checkEnvelope, envelopeError, invalidEnvelope, type Verdict } from './validate.js';
