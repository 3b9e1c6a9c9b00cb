// The simulated CRI runtime's public surface.
export { SimRuntime, SIM_RUNTIME_NAME, SIM_RUNTIME_VERSION, DEFAULT_POD_CIDR, SIM_STREAMING_BASE, type SimRuntimeOptions, type SimStats } from './runtime.js';
export { createSimClient, startSimRuntimeServer, type SimRuntimeServer, type SimRuntimeServerOptions } from './server.js';
export { startSimControlServer, type SimControlServer } from './control.js';
export { loadSimConfig, validateSimConfig } from './config.js';
export { ManualClock, realClock, type SimClock } from './clock.js';
export { compileCommand, type Program, type Step } from './command.js';
export { SIM_ANNOTATION_PREFIX, type ExecAnswer } from './annotations.js';
export { DEFAULT_IMAGES, normalizeImageRef, type ImageSpecOption, type PullFailureRule } from './images.js';
export { seededRandom, type FaultSpec, type LatencySpec, type GrpcCodeName } from './faults.js';
export { runSimRuntimeCommand } from './cli.js';
