/**
 * The secret a page holds for its conversation (DESIGN.md "Access and scale"): whoever presents it
 * gets the conversation, so it must be unguessable — at least 128 bits. The page makes 32 random
 * bytes, base64url (43 characters). Stores see only its SHA-256, never the secret itself.
 */
import { createHash } from 'node:crypto';

const ALPHABET = /^[A-Za-z0-9_-]+$/;
const MIN_LENGTH = 32;
const MAX_LENGTH = 128;
const MIN_BITS = 128;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Why `secret` is not a strong conversation key, or undefined when it is. */
export function weakKeyReason(secret: string): string | undefined {
  if (secret.length < MIN_LENGTH || secret.length > MAX_LENGTH) return `must be ${MIN_LENGTH}–${MAX_LENGTH} characters`;
  if (!ALPHABET.test(secret)) return 'must be base64url (A–Z, a–z, 0–9, "-", "_")';
  if (UUID.test(secret)) return 'a UUID carries only 122 random bits';
  // Estimated entropy: the string's own character distribution (Shannon) times its length. A random
  // 43-character base64url key scores ~210 bits; repeats and small alphabets score far lower.
  const counts = new Map<string, number>();
  for (const char of secret) counts.set(char, (counts.get(char) ?? 0) + 1);
  let bitsPerChar = 0;
  for (const n of counts.values()) bitsPerChar -= (n / secret.length) * Math.log2(n / secret.length);
  if (bitsPerChar * secret.length < MIN_BITS) return `looks like fewer than ${MIN_BITS} random bits`;
  // Runs such as "abcdefg…" have a high character entropy but no randomness.
  let steady = 0;
  for (let i = 2; i < secret.length; i++) {
    if (secret.charCodeAt(i) - secret.charCodeAt(i - 1) === secret.charCodeAt(i - 1) - secret.charCodeAt(i - 2)) steady++;
  }
  if (steady > secret.length / 4) return 'is a regular sequence, not random';
  return undefined;
}

/** What a store files the conversation under: a hash, so a store's keys never open a conversation. */
export function storeKeyFor(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url');
}
