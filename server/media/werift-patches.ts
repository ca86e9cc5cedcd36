import { installFastRtpHeaderParser } from './rtp-header-parser.js';
import { installFastSrtp } from './srtp-transform.js';
import { installFastVp8DescriptorParser } from './vp8-descriptor-parser.js';
import { WeriftPatchError } from './werift-patch-guard.js';
import { installWeriftReceiveFastPaths } from './werift-receive-fast-paths.js';
import { installWeriftSendFastPaths } from './werift-send-fast-paths.js';

let problem: WeriftPatchError | undefined;

/**
 * Installs every patch of werift's internals (patches/ has each as an upstream-style diff). Each
 * checks werift's version and the source of what it replaces first; a mismatch is kept, not
 * thrown at import, so start-up can refuse with one clear message (weriftPatchProblem).
 */
export function installWeriftPatches(): void {
  try {
    installFastRtpHeaderParser();
    installFastSrtp();
    installFastVp8DescriptorParser();
    installWeriftReceiveFastPaths();
    installWeriftSendFastPaths();
  } catch (err) {
    if (!(err instanceof WeriftPatchError)) throw err;
    problem = err;
  }
}

/** Why the werift patches could not be installed, or undefined when all are in place. */
export function weriftPatchProblem(): string | undefined {
  return problem?.message;
}
