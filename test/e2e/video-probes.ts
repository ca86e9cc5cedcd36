/**
 * Video helpers for the e2e rig: Chromium with its own fake camera (a 640×480 moving test
 * pattern at 20 fps: a solid-colour clip needs no bitrate, so it cannot show what the encoder is
 * allowed to send), and what the page's video sender reports.
 */
import { chromium, type Browser } from 'playwright-core';
import { assertRigToolsPresent, CHROMIUM_PATH, chromiumFlags } from './harness.js';

/** The rig's Chromium flags with the camera file taken out (and the mic file, when none is given). */
export function builtInCameraFlags(audioWav?: string): string[] {
  return chromiumFlags({ audioWav: audioWav ?? '', videoY4m: '' }).filter(
    (flag) => !flag.startsWith('--use-file-for-fake-video-capture') && (audioWav !== undefined || !flag.startsWith('--use-file-for-fake-audio-capture')),
  );
}

export async function launchWithBuiltInCamera(options: { audioWav?: string; extraFlags?: string[] } = {}): Promise<Browser> {
  await assertRigToolsPresent();
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: false, // we pass --headless=new ourselves (see harness.ts)
    args: [...builtInCameraFlags(options.audioWav), ...(options.extraFlags ?? [])],
    timeout: 30_000,
  });
}
