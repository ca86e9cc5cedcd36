import { Connection } from 'werift';
import { checkPatchTargets } from './werift-patch-guard.js';

/*
 * Named patch "ICE waits for a remote candidate" (patches/13), for werift 0.24.4 only.
 *
 * werift's Connection.connect() pairs the remote candidates it has and, if there are none,
 * fails at once ("ICE negotiation failed" in the same millisecond as "connecting"). Firefox's
 * offer can hold nothing but `.local` names (mdns-candidates.ts resolves those in the
 * background, or cannot when the browser's mDNS responder does not answer). So connect() first
 * waits, up to REMOTE_CANDIDATE_WAIT_MS, until the connection has a remote candidate or an
 * early connectivity check from the browser (werift turns that into a peer-reflexive candidate
 * as soon as connect() runs); then werift's own connect() runs unchanged.
 */

export const REMOTE_CANDIDATE_WAIT_MS = 8000;
const POLL_MS = 20;

interface ConnectionInternals {
  state: string;
  iceLite?: boolean;
  remoteCandidates: unknown[];
  earlyChecks: unknown[];
  connect(): Promise<void>;
}

const prototype = Connection.prototype as unknown as ConnectionInternals;
export const weriftConnect = prototype.connect;

/** Resolves once `connection` has something to check against, or the wait is over. */
export async function untilRemoteCandidate(connection: ConnectionInternals, waitMs = REMOTE_CANDIDATE_WAIT_MS): Promise<void> {
  const deadline = Date.now() + waitMs;
  while (
    connection.remoteCandidates.length === 0 &&
    connection.earlyChecks.length === 0 &&
    connection.state !== 'closed' &&
    Date.now() < deadline
  ) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

export async function patchedConnect(this: ConnectionInternals): Promise<void> {
  if (!this.iceLite) await untilRemoteCandidate(this);
  return weriftConnect.call(this);
}

let installed = false;

/** Installs the patch, or throws if werift is not the version and shape it was written for. */
export function installIceWaitPatch(): void {
  if (installed) return;
  checkPatchTargets('werift-ice-wait-patch', [{ name: 'Connection.prototype.connect', current: weriftConnect, shape: 'f492921fb411c16a' }]);
  installed = true;
  prototype.connect = patchedConnect;
}
