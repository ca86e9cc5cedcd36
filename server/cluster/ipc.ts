/**
 * Requests from a cluster worker to the primary over Node's IPC channel, answered by handlers the
 * primary registers. Tagged so they never mix with prom-client's own cluster messages.
 */
import cluster, { type Worker } from 'node:cluster';

const TAG = 'webcam-assistant:ipc';

interface IpcRequest {
  tag: typeof TAG;
  id: number;
  kind: string;
  payload: unknown;
}
interface IpcResponse {
  tag: typeof TAG;
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

function isIpc(message: unknown): message is IpcRequest | IpcResponse {
  return typeof message === 'object' && message !== null && (message as { tag?: unknown }).tag === TAG;
}

export type IpcHandler = (payload: unknown, worker: Worker) => Promise<unknown> | unknown;

/** Primary side: answers workers' requests of each kind with its handler. */
export function servePrimaryRequests(handlers: Record<string, IpcHandler>): void {
  cluster.on('message', (worker, message: unknown) => {
    if (!isIpc(message) || !('kind' in message)) return;
    const reply = (response: Omit<IpcResponse, 'tag' | 'id'>) => {
      if (worker.isConnected()) worker.send({ tag: TAG, id: message.id, ...response });
    };
    const handler = handlers[message.kind];
    if (!handler) {
      reply({ ok: false, error: `no handler for "${message.kind}"` });
      return;
    }
    Promise.resolve()
      .then(() => handler(message.payload, worker))
      .then(
        (value) => reply({ ok: true, value }),
        (err: unknown) => reply({ ok: false, error: err instanceof Error ? err.message : String(err) }),
      );
  });
}

let nextId = 1;
const pending = new Map<number, { resolve(value: unknown): void; reject(err: Error): void; timer: NodeJS.Timeout }>();
let listening = false;

/** Worker side: one request to the primary; rejects after `timeoutMs` or if the channel is gone. */
export function requestPrimary(kind: string, payload: unknown, timeoutMs = 5000): Promise<unknown> {
  if (!process.send || !process.connected) return Promise.reject(new Error('no IPC channel to the primary process'));
  if (!listening) {
    listening = true;
    process.on('message', (message: unknown) => {
      if (!isIpc(message) || 'kind' in message) return;
      const waiting = pending.get(message.id);
      if (!waiting) return;
      pending.delete(message.id);
      clearTimeout(waiting.timer);
      if (message.ok) waiting.resolve(message.value);
      else waiting.reject(new Error(message.error ?? 'the primary refused the request'));
    });
  }
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new Error(`the primary did not answer "${kind}" within ${timeoutMs} ms`));
    }, timeoutMs);
    timer.unref();
    pending.set(id, { resolve, reject, timer });
    const request: IpcRequest = { tag: TAG, id, kind, payload };
    process.send!(request, undefined, undefined, (err) => {
      if (!err) return;
      pending.delete(id);
      clearTimeout(timer);
      reject(err);
    });
  });
}
