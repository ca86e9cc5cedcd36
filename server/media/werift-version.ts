import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** The installed werift's version (its package.json is not exported, so found from its entry). */
export function weriftVersion(): string {
  const require = createRequire(import.meta.url);
  let dir = path.dirname(require.resolve('werift'));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (manifest.name === 'werift') return manifest.version ?? '';
    } catch {
      // not here: go up
    }
    const parent = path.dirname(dir);
    if (parent === dir) return '';
    dir = parent;
  }
}
