/**
 * The OpenAI end-to-end rig: the fake OpenAI server (in this process) ⇄ the real server (child
 * process, OpenAI engine pointed at the fake) ⇄ Debian Chromium, plus probes for what the page
 * received (socket.io frames, HTTP bodies), its reply streaming, errors and the recorded requests.
 */
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { startFakeOpenAI, type FakeEndpoint, type FakeOpenAI, type FakeOpenAIOptions, type RecordedRequest } from '../fake-openai/server.js';
import { type ChatTurn, readChatTurns } from '../fake-openai/wire.js';
import { type FakeMedia, launchBrowser, type RunningServer, startServer, waitForState } from './harness.js';

/** Everything the page received from the network, to search for secrets. */
export interface PageTraffic {
  /** Payloads of every WebSocket frame the page received (socket.io). */
  socketFrames: string[];
  /** Bodies of every HTTP response the page loaded (HTML, JS, CSS, socket.io polling…). */
  httpBodies: Array<{ url: string; body: string }>;
}

export interface OpenAIRig {
  fake: FakeOpenAI;
  server: RunningServer;
  browser: Browser;
  page: Page;
  traffic: PageTraffic;
  pageErrors: string[];
  close(): Promise<void>;
}

export interface OpenAIRigOptions {
  apiKey: string;
  media: FakeMedia;
  fake?: Omit<FakeOpenAIOptions, 'apiKey'>;
  /** Extra server settings (e.g. MODEL_TIMEOUT_MS). */
  serverEnv?: Record<string, string>;
}

/** Opens the page with recorders attached before it loads, so nothing it receives is missed. */
async function openRecordedPage(browser: Browser, url: string): Promise<{ page: Page; traffic: PageTraffic; pageErrors: string[] }> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true });
  const page = await context.newPage();
  const traffic: PageTraffic = { socketFrames: [], httpBodies: [] };
  const pageErrors: string[] = [];
  page.on('websocket', (socket) => {
    socket.on('framereceived', ({ payload }) => {
      traffic.socketFrames.push(typeof payload === 'string' ? payload : payload.toString('utf8'));
    });
  });
  page.on('response', (response) => {
    response.text().then(
      (body) => traffic.httpBodies.push({ url: response.url(), body }),
      () => undefined, // redirects and aborted loads have no body
    );
  });
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(message.text());
  });
  await page.goto(url);
  return { page, traffic, pageErrors };
}

export async function startOpenAIRig(options: OpenAIRigOptions): Promise<OpenAIRig> {
  const fake = await startFakeOpenAI({ ...options.fake, apiKey: options.apiKey });
  let server: RunningServer | undefined;
  let browser: Browser | undefined;
  try {
    [server, browser] = await Promise.all([
      startServer({
        ASSISTANT_ENGINE: 'openai',
        OPENAI_API_KEY: options.apiKey,
        OPENAI_BASE_URL: fake.baseURL,
        ...options.serverEnv,
      }),
      launchBrowser(options.media),
    ]);
    const { page, traffic, pageErrors } = await openRecordedPage(browser, server.url);
    await waitForState(page, 'ready', 20_000);
    const [runningServer, runningBrowser] = [server, browser];
    return {
      fake, server: runningServer, browser: runningBrowser, page, traffic, pageErrors,
      async close() {
        await runningBrowser.close().catch(() => undefined);
        await runningServer.stop();
        await fake.close();
      },
    };
  } catch (error) {
    await browser?.close().catch(() => undefined);
    await server?.stop().catch(() => undefined);
    await fake.close();
    throw error;
  }
}

/** Types a question into the message box and sends it with the Send button. */
export async function askTyped(page: Page, question: string): Promise<void> {
  await page.fill('[data-testid=text-input]', question);
  await page.click('[data-testid=text-send]');
}

export async function errorText(page: Page): Promise<string> {
  return ((await page.locator('[data-testid=error]').textContent()) ?? '').trim();
}

/** Waits for `[data-testid=error]` to show a message and returns it. */
export async function waitForErrorText(page: Page, timeoutMs = 20_000): Promise<string> {
  try {
    await page.waitForFunction(
      `(document.querySelector('[data-testid=error]')?.textContent ?? '').trim() !== ''`,
      undefined,
      { timeout: timeoutMs, polling: 50 },
    );
  } catch {
    throw new Error(`no message in [data-testid=error] within ${timeoutMs} ms (state "${await page.evaluate('document.body.dataset.state')}")`);
  }
  return errorText(page);
}

export async function waitForRequests(fake: FakeOpenAI, endpoint: FakeEndpoint, count: number, timeoutMs = 20_000): Promise<RecordedRequest[]> {
  const deadline = Date.now() + timeoutMs;
  while (fake.requestsTo(endpoint).length < count) {
    if (Date.now() > deadline) {
      throw new Error(`the fake got ${fake.requestsTo(endpoint).length} ${endpoint} requests, not ${count}, within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return fake.requestsTo(endpoint);
}

/** The messages of a recorded chat request, as the fake parsed them (images decoded). */
export function chatTurnsOf(request: RecordedRequest): ChatTurn[] {
  const turns = readChatTurns((request.json as { messages?: unknown } | undefined)?.messages);
  if (!turns) throw new Error(`chat request ${request.path} has no well-formed messages`);
  return turns;
}

export interface PictureSummary {
  width: number;
  height: number;
  meanRgb: [number, number, number];
  format: string | undefined;
}

/** Size, format and mean colour of an image, decoded with sharp. */
export async function summarisePicture(image: Buffer): Promise<PictureSummary> {
  const picture = sharp(image);
  const [metadata, stats] = await Promise.all([picture.metadata(), picture.stats()]);
  const mean = (i: number) => Math.round(stats.channels[i]?.mean ?? NaN);
  return { width: metadata.width ?? 0, height: metadata.height ?? 0, meanRgb: [mean(0), mean(1), mean(2)], format: metadata.format };
}

export interface ReplyGrowthSample {
  /** ms since the watch started. */
  atMs: number;
  /** Text length of the newest assistant message. */
  length: number;
  done: boolean;
}

/** Starts noting how the newest assistant message in the log grows (every DOM change). */
export async function watchReplyGrowth(page: Page): Promise<void> {
  await page.evaluate(`(() => {
    if (window.__replyGrowth) window.__replyGrowth.observer.disconnect();
    const log = document.querySelector('[data-testid=log]');
    const started = performance.now();
    const samples = [];
    const note = () => {
      const all = log.querySelectorAll('[data-role=assistant]');
      const last = all[all.length - 1];
      if (!last) return;
      const length = (last.textContent || '').length, done = last.getAttribute('data-done') === 'true';
      const prev = samples[samples.length - 1];
      if (!prev || prev.length !== length || prev.done !== done) samples.push({ atMs: performance.now() - started, length, done });
    };
    const observer = new MutationObserver(note);
    observer.observe(log, { subtree: true, childList: true, characterData: true, attributes: true });
    window.__replyGrowth = { observer, samples };
  })()`);
}

export async function replyGrowth(page: Page): Promise<ReplyGrowthSample[]> {
  return page.evaluate('window.__replyGrowth ? window.__replyGrowth.samples : []') as Promise<ReplyGrowthSample[]>;
}

/** Milliseconds of 16 kHz PCM whose 10 ms RMS is above `threshold` (0…1). */
export function loudMs(rms10ms: readonly number[], threshold = 0.02): number {
  return rms10ms.filter((value) => value > threshold).length * 10;
}

/** Where `needle` occurs in a text (so a failure message can show the surroundings). */
export function findSecret(haystacks: ReadonlyArray<{ where: string; text: string }>, needle: string): string[] {
  return haystacks.filter(({ text }) => text.includes(needle)).map(({ where }) => where);
}

/** Payloads of the socket.io events named `event` the page received, oldest first. */
export function receivedEvents(traffic: PageTraffic, event: string): unknown[] {
  const payloads: unknown[] = [];
  for (const frame of traffic.socketFrames) {
    // Engine.IO message (4) carrying a socket.io EVENT (2) on the main namespace: 42["name", payload]
    if (!frame.startsWith('42[')) continue;
    const [name, payload] = JSON.parse(frame.slice(2)) as [unknown, unknown];
    if (name === event) payloads.push(payload);
  }
  return payloads;
}

export interface TurnDone {
  turnId: string;
  text: string;
  cancelled?: boolean;
  latencyMs?: number;
  timeline?: Array<{ mark: string; atMs: number }>;
}

/** The last `turn:done` the page received. */
export function lastTurnDone(traffic: PageTraffic): TurnDone | undefined {
  return receivedEvents(traffic, 'turn:done').at(-1) as TurnDone | undefined;
}

/**
 * Waits until the remote audio being recorded (startRemoteAudioCapture) has been loud (10 ms RMS
 * above `threshold`) for `loudMs` in total: a point in the reply measured by what actually played,
 * so it holds however slowly the machine runs.
 */
export async function waitForPlayedLoudMs(page: Page, loudMs: number, timeoutMs = 30_000, threshold = 0.02): Promise<void> {
  await page.evaluate('window.__playedLoud = { chunk: 0, loudWindows: 0 }');
  await page.waitForFunction(`(() => {
    const capture = window.__remoteCapture, seen = window.__playedLoud;
    if (!capture) throw new Error('startRemoteAudioCapture was not called');
    for (; seen.chunk < capture.chunks.length; seen.chunk++) {
      const samples = capture.chunks[seen.chunk].samples;
      for (let start = 0; start + 480 <= samples.length; start += 480) {
        let sum = 0;
        for (let i = start; i < start + 480; i++) sum += samples[i] * samples[i];
        if (Math.sqrt(sum / 480) > ${threshold}) seen.loudWindows++;
      }
    }
    return seen.loudWindows * 10 >= ${loudMs};
  })()`, undefined, { timeout: timeoutMs, polling: 20 });
}
