// The message relay on Redis pub/sub: one channel, `<prefix>relay`, a subscriber connection of
// its own (a subscribed connection can do nothing else) and the publishing one.
import type { Redis, RedisOptions } from 'ioredis';
import { connectRedis } from './connect.js';
import type { MessageRelay } from '../ports.js';
import { DEFAULT_REDIS_PREFIX } from './counters.js';
import { MAX_RELAYED_BYTES, parseRelayed } from '../relay-rules.js';

export interface RedisRelayOptions {
  url: string;
  prefix?: string;
  redis?: RedisOptions;
}

export async function openRedisRelay(options: RedisRelayOptions): Promise<MessageRelay> {
  const channel = `${options.prefix ?? DEFAULT_REDIS_PREFIX}relay`;
  const connect = () => connectRedis(options.url, 'message relay', options.redis);
  const publisher = await connect();
  let subscriber: Redis | undefined;
  return {
    async publish(session, message) {
      const text = JSON.stringify({ session, message });
      if (text.length > MAX_RELAYED_BYTES) throw new Error('a relayed message is larger than 64 KiB');
      await publisher.publish(channel, text);
    },
    async subscribe(onMessage) {
      subscriber ??= await connect();
      subscriber.on('message', (from: string, text: string) => {
        const relayed = from === channel ? parseRelayed(text) : undefined;
        if (relayed) onMessage(relayed.session, relayed.message);
      });
      await subscriber.subscribe(channel);
    },
    async close() {
      await subscriber?.quit().catch(() => subscriber?.disconnect());
      await publisher.quit().catch(() => publisher.disconnect());
    },
  };
}
