// One tcpSocket check, as upstream's TCP prober: open a connection within the timeout and close
// it at once; connected is success. Failure messages are Go's dial errors, which users see in
// `Liveness probe failed: ...` events.
import { connect, isIPv6 } from 'node:net';

export interface TcpSocketResult {
  result: 'success' | 'failure';
  message: string;
}

export function tcpSocketAction(host: string, port: number, timeoutMs: number): Promise<TcpSocketResult> {
  const addr = `${isIPv6(host) ? `[${host}]` : host}:${port}`;
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: TcpSocketResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const socket = connect({ host, port });
    const timer = setTimeout(() => finish({ result: 'failure', message: `dial tcp ${addr}: i/o timeout` }), Math.max(1, timeoutMs));
    socket.once('connect', () => finish({ result: 'success', message: '' }));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      let why: string;
      switch (err.code ?? '') {
        case 'ECONNREFUSED':
          why = 'connect: connection refused';
          break;
        case 'EHOSTUNREACH':
          why = 'connect: no route to host';
          break;
        case 'ENETUNREACH':
          why = 'connect: network is unreachable';
          break;
        default:
          why = err.message;
      }
      finish({ result: 'failure', message: `dial tcp ${addr}: ${why}` });
    });
  });
}
