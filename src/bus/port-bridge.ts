// Joins two buses on different threads through a MessagePort: call connectPort on both ends
// with the two ends of one MessageChannel. Every envelope published on one side (optionally only
// some topics) is posted to the other, validated there and delivered to its subscribers;
// request/reply crosses the same way. Envelopes never bounce back to the side they came from.
// A NATS bridge (later) implements the same Bridge interface with subjects
// `kubelet.<node>.<topic>` instead of a port.
import type { MessagePort } from 'node:worker_threads';
import type { Bus } from './bus.js';
import type { Envelope } from './messages.js';

export interface PortBridgeOptions {
  /** Topics to forward outbound (default all, including request/reply). */
  topics?: readonly string[];
}

export function connectPort(bus: Bus, port: MessagePort, opts: PortBridgeOptions = {}): { close(): void } {
  const forward = (env: Envelope): boolean => !opts.topics || env.topic.startsWith('_') || opts.topics.includes(env.topic);
  const { inject, detach } = bus.bridge({
    outbound: (env) => {
      if (forward(env)) port.postMessage(env);
    },
  });
  const onMessage = (raw: unknown): void => {
    inject(raw);
  };
  port.on('message', onMessage);
  return {
    close: () => {
      detach();
      port.off('message', onMessage);
      port.close();
    },
  };
}
