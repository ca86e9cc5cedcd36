/**
 * In a cluster worker, Node hands `dgram` binds to the primary and shares the resulting socket
 * between every worker that binds the same address, port and bind index — so two workers' first
 * `bind(0)` on one interface would read from one socket (docs: dgram `exclusive`). werift binds
 * without `exclusive`, so every bind in a worker is made exclusive here: each worker's UDP ports
 * are its own and no media crosses workers. Patches Node's public dgram API only.
 */
import cluster from 'node:cluster';
import dgram, { type BindOptions } from 'node:dgram';

const PATCHED = Symbol.for('webcam-assistant.exclusive-udp');
type Bind = (this: dgram.Socket, ...args: unknown[]) => dgram.Socket;

export function installExclusiveUdpBinds(isWorker = cluster.isWorker): boolean {
  if (!isWorker) return false;
  const proto = dgram.Socket.prototype as unknown as { bind: Bind & { [PATCHED]?: true } };
  if (proto.bind[PATCHED]) return true;
  const original = proto.bind;
  const exclusiveBind: Bind & { [PATCHED]?: true } = function (this: dgram.Socket, ...args: unknown[]) {
    const callback = args.find((arg): arg is () => void => typeof arg === 'function');
    const [first, second] = args;
    let options: BindOptions;
    if (first !== null && typeof first === 'object') options = { ...(first as BindOptions), exclusive: true };
    else {
      // bind(), bind(cb), bind(port[, address][, cb])
      options = { port: typeof first === 'number' ? first : 0, exclusive: true };
      if (typeof second === 'string') options.address = second;
    }
    return callback ? original.call(this, options, callback) : original.call(this, options);
  };
  exclusiveBind[PATCHED] = true;
  proto.bind = exclusiveBind;
  return true;
}
