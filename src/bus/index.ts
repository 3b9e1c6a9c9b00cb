// The bus: public surface.
export { Bus, BusError, type Bridge, type BusOptions, type SubscribeOptions } from './bus.js';
export { connectPort, type PortBridgeOptions } from './port-bridge.js';
export { FaultTable, seeded, type TopicFaults } from './faults.js';
export { ENVELOPE_VERSION, TOPICS, invalidEnvelope, type Envelope, type MessageOf, type Topic, type Topics } from './messages.js';
