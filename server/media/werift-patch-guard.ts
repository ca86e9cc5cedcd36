import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * The werift every patch of its internals was written and measured against. package.json pins
 * werift to exactly this; each patch checks it, and the source of what it replaces, before it
 * touches anything (DESIGN: a dependency's internals only behind a check of version and shape).
 */
export const WERIFT_VERSION = '0.24.4';

export class WeriftPatchError extends Error {
  override name = 'WeriftPatchError';
}

let installedVersion: string | undefined;

/** The version of the werift package Node resolves from here. */
export function weriftVersion(): string {
  if (installedVersion) return installedVersion;
  const require = createRequire(import.meta.url);
  // werift's "exports" hides package.json; its entry is lib/webrtc/src/index.js under the root.
  let dir = dirname(require.resolve('werift'));
  for (let i = 0; i < 6; i++, dir = dirname(dir)) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (manifest.name === 'werift' && manifest.version) return (installedVersion = manifest.version);
    } catch {
      // not the package root yet
    }
  }
  throw new WeriftPatchError('Cannot find the installed werift package.json');
}

/** A short fingerprint of a function's source: what a patch replaces must be what it was written for. */
export function sourceShape(fn: unknown): string {
  if (typeof fn !== 'function') return `not a function (${typeof fn})`;
  return createHash('sha256').update(Function.prototype.toString.call(fn)).digest('hex').slice(0, 16);
}

export interface PatchTarget {
  /** e.g. `RTCRtpSender.prototype.sendRtp` */
  name: string;
  /** The function (method, getter, static) as werift defines it. */
  current: unknown;
  /** sourceShape() of werift 0.24.4's function. */
  shape: string;
}

/** Throws a WeriftPatchError naming the patch unless the version and every target's source match. */
export function checkPatchTargets(
  patch: string,
  targets: readonly PatchTarget[],
  fields: Record<string, unknown> = {},
  version: string = weriftVersion(),
): void {
  const advice = `The patch "${patch}" (server/media, patches/) was written for werift ${WERIFT_VERSION}`;
  if (version !== WERIFT_VERSION) {
    throw new WeriftPatchError(`${advice}, but werift ${version} is installed. Run "npm ci" (package.json pins ${WERIFT_VERSION}), or review the patch against the new werift and update it.`);
  }
  for (const target of targets) {
    const found = sourceShape(target.current);
    if (found !== target.shape) {
      throw new WeriftPatchError(`${advice}, and ${target.name} is not the code it replaces (shape ${found}, expected ${target.shape}). Review the patch before starting.`);
    }
  }
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) throw new WeriftPatchError(`${advice}, and werift no longer has the field ${name} it reads. Review the patch before starting.`);
  }
}
