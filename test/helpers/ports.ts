import net from 'node:net';

/**
 * A loopback port that was free a moment ago. Another process may take it before the caller
 * binds it; servers started on it report that as a failed start rather than a wrong answer.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}
