// A pod's identity on the bus and the one way the composition reports a pod event: published
// on pod.event, where the event recorder (cluster mode) and the NATS bridge read it.
import type { Pod } from '../api/core-v1.js';
import type { Bus } from '../bus/index.js';
import type { PodEvent } from '../actors/pod-workers/handle.js';

export function podIdentity(pod: Pod): { uid: string; namespace: string; name: string } {
  return { uid: pod.metadata.uid ?? '', namespace: pod.metadata.namespace ?? 'default', name: pod.metadata.name ?? '' };
}

export type PublishPodEvent = (pod: Pod, event: PodEvent) => void;

export function podEventPublisher(bus: Bus): PublishPodEvent {
  return (pod, event) => {
    bus.publish('pod.event', {
      type: 'event',
      ...podIdentity(pod),
      eventType: event.type,
      reason: event.reason,
      message: event.message,
      ...(event.container ? { container: event.container.name } : {}),
      at: Date.now(),
    });
  };
}
