// What the PLEG tells the pod workers about one container: the upstream PLEG event types. A domain
// type of pods (the bus carries it, the PLEG thread makes it), so neither imports the other.
export type PlegEvent =
  | { type: 'ContainerStarted'; podUid: string; containerId: string }
  | { type: 'ContainerDied'; podUid: string; containerId: string }
  | { type: 'ContainerRemoved'; podUid: string; containerId: string }
  | { type: 'ContainerChanged'; podUid: string; containerId: string };
