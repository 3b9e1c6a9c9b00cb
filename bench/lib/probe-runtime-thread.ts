// The probes benchmark's runtime thread: the simulated CRI runtime behind its unix socket and an
// HTTP server on port `port` of each of the first `addresses` pod addresses of the sim's
// loopback CIDR (the sim hands addresses out in order from .2), so httpGet probes reach real
// sockets on the pods' own IPs. On its own thread so the runtime's work is not counted as the
// kubelet's main-thread delay. Messages: 'hits' -> {hits}, 'close' -> {closed}.
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import { startSimRuntimeServer } from '../../src/sim/index.js';

interface Data {
  socket: string;
  cidr: string;
  addresses: number;
  port: number;
}

async function main(): Promise<void> {
  const d = workerData as Data;
  const port = parentPort;
  if (!port) return;
  const server = await startSimRuntimeServer({ listen: `unix://${d.socket}`, runtime: { seed: 1, podCidr: d.cidr } });
  const [a = '127', b = '77'] = d.cidr.split('.');
  const servers: http.Server[] = [];
  let hits = 0;
  const handler = (_req: http.IncomingMessage, res: http.ServerResponse): void => {
    hits++;
    res.end('ok');
  };
  for (let i = 0; i < d.addresses; i++) {
    const k = 2 + i;
    const ip = `${a}.${b}.${k >> 8}.${k & 255}`;
    const s = http.createServer(handler);
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(d.port, ip, resolve);
    });
    servers.push(s);
  }
  port.on('message', (m: unknown) => {
    if (m === 'hits') port.postMessage({ hits });
    if (m === 'close') {
      for (const s of servers) {
        s.closeAllConnections();
        s.close();
      }
      void server.close().then(() => port.postMessage({ closed: true }));
    }
  });
  port.postMessage({ endpoint: server.endpoint });
}

main().catch((err: unknown) => parentPort?.postMessage({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) }));
