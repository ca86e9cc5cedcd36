import { describe, expect, it } from 'vitest';
import { RecordTooLargeError } from '../../server/conversations/conversation-store.js';
import { MemoryConversationStore } from '../../server/conversations/memory-store.js';

function storeAt(clock: { now: number }, bounds = { ttlSeconds: 60, maxBytes: 100, maxCount: 3 }) {
  return new MemoryConversationStore(bounds, () => clock.now);
}

describe('MemoryConversationStore', () => {
  it('gives back what was saved, per key', async () => {
    const store = storeAt({ now: 0 });
    await store.save('a', 'record a');
    await store.save('b', 'record b');
    expect(await store.load('a')).toBe('record a');
    expect(await store.load('b')).toBe('record b');
    expect(await store.load('c')).toBeUndefined();
  });

  it('forgets a record not saved again within its expiry', async () => {
    const clock = { now: 0 };
    const store = storeAt(clock);
    await store.save('a', 'kept');
    clock.now = 59_000;
    expect(await store.load('a')).toBe('kept');
    await store.save('a', 'saved again');
    clock.now = 59_000 + 60_000;
    expect(await store.load('a')).toBeUndefined();
  });

  it('keeps at most maxCount records, dropping the least recently used', async () => {
    const store = storeAt({ now: 0 });
    for (const key of ['a', 'b', 'c']) await store.save(key, key);
    await store.load('a'); // b is now the least recently used
    await store.save('d', 'd');
    expect(store.size).toBe(3);
    expect(await store.load('b')).toBeUndefined();
    for (const key of ['a', 'c', 'd']) expect(await store.load(key)).toBe(key);
  });

  it('refuses a record over its byte bound and keeps the previous one', async () => {
    const store = storeAt({ now: 0 });
    await store.save('a', 'small');
    await expect(store.save('a', 'é'.repeat(51))).rejects.toBeInstanceOf(RecordTooLargeError); // 102 bytes
    expect(await store.load('a')).toBe('small');
  });
});
