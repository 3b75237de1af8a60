// The message relay on PostgreSQL LISTEN/NOTIFY: one channel, `posture_relay`, a client of its
// own that listens (it is kept out of the pool) and the pool to notify. NOTIFY payloads must be
// under 8000 bytes, which elicitation answers are.
import type pg from 'pg';
import type { MessageRelay } from '../ports.js';
import { newPool } from './pool.js';
import { parseRelayed } from '../relay-rules.js';

const CHANNEL = 'posture_relay';
const MAX_NOTIFY_BYTES = 7999;

export async function openPostgresRelay(options: { config: pg.PoolConfig }): Promise<MessageRelay> {
  const pool = await newPool(options.config);
  pool.on('error', () => {});
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => {});
    throw new Error(`cannot open the message relay on postgresql: ${(error as Error).message}`, {
      cause: error,
    });
  }
  let listener: pg.PoolClient | undefined;
  let listening: Promise<void> | undefined;
  let closed = false;
  const handlers: Array<(session: string, message: unknown) => void> = [];
  /** Listens on a connection of its own, and again on a new one when that one is lost. */
  const listen = async (): Promise<void> => {
    const client = await pool.connect();
    listener = client;
    const lost = () => {
      if (listener !== client) return;
      listener = undefined;
      client.release(true);
      if (!closed) setTimeout(() => void listen().catch(lost), 1000).unref();
    };
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (notification) => {
      const relayed =
        notification.channel === CHANNEL && notification.payload
          ? parseRelayed(notification.payload)
          : undefined;
      if (relayed) for (const handler of handlers) handler(relayed.session, relayed.message);
    });
    await client.query(`LISTEN ${CHANNEL}`);
  };
  return {
    async publish(session, message) {
      const text = JSON.stringify({ session, message });
      if (Buffer.byteLength(text) > MAX_NOTIFY_BYTES)
        throw new Error('a relayed message is larger than PostgreSQL notifications allow');
      await pool.query('SELECT pg_notify($1, $2)', [CHANNEL, text]);
    },
    async subscribe(onMessage) {
      handlers.push(onMessage);
      listening ??= listen();
      await listening;
    },
    async close() {
      closed = true;
      const client = listener;
      listener = undefined;
      client?.release(true);
      await pool.end().catch(() => {});
    },
  };
}
