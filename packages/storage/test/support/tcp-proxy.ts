// A TCP proxy in front of a server, to take the server away and bring it back in a test: `down()`
// cuts every connection and refuses new ones, `up()` lets them through again, and `cutAfter(text)`
// lets the next client message containing `text` reach the server but drops the server's answer
// and the connection: the client cannot tell whether its request took effect.
import { connect, createServer, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  down(): void;
  cutAfter(text: string): Promise<void>;
  up(): void;
  close(): Promise<void>;
}

export async function tcpProxy(target: URL): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let accepting = true;
  let cut: { text: string; done: () => void } | undefined;
  const server = createServer((client) => {
    if (!accepting) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port || 5432), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    upstream.pipe(client);
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      if (cut === undefined || !chunk.includes(cut.text)) return;
      const { done } = cut;
      cut = undefined;
      // The server gets the message; its answer never comes back.
      upstream.unpipe(client);
      setTimeout(() => {
        client.destroy();
        upstream.destroy();
        done();
      }, 100);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy has no port');
  return {
    port: address.port,
    down() {
      accepting = false;
      for (const socket of sockets) socket.destroy();
    },
    cutAfter(text) {
      return new Promise((resolve) => (cut = { text, done: resolve }));
    },
    up() {
      accepting = true;
    },
    close() {
      accepting = false;
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
