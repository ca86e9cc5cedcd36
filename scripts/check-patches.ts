import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/*
 * Checks that every patches/*.patch still applies to the installed werift's TypeScript source.
 *
 * werift ships no .ts files, but every lib/**\/*.js.map holds its TypeScript source
 * (sourcesContent) and its path in the werift-webrtc monorepo (packages/<package>/src/…). That
 * tree is written to a temporary directory, laid out as the monorepo, and each patch is dry-run
 * against it on its own (`patch --dry-run -p1`): the diffs are upstream-style, so they apply
 * from the root of a werift-webrtc checkout of the pinned version too.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const patchesDir = path.join(root, 'patches');
const weriftDir = path.join(root, 'node_modules', 'werift');

interface SourceMap {
  sources: string[];
  sourcesContent?: (string | null)[];
}

function* mapFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* mapFiles(full);
    else if (entry.name.endsWith('.js.map')) yield full;
  }
}

/** Writes werift's shipped TypeScript source under `target` as packages/<package>/src/… */
export function extractWeriftSource(target: string): number {
  // The package is the monorepo's packages/webrtc, so its parent stands for packages/.
  const packagesDir = path.dirname(weriftDir);
  let count = 0;
  for (const file of mapFiles(path.join(weriftDir, 'lib'))) {
    const map = JSON.parse(readFileSync(file, 'utf8')) as SourceMap;
    map.sources.forEach((source, i) => {
      const content = map.sourcesContent?.[i];
      if (typeof content !== 'string') return;
      const relative = path.relative(packagesDir, path.resolve(path.dirname(file), source));
      if (relative.startsWith('..')) return;
      // npm names the package werift; in the monorepo it is packages/webrtc.
      const out = path.join(target, 'packages', relative.replace(/^werift(?=[\\/])/, 'webrtc'));
      mkdirSync(path.dirname(out), { recursive: true });
      writeFileSync(out, content);
      count++;
    });
  }
  return count;
}

export interface PatchCheck {
  patch: string;
  /** Applies alone to werift's source. */
  applies: boolean;
  /** Applies after every patch before it (they are meant to be applied together, in order). */
  stacks: boolean;
  output: string;
}

function runPatch(work: string, file: string, dryRun: boolean): { ok: boolean; output: string } {
  const args = [...(dryRun ? ['--dry-run'] : []), '--batch', '--forward', '-p1', '-d', work, '-i', file];
  try {
    return { ok: true, output: execFileSync('patch', args, { encoding: 'utf8' }) };
  } catch (err) {
    const failed = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` || failed.message };
  }
}

/** Dry-runs each patch in patches/ against a fresh copy of werift's source, then applies them all in order. */
export function checkPatches(dir: string = patchesDir): PatchCheck[] {
  const work = mkdtempSync(path.join(tmpdir(), 'werift-src-'));
  try {
    if (extractWeriftSource(work) === 0) throw new Error(`No TypeScript source found in ${weriftDir}/lib/**/*.js.map`);
    const patches = readdirSync(dir)
      .filter((name) => name.endsWith('.patch'))
      .sort();
    const alone = patches.map((patch) => runPatch(work, path.join(dir, patch), true));
    return patches.map((patch, i) => {
      const stacked = runPatch(work, path.join(dir, patch), false);
      return { patch, applies: alone[i]!.ok, stacks: stacked.ok, output: alone[i]!.ok ? stacked.output : alone[i]!.output };
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv[2] === '--extract') {
    const target = path.resolve(process.argv[3] ?? 'werift-src');
    console.log(`${extractWeriftSource(target)} files of werift's TypeScript source written under ${target}`);
  } else {
    const results = checkPatches();
    for (const result of results) {
      const ok = result.applies && result.stacks;
      const how = result.applies ? (result.stacks ? '' : ' (alone only: not after the ones before it)') : '';
      console.log(`${ok ? 'ok  ' : 'FAIL'} ${result.patch}${how}${ok ? '' : `\n${result.output}`}`);
    }
    process.exitCode = results.every((result) => result.applies && result.stacks) ? 0 : 1;
  }
}
