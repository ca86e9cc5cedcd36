import { accessSync, constants, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';

let system: string | undefined | null;
let bundled: string | undefined | null;

function systemFfmpeg(): string | undefined {
  if (system === undefined) {
    try {
      execFileSync('ffmpeg', ['-version'], { stdio: 'ignore', timeout: 10_000 });
      system = 'ffmpeg';
    } catch {
      system = null;
    }
  }
  return system ?? undefined;
}

function bundledFfmpeg(): string | undefined {
  if (bundled === undefined) {
    try {
      const require = createRequire(import.meta.url);
      const installer = require('@ffmpeg-installer/ffmpeg') as { path: string };
      accessSync(installer.path, constants.X_OK);
      bundled = installer.path;
    } catch {
      bundled = null;
    }
  }
  return bundled ?? undefined;
}

function fromEnv(): string | undefined {
  const path = process.env.FFMPEG_PATH;
  return path && existsSync(path) ? path : undefined;
}

function required(path: string | undefined): string {
  if (!path) throw new Error('ffmpeg is not installed (apt-get install ffmpeg)');
  return path;
}

/**
 * The ffmpeg that decodes what a remote peer sends (video frames for a snapshot): FFMPEG_PATH if
 * set, else the system one, kept patched by the distribution; the static 2018 build shipped by
 * @ffmpeg-installer/ffmpeg only when there is no system ffmpeg.
 */
export function ffmpegPath(): string {
  return required(fromEnv() ?? systemFfmpeg() ?? bundledFfmpeg());
}

/**
 * The ffmpeg for audio this server made itself (the offline voice's WAV, PCM it decoded): the
 * static build first, because it starts in ~3 ms against ~80 ms for Debian's (215 shared
 * libraries) and every offline sentence starts one. In the e2e "spoken reply" case on a loaded
 * 2-core machine, the system one made Chromium conceal 13 % and 6 % of the reply (two runs)
 * against 1 % with the static one. This input is never from the network, so the old decoder's
 * exposure does not apply.
 */
export function localAudioFfmpegPath(): string {
  return required(fromEnv() ?? bundledFfmpeg() ?? systemFfmpeg());
}
