/** Page and fake-OpenAI helpers shared by the scale tests (workers.test.ts, nginx-failover.test.ts). */
import type { Page } from 'playwright-core';
import type { FakeOpenAI } from '../fake-openai/server.js';
import type { ChatReplyInput } from '../fake-openai/wire.js';
import { messageCount, waitForReplyDone, waitForState } from './harness.js';
import { askTyped, chatTurnsOf, type OpenAIRig } from './openai-probes.js';

/** The fake's reply names the question it answers, so each turn's text is known. */
export function echoReply({ messages }: ChatReplyInput): string {
  const question = [...messages].reverse().find((turn) => turn.role === 'user');
  return `You asked: ${question?.text ?? 'nothing'}. That is my answer.`;
}

/** `host:pid` of the process serving the page's connection (told at hello). */
export async function pageInstance(page: Page): Promise<string> {
  const instance = (await page.evaluate('document.body.dataset.instance')) as string | undefined;
  if (!instance) throw new Error('the page has no data-instance: hello did not say which process serves it');
  return instance;
}

export function pidOf(instance: string): number {
  const pid = Number(instance.split(':').at(-1));
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no pid in instance "${instance}"`);
  return pid;
}

/** Asks a typed question and waits for its whole reply; returns the reply text. */
export async function askAndWait(page: Page, question: string): Promise<string> {
  const before = await messageCount(page, 'assistant');
  await askTyped(page, question);
  return waitForReplyDone(page, before, 40_000);
}

/** After its process died: the page is back (another instance, ready, its conversation shown). */
export async function waitForReconnect(page: Page, deadInstance: string, timeoutMs = 40_000): Promise<string> {
  await page.waitForFunction(
    `document.body.dataset.instance && document.body.dataset.instance !== ${JSON.stringify(deadInstance)}`,
    undefined,
    { timeout: timeoutMs, polling: 100 },
  );
  await waitForState(page, 'ready', timeoutMs);
  return pageInstance(page);
}

/** The texts of the newest chat request's messages (what the model was sent). */
export function lastChatTexts(fake: FakeOpenAI): string[] {
  const chats = fake.requestsTo('chat');
  const last = chats.at(-1);
  if (!last) throw new Error('the fake got no chat request');
  return chatTurnsOf(last).map((turn) => `${turn.role}: ${turn.text}`);
}

export type { OpenAIRig };
