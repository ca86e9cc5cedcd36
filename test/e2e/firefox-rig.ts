/**
 * Firefox for the e2e rig: Debian's `firefox-esr` driven by npm `puppeteer-core` over WebDriver
 * BiDi, with Firefox's fake devices (a tone for the mic, a colour-cycling picture for the
 * camera) and no permission prompts. Missing Firefox fails the run, it is never skipped.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

export const FIREFOX_PATH = '/usr/bin/firefox-esr';

export const FIREFOX_PREFS: Record<string, unknown> = {
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  'media.autoplay.default': 0, // allowed
  'media.autoplay.blocking_policy': 0,
  'media.getusermedia.screensharing.enabled': true,
};

export interface FirefoxRig {
  browser: Browser;
  close(): Promise<void>;
}

export async function launchFirefox(): Promise<FirefoxRig> {
  if (!existsSync(FIREFOX_PATH)) {
    throw new Error(`Firefox e2e needs ${FIREFOX_PATH} (Debian package "firefox-esr"): apt-get install firefox-esr`);
  }
  const profileDir = await mkdtemp(path.join(os.tmpdir(), 'e2e-firefox-'));
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX_PATH,
    headless: true,
    protocol: 'webDriverBiDi',
    acceptInsecureCerts: true,
    userDataDir: profileDir,
    extraPrefsFirefox: FIREFOX_PREFS,
    timeout: 60_000,
  });
  return {
    browser,
    async close() {
      await browser.close().catch(() => undefined);
      await rm(profileDir, { recursive: true, force: true });
    },
  };
}

/** Waits for an in-page expression to be truthy (puppeteer's waitForFunction, with a clear error). */
export async function waitForPage(page: Page, expression: string, what: string, timeoutMs = 20_000): Promise<void> {
  try {
    await page.waitForFunction(expression, { timeout: timeoutMs, polling: 50 });
  } catch {
    const state = await page.evaluate('document.body ? document.body.dataset.state : "(no body)"').catch(() => '?');
    const error = await page.evaluate(`document.querySelector('[data-testid=error]')?.textContent ?? ''`).catch(() => '?');
    throw new Error(`Firefox: ${what} did not happen within ${timeoutMs} ms (state "${state}", error "${error}")`);
  }
}

/** Firefox's inbound reply audio, from getStats (Firefox has no totalAudioEnergy). */
export interface InboundAudioBytes {
  packetsReceived: number;
  bytesReceived: number;
  codec: string;
}

export async function inboundAudioBytes(page: Page): Promise<InboundAudioBytes> {
  return (await page.evaluate(`(async () => {
    const report = await window.__pc.getStats();
    for (const s of report.values()) {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        const codec = s.codecId && report.get(s.codecId);
        return { packetsReceived: s.packetsReceived || 0, bytesReceived: s.bytesReceived || 0, codec: codec ? codec.mimeType : '' };
      }
    }
    return { packetsReceived: 0, bytesReceived: 0, codec: '' };
  })()`)) as InboundAudioBytes;
}
