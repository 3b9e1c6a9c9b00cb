// Joins two buses on different threads through a MessagePort: call connectPort on both ends
// with the two ends of one MessageChannel, transferred to the worker in workerData:
//
//   main thread                              worker thread
//   const { port1, port2 } = new MessageChannel();
//   connectPort(mainBus, port1);             connectPort(workerBus, workerData.port);
//   new Worker(url, { workerData: { port: port2 }, transferList: [port2] });
//
// Every envelope routed on one side (optionally only some topics; request/reply always) is
// posted to the other, validated there and routed to its subscribers; envelopes never bounce
// back to the side they came from. A message that cannot be cloned (a function in it) is
// counted as a drop on the sending side; one that fails to deserialize ('messageerror') or
// validate is refused and counted on the receiving side. The port closing detaches the bridge.
// Give the bus a port of its own: a port shared with comlink or other traffic would have every
// foreign message refused (and counted) as a malformed envelope.
import type { MessagePort } from 'node:worker_threads';
import type { Bus, BridgeHandle } from './bus.js';
import type { Envelope } from './messages.js';

export interface PortBridgeOptions {
  /** Topics to forward outbound (default all). Request/reply topics are always forwarded. */
  topics?: readonly string[];
  /** For logs (default "port"). */
  name?: string;
  /**
   * Topics the far side may publish here (default any). Envelopes of other topics are refused
   * and counted ('topic-not-allowed'): a thread that only reports runtime states cannot post
   * desired pods. Request/reply topics are always let through (their handlers check them).
   */
  inbound?: readonly string[];
}

export interface PortBridge {
  /** Detaches from the bus and closes the port. */
  close(): void;
  readonly handle: BridgeHandle;
}

export function connectPort(bus: Bus, port: MessagePort, opts: PortBridgeOptions = {}): PortBridge {
  const topics = opts.topics ? new Set(opts.topics) : undefined;
  const forward = (env: Envelope): boolean => !topics || env.topic.startsWith('_') || topics.has(env.topic);
  const handle = bus.bridge({
    name: opts.name ?? 'port',
    outbound: (env) => {
      if (forward(env)) port.postMessage(env);
    },
  });
  const inbound = opts.inbound ? new Set(opts.inbound) : undefined;
  const onMessage = (raw: unknown): void => {
    if (inbound) {
      const topic = typeof raw === 'object' && raw !== null ? (raw as { topic?: unknown }).topic : undefined;
      if (typeof topic === 'string' && !topic.startsWith('_') && !inbound.has(topic)) {
        handle.refuse('topic-not-allowed', `topic "${topic}" is not one ${opts.name ?? 'this port'} publishes (${[...inbound].join(', ')})`);
        return;
      }
    }
    void handle.inject(raw);
  };
  const onMessageError = (err: Error): void => handle.refuse('unclonable', err.message);
  let closed = false;
  const detach = (): void => {
    if (closed) return;
    closed = true;
    handle.detach();
    port.off('message', onMessage);
    port.off('messageerror', onMessageError);
  };
  port.on('message', onMessage);
  port.on('messageerror', onMessageError);
  port.once('close', detach);
  return {
    handle,
    close: () => {
      detach();
      port.close();
    },
  };
}
