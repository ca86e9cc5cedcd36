/**
 * "What's wrong with the code on my screen?": Chromium shares a tab holding a known code listing
 * (real tab capture, picked by title, 1920×1080), a question is typed, and tesseract reads the
 * JPEG the (fake) vision model received: at least 90 % of the listing's words must come back.
 * The same OCR on a screenshot of the tab itself is printed beside it as the ceiling.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MEDIA_DIR, makeSpeechWav } from '../../scripts/make-test-media.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fake-openai/server.js';
import type { ChatReplyInput } from '../fake-openai/wire.js';
import { assertRigToolsPresent, CHROMIUM_PATH, chromiumFlags, printFailureContext, type RunningServer, startServer, waitForReplyDone, waitForState, messageCount } from './harness.js';
import { assertTesseractPresent, ocrImage, wordScore } from './ocr.js';

const API_KEY = `sk-e2e-${randomBytes(12).toString('hex')}`;
const LISTING_TITLE = 'Code listing under test';
const LISTING = `import { readFile } from 'node:fs/promises';

/** Average order value per customer, from a JSON export of the orders. */
export async function averageOrderValue(exportPath) {
  const orders = JSON.parse(await readFile(exportPath, 'utf8'));
  const totals = new Map();
  for (let index = 0; index <= orders.length; index++) {
    const order = orders[index];
    const previous = totals.get(order.customerId) ?? { sum: 0, count: 0 };
    previous.sum += order.amountCents / 100;
    previous.count += 1;
    totals.set(order.customerId, previous);
  }
  const averages = [];
  for (const [customerId, { sum, count }] of totals) {
    averages.push({ customerId, average: Math.round((sum / count) * 100) / 100 });
  }
  averages.sort((first, second) => second.average - first.average);
  return averages.slice(0, 10);
}

export function formatReport(averages, currency = 'EUR') {
  const formatter = new Intl.NumberFormat('en-GB', { style: 'currency', currency });
  return averages
    .map(({ customerId, average }) => customerId.padEnd(12) + formatter.format(average))
    .join('\\n');
}`;

const LISTING_PAGE = `<!doctype html><meta charset="utf-8"><title>${LISTING_TITLE}</title>
<style>body { margin: 0; background: #ffffff; color: #1f2328; }
pre { font: 16px/1.45 "DejaVu Sans Mono", monospace; margin: 24px 32px; }</style>
<pre id="listing"></pre><script>document.getElementById('listing').textContent = ${JSON.stringify(LISTING)};</script>`;

let fake: FakeOpenAI;
let server: RunningServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let listingTab: Page;
const images: Buffer[] = [];
const pageErrors: string[] = [];

async function rememberImage({ messages }: ChatReplyInput): Promise<string> {
  const question = [...messages].reverse().find((turn) => turn.role === 'user');
  if (question?.image) images.push(question.image.bytes);
  return 'The loop runs one step too far. Use less than, not less than or equal.';
}

beforeAll(async () => {
  await Promise.all([assertRigToolsPresent(), assertTesseractPresent()]);
  const wav = await makeSpeechWav('hello there', path.join(DEFAULT_MEDIA_DIR, 'hello-there.wav'), { padSeconds: 1 });
  fake = await startFakeOpenAI({ apiKey: API_KEY, reply: rememberImage });
  // Real tab capture: no fake picker (it would hand out the fake screen); permissions granted instead.
  const flags = chromiumFlags({ audioWav: wav, videoY4m: '' })
    .filter((flag) => !flag.startsWith('--use-file-for-fake-video-capture') && !flag.startsWith('--auto-select-desktop-capture-source') && flag !== '--use-fake-ui-for-media-stream')
    .concat(`--auto-select-tab-capture-source-by-title=${LISTING_TITLE}`);
  [server, browser] = await Promise.all([
    startServer({ ASSISTANT_ENGINE: 'openai', OPENAI_API_KEY: API_KEY, OPENAI_BASE_URL: fake.baseURL }),
    chromium.launch({ executablePath: CHROMIUM_PATH, headless: false, args: flags, timeout: 30_000 }),
  ]);
  context = await browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true, viewport: { width: 1920, height: 1080 } });
  await context.grantPermissions(['camera', 'microphone']);
  listingTab = await context.newPage();
  await listingTab.setContent(LISTING_PAGE);
  page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  await page.goto(server.url);
  await waitForState(page, 'ready', 20_000);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await fake?.close();
}, 30_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail') printFailureContext(server, pageErrors, 3000);
});

describe('screen share of a code listing', () => {
  it('the still the model gets is readable: ≥ 90 % of the listing\'s words by OCR', async () => {
    await page.click('[data-testid=source-screen]');
    await page.waitForFunction(`(() => {
      const sender = window.__pc.getSenders().find((s) => s.track && s.track.kind === 'video');
      return sender && sender.track.getSettings().displaySurface === 'browser';
    })()`, undefined, { timeout: 10_000 });
    await page.waitForTimeout(3000); // the encoder's first seconds of a new source
    const before = await messageCount(page, 'assistant');
    await page.fill('[data-testid=text-input]', "What's wrong with the code on my screen?");
    await page.click('[data-testid=text-send]');
    await waitForReplyDone(page, before, 40_000);
    expect(images).toHaveLength(1);
    const still = images[0]!;
    const { width, height } = await sharp(still).metadata();
    const score = wordScore(LISTING, await ocrImage(still));
    const ceiling = wordScore(LISTING, await ocrImage(await listingTab.screenshot({ type: 'png' })));
    console.log(`screen still ${width}x${height}, ${still.length} bytes: OCR ${(score * 100).toFixed(1)} % of the listing's words (screenshot of the tab: ${(ceiling * 100).toFixed(1)} %)`);
    expect(score).toBeGreaterThanOrEqual(0.9);
  }, 90_000);
});
