/** The fake speech-to-speech session's conversation items: parsed from client events, and read as chat turns. */
import { performance } from 'node:perf_hooks';
import { itemId } from './realtime-common.js';
import type { RecordedRealtimeItem } from './types.js';
import type { ChatTurn } from './wire.js';

export interface HeldItem {
  record: RecordedRealtimeItem;
  /** What the user said in an audio item (pocketsphinx), or the text of a text part. */
  words?: Promise<string>;
  /** Assistant items: audio sent so far, ms. */
  audioMs?: number;
}

type Part = { type?: unknown; text?: unknown; image_url?: unknown; detail?: unknown };

/** A `conversation.item.create` item, or the API's complaint about it. */
export function parseMessageItem(raw: unknown): { held: HeldItem; shown: object } | string {
  const item = (raw ?? {}) as { id?: unknown; type?: unknown; role?: unknown; content?: unknown };
  if (item.type !== 'message' || (item.role !== 'user' && item.role !== 'system' && item.role !== 'assistant') || !Array.isArray(item.content)) {
    return 'The fake accepts message items (user, system, assistant) with a content array.';
  }
  const textType = item.role === 'assistant' ? 'output_text' : 'input_text';
  const id = typeof item.id === 'string' ? item.id : itemId();
  const record: RecordedRealtimeItem = { id, role: item.role, contentTypes: [], createdAt: performance.now() };
  const texts: string[] = [];
  for (const part of item.content as Part[]) {
    if (part.type === textType && typeof part.text === 'string') texts.push(part.text);
    else if (part.type === 'input_image' && item.role === 'user') {
      const dataUrl = typeof part.image_url === 'string' ? /^data:(image\/(?:jpeg|png));base64,(.+)$/s.exec(part.image_url) : null;
      if (!dataUrl) return "Invalid 'item.content[].image_url': expected a base64 data URL of a PNG or JPEG image.";
      record.image = { mimeType: dataUrl[1]!, bytes: Buffer.from(dataUrl[2]!, 'base64'), ...(typeof part.detail === 'string' ? { detail: part.detail } : {}) };
    } else return `Invalid content type '${String(part.type)}' for a ${item.role} message.`;
    record.contentTypes.push(String(part.type));
  }
  if (texts.length) record.text = texts.join('\n');
  const shown = { id, object: 'realtime.item', type: 'message', status: 'completed', role: item.role, content: item.content };
  return { held: { record, ...(record.text ? { words: Promise.resolve(record.text) } : {}) }, shown };
}

/** The conversation as chat turns for the reply function: consecutive user items merged, the user's audio as its words. */
export async function conversationTurns(items: readonly HeldItem[], instructions: string): Promise<ChatTurn[]> {
  const turns: ChatTurn[] = [{ role: 'system', text: instructions }];
  for (const held of items) {
    const text = (await held.words?.catch(() => '')) ?? '';
    const image = held.record.image;
    const last = turns.at(-1)!;
    if (last.role === held.record.role && held.record.role === 'user') {
      last.text = [last.text, text].filter(Boolean).join(' ');
      if (image) last.image = { ...image, url: '' };
    } else {
      turns.push({ role: held.record.role, text, ...(image ? { image: { ...image, url: '' } } : {}) });
    }
  }
  return turns;
}
