import { accessSync, constants, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';

let cached: string | undefined;

/**
 * The ffmpeg binary to run: FFMPEG_PATH if set; else the system `ffmpeg` (kept up to date with
 * the distribution's security fixes: it decodes whatever video a remote peer sends); else the
 * static 2018 build shipped by @ffmpeg-installer/ffmpeg as a fallback. The static build starts
 * faster (~3 ms against ~80 ms for Debian's 215 shared libraries), which is a cost worth paying
 * for a patched decoder; snapshots and offline speech start one per use.
 */
export function ffmpegPath(): string {
  if (cached) return cached;
  const fromEnv = process.env.FFMPEG_PATH;
  if (fromEnv && existsSync(fromEnv)) return (cached = fromEnv);
  try {
    execFileSync('ffmpeg', ['-version'], { stdio: 'ignore', timeout: 10_000 });
    return (cached = 'ffmpeg');
  } catch {
    const require = createRequire(import.meta.url);
    const installer = require('@ffmpeg-installer/ffmpeg') as { path: string };
    accessSync(installer.path, constants.X_OK);
    return (cached = installer.path);
  }
}
