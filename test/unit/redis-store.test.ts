/** Against a real redis-server (Debian package) this test starts on a free port. */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordTooLargeError } from '../../server/conversations/conversation-store.js';
import { RedisConversationStore } from '../../server/conversations/redis-store.js';
import { startRedis, type RunningService } from '../e2e/services.js';

let redis: RunningService & { url: string };
let store: RedisConversationStore;
let inspect: Redis;

beforeAll(async () => {
  redis = await startRedis();
  store = new RedisConversationStore(redis.url, { ttlSeconds: 120, maxBytes: 1000 });
  inspect = new Redis(redis.url);
}, 20_000);

afterAll(async () => {
  await store?.close();
  inspect?.disconnect();
  await redis?.stop();
});

describe('RedisConversationStore', () => {
  it('saves and loads by key, and a second client (another machine) sees the same record', async () => {
    await store.save('key-a', '{"v":1,"messages":[]}');
    expect(await store.load('key-a')).toBe('{"v":1,"messages":[]}');
    const other = new RedisConversationStore(redis.url, { ttlSeconds: 120, maxBytes: 1000 });
    expect(await other.load('key-a')).toBe('{"v":1,"messages":[]}');
    expect(await other.load('key-b')).toBeUndefined();
    await other.close();
  });

  it('sets the expiry on each save, under a prefix of its own', async () => {
    await store.save('key-ttl', 'x');
    const keys = await inspect.keys('*key-ttl');
    expect(keys).toEqual(['webcam-assistant:conversation:key-ttl']);
    const ttl = await inspect.ttl(keys[0]!);
    expect(ttl).toBeGreaterThan(100);
    expect(ttl).toBeLessThanOrEqual(120);
  });

  it('really expires: a record saved with a 1 s expiry is gone 2 s later', async () => {
    const brief = new RedisConversationStore(redis.url, { ttlSeconds: 1, maxBytes: 1000 });
    await brief.save('key-brief', 'soon gone');
    expect(await brief.load('key-brief')).toBe('soon gone');
    await new Promise((resolve) => setTimeout(resolve, 2100));
    expect(await brief.load('key-brief')).toBeUndefined();
    await brief.close();
  });

  it('refuses a record over its byte bound without writing it', async () => {
    await expect(store.save('key-big', 'x'.repeat(1001))).rejects.toBeInstanceOf(RecordTooLargeError);
    expect(await inspect.exists('webcam-assistant:conversation:key-big')).toBe(0);
  });

  it('fails a command (rather than hanging) when Redis is not there', async () => {
    const nowhere = new RedisConversationStore('redis://127.0.0.1:1', { ttlSeconds: 60, maxBytes: 1000 });
    const started = Date.now();
    await expect(nowhere.load('key-a')).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(10_000);
    await nowhere.close();
  }, 15_000);
});
