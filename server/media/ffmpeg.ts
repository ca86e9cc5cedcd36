import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';

let cached: string | undefined;

/**
 * The ffmpeg binary to run: FFMPEG_PATH if set, else the system `ffmpeg`, else the one shipped
 * by the npm package @ffmpeg-installer/ffmpeg (for machines without a system ffmpeg).
 */
export function ffmpegPath(): string {
  if (cached) return cached;
  const fromEnv = process.env.FFMPEG_PATH;
  if (fromEnv && existsSync(fromEnv)) return (cached = fromEnv);
  try {
    execFileSync('ffmpeg', ['-version'], { stdio: 'ignore' });
    return (cached = 'ffmpeg');
  } catch {
    const require = createRequire(import.meta.url);
    const installer = require('@ffmpeg-installer/ffmpeg') as { path: string };
    return (cached = installer.path);
  }
}
