// comlink speaks the DOM's addEventListener/postMessage; Node's MessagePort and Worker speak
// EventEmitter. This adapts one to the other (what comlink's node adapter does), typed for us.
import type { Endpoint } from 'comlink';
import type { MessagePort, Worker } from 'node:worker_threads';

type Listener = Parameters<Endpoint['addEventListener']>[1];
type Transfer = Parameters<Endpoint['postMessage']>[1];
type ListenerFn = (event: { data: unknown }) => void;

export function threadEndpoint(port: MessagePort | Worker): Endpoint {
  const wrapped = new WeakMap<Listener, (data: unknown) => void>();
  return {
    postMessage: (message: unknown, transfer?: Transfer) => {
      port.postMessage(message, transfer as never);
    },
    addEventListener: (_type: string, listener: Listener) => {
      const fn = (data: unknown): void => {
        const l = listener as ListenerFn | { handleEvent: ListenerFn };
        if (typeof l === 'function') l({ data });
        else l.handleEvent({ data });
      };
      wrapped.set(listener, fn);
      port.on('message', fn);
    },
    removeEventListener: (_type: string, listener: Listener) => {
      const fn = wrapped.get(listener);
      if (!fn) return;
      port.off('message', fn);
      wrapped.delete(listener);
    },
    start: () => {
      if ('start' in port && typeof port.start === 'function') port.start();
    },
  };
}
