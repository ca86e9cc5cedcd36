/**
 * A conversation as stored: the messages the next question would be sent with (images only on the
 * newest turns), as JSON with JPEGs in base64. Kept under a byte bound: images go first, then
 * the oldest turns.
 */
import { z } from 'zod';
import type { ChatMessage } from '../assistant/engine.js';

const storedMessage = z.object({
  role: z.enum(['user', 'assistant']),
  text: z.string(),
  image: z
    .object({ jpeg: z.string(), width: z.number(), height: z.number(), source: z.enum(['camera', 'screen']) })
    .optional(),
});
const storedRecord = z.object({ v: z.literal(1), messages: z.array(storedMessage) });

function toJson(messages: readonly ChatMessage[]): string {
  return JSON.stringify({
    v: 1,
    messages: messages.map((m) => ({
      role: m.role,
      text: m.text,
      ...(m.image ? { image: { ...m.image, jpeg: m.image.jpeg.toString('base64') } } : {}),
    })),
  });
}

/** JSON of `messages` no larger than `maxBytes`, or undefined when not even the last turn fits. */
export function encodeConversation(messages: readonly ChatMessage[], maxBytes: number): string | undefined {
  let kept = [...messages];
  let json = toJson(kept);
  // Oldest images first, then oldest whole turns (a user message and the answer after it).
  while (Buffer.byteLength(json) > maxBytes) {
    const withImage = kept.findIndex((m) => m.image);
    if (withImage >= 0) kept[withImage] = { role: kept[withImage]!.role, text: kept[withImage]!.text };
    else if (kept.length > 0) {
      kept.shift();
      while (kept[0]?.role === 'assistant') kept.shift();
    } else return undefined;
    json = toJson(kept);
  }
  return json;
}

/** The messages of a stored record; a record that is not one of ours reads as empty. */
export function decodeConversation(record: string): ChatMessage[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(record);
  } catch {
    return [];
  }
  const result = storedRecord.safeParse(parsed);
  if (!result.success) return [];
  return result.data.messages.map((m) => ({
    role: m.role,
    text: m.text,
    ...(m.image ? { image: { ...m.image, jpeg: Buffer.from(m.image.jpeg, 'base64') } } : {}),
  }));
}
