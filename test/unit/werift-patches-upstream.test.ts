import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkPatches, patchesDir } from '../../scripts/check-patches.js';

describe('patches/ against the pinned werift', () => {
  it('every upstream-style patch applies to werift 0.24.4, alone and after the ones before it', () => {
    const results = checkPatches();
    expect(results.length).toBeGreaterThanOrEqual(13);
    for (const result of results) {
      expect({ patch: result.patch, applies: result.applies, stacks: result.stacks, output: result.output }).toMatchObject({ applies: true, stacks: true });
    }
  }, 60_000);

  it('every patch has its section in patches/README.md', () => {
    const readme = readFileSync(path.join(patchesDir, 'README.md'), 'utf8');
    for (const patch of readdirSync(patchesDir).filter((name) => name.endsWith('.patch'))) {
      expect(readme, patch).toContain(`## ${patch}`);
    }
  });

  it('a patch that does not match werift is reported as not applying', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'patches-'));
    try {
      const good = readFileSync(path.join(patchesDir, '09-twcc-feedback-timer-runs.patch'), 'utf8');
      writeFileSync(path.join(dir, '01-stale.patch'), good.replace('    this.runTWCC();\n', '    this.startTWCC();\n'));
      const [result] = checkPatches(dir);
      expect(result).toMatchObject({ patch: '01-stale.patch', applies: false });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
