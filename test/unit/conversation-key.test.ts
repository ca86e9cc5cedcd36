import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { storeKeyFor, weakKeyReason } from '../../server/conversations/conversation-key.js';

describe('weakKeyReason', () => {
  it('accepts the keys the page makes (32 random bytes, base64url), every time', () => {
    for (let i = 0; i < 2000; i++) expect(weakKeyReason(randomBytes(32).toString('base64url'))).toBeUndefined();
  });

  it('refuses keys under 128 bits, each with a reason', () => {
    const weak = {
      short: 'abc123',
      'a UUID (122 random bits)': randomUUID(),
      'one character repeated': 'a'.repeat(43),
      'two characters': 'ab'.repeat(22),
      'a run': '0123456789abcdefghijklmnopqrstuvwxyzABCDEFG',
      'not base64url': `${randomBytes(32).toString('base64url')}/../`,
      '16 random bytes in hex (entropy estimate under 128)': randomBytes(16).toString('hex'),
      'too long': randomBytes(200).toString('base64url'),
    };
    for (const [what, key] of Object.entries(weak)) expect(weakKeyReason(key), what).toMatch(/\w/);
  });
});

describe('storeKeyFor', () => {
  it('files a key under its SHA-256, the same each time, never the key itself', () => {
    const secret = randomBytes(32).toString('base64url');
    expect(storeKeyFor(secret)).toBe(storeKeyFor(secret));
    expect(storeKeyFor(secret)).not.toContain(secret.slice(0, 8));
    expect(storeKeyFor(secret)).not.toBe(storeKeyFor(randomBytes(32).toString('base64url')));
  });
});
