import { Redis } from 'ioredis';
import { checkRecordSize, type ConversationStore, type StoreBounds } from './conversation-store.js';

const PREFIX = 'webcam-assistant:conversation:';

/** Conversations in Redis (REDIS_URL): shared by every worker of every machine; Redis expires them. */
export class RedisConversationStore implements ConversationStore {
  readonly kind = 'redis';
  private readonly redis: Redis;

  constructor(url: string, private readonly bounds: StoreBounds) {
    // Fail a command after a few retries instead of queueing it for ever while Redis is away:
    // a turn then goes on without its stored history rather than hanging.
    this.redis = new Redis(url, { maxRetriesPerRequest: 2, connectTimeout: 5000, lazyConnect: false });
    this.redis.on('error', () => undefined); // each command reports its own failure
  }

  async load(key: string): Promise<string | undefined> {
    return (await this.redis.get(PREFIX + key)) ?? undefined;
  }

  async save(key: string, record: string): Promise<void> {
    checkRecordSize(record, this.bounds.maxBytes);
    await this.redis.set(PREFIX + key, record, 'EX', this.bounds.ttlSeconds);
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
