import { accessSync, constants, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';

let cached: string | undefined;

/**
 * The ffmpeg binary to run: FFMPEG_PATH if set; else the static build shipped by the npm package
 * @ffmpeg-installer/ffmpeg; else the system `ffmpeg`. The static build comes first on purpose:
 * it starts in ~2 ms where Debian's (215 shared libraries) takes ~80 ms, and every snapshot and
 * every offline sentence starts one.
 */
export function ffmpegPath(): string {
  if (cached) return cached;
  const fromEnv = process.env.FFMPEG_PATH;
  if (fromEnv && existsSync(fromEnv)) return (cached = fromEnv);
  try {
    const require = createRequire(import.meta.url);
    const installer = require('@ffmpeg-installer/ffmpeg') as { path: string };
    accessSync(installer.path, constants.X_OK);
    return (cached = installer.path);
  } catch {
    execFileSync('ffmpeg', ['-version'], { stdio: 'ignore' });
    return (cached = 'ffmpeg');
  }
}
