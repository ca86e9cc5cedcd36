/**
 * Page-side probes for the e2e rig: the page contract (DESIGN.md), the remote audio as it plays
 * (WebAudio on `<audio data-testid="assistant-audio">`), WebRTC stats, and speech recognition.
 *
 * In-page code is sent as source strings rather than functions: tsx/esbuild may wrap functions
 * with helpers (`__name`) that do not exist in the page.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';

const run = promisify(execFile);

export type PageState = 'connecting' | 'ready' | 'listening' | 'thinking' | 'speaking' | 'error';

/**
 * `window.__pc` is the page's own report of its current RTCPeerConnection. As a fallback the rig
 * notes every RTCPeerConnection the page constructs, so the probes still work if the page omits it.
 */
const PEER_CONNECTION_TRACKER = `(() => {
  const Native = window.RTCPeerConnection;
  if (!Native || Native.__e2eTracked) return;
  const Tracked = function (...args) { const pc = new Native(...args); window.__e2eLastPc = pc; return pc; };
  Tracked.prototype = Native.prototype;
  Object.setPrototypeOf(Tracked, Native);
  Tracked.__e2eTracked = true;
  window.RTCPeerConnection = Tracked;
})();`;

/** The page's RTCPeerConnection, as in-page source: `window.__pc`, else the last one constructed. */
export const PAGE_PC = '(window.__pc || window.__e2eLastPc)';

/** Whether the page sets `window.__pc` itself (the rig's fallback hides a missing one). */
export async function pageExposesPc(page: Page): Promise<boolean> {
  return page.evaluate('Boolean(window.__pc)') as Promise<boolean>;
}

/**
 * A new page (own context: self-signed TLS accepted, page CSP bypassed for the recorder).
 * `initScripts` run before the page's own code, after the peer-connection tracker.
 */
export async function openPage(browser: Browser, url: string, initScripts: string[] = []): Promise<Page> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true });
  await context.addInitScript(PEER_CONNECTION_TRACKER);
  for (const script of initScripts) await context.addInitScript(script);
  const page = await context.newPage();
  await page.goto(url);
  return page;
}

export async function currentState(page: Page): Promise<string | undefined> {
  return page.evaluate('document.body ? document.body.dataset.state : undefined') as Promise<string | undefined>;
}

export async function waitForState(page: Page, state: PageState, timeoutMs = 10_000): Promise<void> {
  try {
    await page.waitForFunction(`document.body && document.body.dataset.state === ${JSON.stringify(state)}`, undefined, {
      timeout: timeoutMs,
      polling: 20,
    });
  } catch {
    throw new Error(`page state did not become "${state}" within ${timeoutMs} ms (it is "${await currentState(page)}")`);
  }
}

export async function holdToTalk(page: Page, ms: number): Promise<void> {
  await page.keyboard.down('Space');
  await page.waitForTimeout(ms);
  await page.keyboard.up('Space');
}

export interface LogMessage {
  text: string;
  done: boolean;
}

export async function messageCount(page: Page, role: 'user' | 'assistant'): Promise<number> {
  return page.locator(`[data-testid=log] [data-role=${role}]`).count();
}

export async function lastMessage(page: Page, role: 'user' | 'assistant'): Promise<LogMessage | null> {
  const messages = page.locator(`[data-testid=log] [data-role=${role}]`);
  const count = await messages.count();
  if (count === 0) return null;
  const last = messages.nth(count - 1);
  return { text: (await last.textContent()) ?? '', done: (await last.getAttribute('data-done')) === 'true' };
}

/** Waits for an assistant message beyond the first `knownCount` with data-done="true". */
export async function waitForReplyDone(page: Page, knownCount: number, timeoutMs = 30_000): Promise<string> {
  const selector = '[data-testid=log] [data-role=assistant]';
  await page.waitForFunction(
    `(() => { const m = document.querySelectorAll(${JSON.stringify(selector)}); return m.length > ${knownCount} && m[m.length - 1].getAttribute('data-done') === 'true'; })()`,
    undefined,
    { timeout: timeoutMs, polling: 50 },
  );
  return (await lastMessage(page, 'assistant'))?.text ?? '';
}

/**
 * Resolves right after the fake microphone's looped file goes from speech to silence, so a hold
 * that starts now covers the padding and then one whole sentence. Each capture of the fake device
 * loops the file from its own start, so this listens to a clone of the very track the page sends
 * (`window.__pc`); the clone is enabled even if the page mutes its track between turns.
 */
export async function waitForMicSpeechEnd(page: Page, timeoutMs = 15_000, minSilenceMs = 350): Promise<void> {
  await page.evaluate(`(async () => {
    const pc = ${PAGE_PC};
    if (!pc) throw new Error('the page has no RTCPeerConnection (window.__pc unset, none constructed)');
    const sent = pc.getSenders().map((s) => s.track).find((t) => t && t.kind === 'audio' && t.readyState === 'live');
    if (!sent) throw new Error('window.__pc sends no live audio track (the microphone)');
    const track = sent.clone();
    track.enabled = true;
    const ctx = new AudioContext();
    await ctx.resume();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 1024;
    ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    const buf = new Float32Array(analyser.fftSize);
    const started = performance.now();
    let speechMs = 0, silenceMs = 0, last = performance.now();
    try {
      await new Promise((resolve, reject) => {
        const timer = setInterval(() => {
          const now = performance.now(), dt = now - last; last = now;
          analyser.getFloatTimeDomainData(buf);
          let sum = 0; for (const v of buf) sum += v * v;
          if (Math.sqrt(sum / buf.length) > 0.01) { speechMs += dt; silenceMs = 0; } else { silenceMs += dt; }
          // Pauses between words stay under ~300 ms; the file's padding is longer.
          if (speechMs > 500 && silenceMs > ${minSilenceMs}) { clearInterval(timer); resolve(); }
          if (now - started > ${timeoutMs}) { clearInterval(timer); reject(new Error('no speech then silence on the fake mic within ${timeoutMs} ms')); }
        }, 10);
      });
    } finally { track.stop(); ctx.close(); }
  })()`);
}

export interface LoopedSpeech {
  /** Seconds of speech in the fake mic's file. */
  speechSeconds: number;
  /** Seconds of silence before and after it in the file. */
  padSeconds: number;
}

/** Holds Space over exactly one pass of the looped sentence: from the silence before it to just after it. */
export async function askLoopedQuestion(page: Page, speech: LoopedSpeech): Promise<void> {
  await waitForMicSpeechEnd(page);
  // The speech end is detected ~350 ms into the 2·pad gap; release 400 ms after the next pass ends.
  const holdMs = Math.round((2 * speech.padSeconds - 0.35 + speech.speechSeconds + 0.4) * 1000);
  await holdToTalk(page, holdMs);
}

/** Starts recording what the remote stream plays (48 kHz, WebAudio AudioWorklet). */
export async function startRemoteAudioCapture(page: Page): Promise<void> {
  await page.evaluate(`(async () => {
    const audio = document.querySelector('audio[data-testid="assistant-audio"]');
    if (!audio) throw new Error('no <audio data-testid="assistant-audio"> on the page');
    const stream = audio.srcObject;
    if (!(stream instanceof MediaStream) || stream.getAudioTracks().length === 0)
      throw new Error('<audio data-testid="assistant-audio"> has no srcObject MediaStream with an audio track');
    if (window.__remoteCapture && window.__remoteCapture.ctx.state !== 'closed') await window.__remoteCapture.ctx.close();
    const ctx = new AudioContext({ sampleRate: 48000 });
    await ctx.resume();
    const src = "registerProcessor('e2e-recorder', class extends AudioWorkletProcessor {" +
      " constructor() { super(); this.buf = new Float32Array(512); this.n = 0; this.first = -1; }" +
      " process(inputs) { const ch = inputs[0] && inputs[0][0];" +
      "  if (this.first < 0) this.first = currentFrame;" +
      "  for (let i = 0; i < 128; i++) this.buf[this.n++] = ch ? ch[i] : 0;" +
      "  if (this.n === this.buf.length) { this.port.postMessage({ frame: this.first, samples: this.buf }); this.buf = new Float32Array(512); this.n = 0; this.first = -1; }" +
      "  return true; } });";
    await ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([src], { type: 'application/javascript' })));
    const node = new AudioWorkletNode(ctx, 'e2e-recorder', { numberOfInputs: 1, numberOfOutputs: 1 });
    const mute = ctx.createGain(); mute.gain.value = 0;
    ctx.createMediaStreamSource(stream).connect(node).connect(mute).connect(ctx.destination);
    const capture = { ctx, chunks: [], marks: [], startFrame: -1 };
    node.port.onmessage = (e) => { if (capture.startFrame < 0) capture.startFrame = e.data.frame; capture.chunks.push({ frame: e.data.frame, samples: e.data.samples, at: performance.now() }); };
    capture.onKey = (e) => capture.marks.push({ label: e.key === ' ' ? 'Space' : e.key, type: e.type, at: e.timeStamp, frame: Math.round(ctx.currentTime * 48000) });
    window.addEventListener('keydown', capture.onKey, true);
    window.addEventListener('keyup', capture.onKey, true);
    window.__remoteCapture = capture;
  })()`);
}

/** Resolves when what the remote stream plays is loud (10 ms RMS above `threshold`): mid-word. */
export async function waitForRemoteAudioLoud(page: Page, threshold = 0.1, timeoutMs = 10_000): Promise<void> {
  await page.evaluate(`(async () => {
    const stream = document.querySelector('audio[data-testid="assistant-audio"]').srcObject;
    const ctx = new AudioContext();
    await ctx.resume();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 512;
    ctx.createMediaStreamSource(stream).connect(analyser);
    const buf = new Float32Array(analyser.fftSize);
    const started = performance.now();
    try {
      await new Promise((resolve, reject) => {
        const timer = setInterval(() => {
          analyser.getFloatTimeDomainData(buf);
          let sum = 0; for (let i = buf.length - 480; i < buf.length; i++) sum += buf[i] * buf[i];
          if (Math.sqrt(sum / 480) > ${threshold}) { clearInterval(timer); resolve(); }
          else if (performance.now() - started > ${timeoutMs}) { clearInterval(timer); reject(new Error('the remote audio did not get loud within ${timeoutMs} ms')); }
        }, 2);
      });
    } finally { ctx.close(); }
  })()`);
}

export interface CaptureMark {
  label: string;
  type: 'keydown' | 'keyup';
  /** The event's timeStamp (page performance.now() clock), ms. */
  atMs: number;
  /** Position in the 16 kHz capture, samples, placed by the wall clock (event time vs chunk arrival). */
  sample: number;
  /** The same placed by AudioContext.currentTime at the event (runs ahead when output buffers are large). */
  sampleByContextClock: number;
}

/** Stops recording and returns what played, resampled (by the browser) to 16 kHz mono PCM. */
export async function stopRemoteAudioCapture(page: Page): Promise<Int16Array> {
  const base64 = (await page.evaluate(`(async () => {
    const capture = window.__remoteCapture;
    if (!capture) throw new Error('startRemoteAudioCapture was not called');
    window.removeEventListener('keydown', capture.onKey, true);
    window.removeEventListener('keyup', capture.onKey, true);
    await capture.ctx.close();
    const chunks = capture.chunks;
    const start = capture.startFrame < 0 ? 0 : capture.startFrame;
    const end = chunks.length ? chunks[chunks.length - 1].frame + 512 : start;
    const length = Math.max(3, end - start);
    const offline = new OfflineAudioContext(1, Math.ceil(length / 3), 16000);
    const buffer = offline.createBuffer(1, length, 48000);
    const data = buffer.getChannelData(0);
    for (const c of chunks) data.set(c.samples, c.frame - start);
    const player = offline.createBufferSource(); player.buffer = buffer; player.connect(offline.destination); player.start();
    const rendered = (await offline.startRendering()).getChannelData(0);
    const pcm = new Int16Array(rendered.length);
    for (let i = 0; i < rendered.length; i++) pcm[i] = Math.max(-32768, Math.min(32767, Math.round(rendered[i] * 32767)));
    // Place each key press by wall clock: the first chunk that reached this thread after the event
    // holds the audio that entered the graph just before that chunk's arrival.
    const frameAtWallClock = (t) => {
      const chunk = chunks.find((c) => c.at >= t);
      if (!chunk) return end;
      return Math.max(chunk.frame, chunk.frame + 512 - Math.round((chunk.at - t) * 48));
    };
    capture.marks = capture.marks.map((m) => ({ label: m.label, type: m.type, atMs: m.at,
      sample: Math.round((frameAtWallClock(m.at) - start) / 3), sampleByContextClock: Math.round((m.frame - start) / 3) }));
    const bytes = new Uint8Array(pcm.buffer);
    let text = '';
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(text);
  })()`)) as string;
  const bytes = Buffer.from(base64, 'base64');
  return new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** Key presses seen during the last capture, placed in its 16 kHz timeline. */
export async function remoteAudioMarks(page: Page): Promise<CaptureMark[]> {
  return page.evaluate('window.__remoteCapture ? window.__remoteCapture.marks : []') as Promise<CaptureMark[]>;
}

/** RMS (0…1) of each `windowMs` window of 16 kHz PCM. */
export function rmsWindows(pcm: Int16Array, windowMs = 10): number[] {
  const size = Math.round((16_000 * windowMs) / 1000);
  const out: number[] = [];
  for (let start = 0; start + size <= pcm.length; start += size) {
    let sum = 0;
    for (let i = start; i < start + size; i++) sum += (pcm[i] / 32768) ** 2;
    out.push(Math.sqrt(sum / size));
  }
  return out;
}

export interface InboundAudioStats {
  totalAudioEnergy: number;
  totalSamplesReceived: number;
  concealedSamples: number;
  packetsReceived: number;
  /** Seconds of jitter-buffer delay summed over emitted samples (divide by jitterBufferEmittedCount). */
  jitterBufferDelay: number;
  jitterBufferEmittedCount: number;
}

/** Inbound audio RTP stats of the page's peer connection (`window.__pc`). */
export async function inboundAudioStats(page: Page): Promise<InboundAudioStats> {
  return page.evaluate(`(async () => {
    const pc = ${PAGE_PC};
    if (!pc) throw new Error('the page has no RTCPeerConnection (window.__pc unset, none constructed)');
    const report = await pc.getStats();
    for (const s of report.values()) {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') return {
        totalAudioEnergy: s.totalAudioEnergy || 0, totalSamplesReceived: s.totalSamplesReceived || 0,
        concealedSamples: s.concealedSamples || 0, packetsReceived: s.packetsReceived || 0,
        jitterBufferDelay: s.jitterBufferDelay || 0, jitterBufferEmittedCount: s.jitterBufferEmittedCount || 0 };
    }
    throw new Error('no inbound-rtp audio in window.__pc.getStats()');
  })()`) as Promise<InboundAudioStats>;
}

export async function peerConnectionState(page: Page): Promise<string | undefined> {
  return page.evaluate(`${PAGE_PC} ? ${PAGE_PC}.connectionState : undefined`) as Promise<string | undefined>;
}

/** Runs pocketsphinx_continuous (en-us) over 16 kHz mono PCM; resolves with the words it heard. */
export async function transcribePcm16k(pcm: Int16Array): Promise<string> {
  // A file, not stdin: Node's stdio pipes are sockets, which pocketsphinx cannot fopen("/dev/stdin").
  const dir = await mkdtemp(path.join(os.tmpdir(), 'e2e-stt-'));
  const rawPath = path.join(dir, 'speech.raw');
  try {
    await writeFile(rawPath, Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength));
    const { stdout } = await run('pocketsphinx_continuous', ['-infile', rawPath, '-samprate', '16000', '-logfn', '/dev/null'], {
      maxBuffer: 1 << 20,
    });
    return stdout.split('\n').map((line) => line.trim()).filter(Boolean).join(' ');
  } catch (err) {
    throw new Error(`pocketsphinx_continuous failed (Debian packages "pocketsphinx", "pocketsphinx-en-us"): ${(err as Error).message}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function words(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/colour/g, 'color')
    .replace(/[^a-z0-9' ]+/g, ' ')
    .split(/\s+/)
    .filter(Boolean);
}

/** Fraction (0…1) of the words of `expected` that appear in `actual` (case, punctuation, colour/color ignored). */
export function wordOverlap(expected: string, actual: string): number {
  const expectedWords = words(expected);
  if (expectedWords.length === 0) return 1;
  const heard = new Set(words(actual));
  return expectedWords.filter((word) => heard.has(word)).length / expectedWords.length;
}
