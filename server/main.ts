import './gc-tuning.js';
import cluster from 'node:cluster';
import { createServer } from 'node:https';
import { hostname } from 'node:os';
import { Server as SocketServer } from 'socket.io';
import { HistoryStore } from './assistant/history.js';
import { OfflineSpeaker } from './assistant/offline/speaker.js';
import { loadOrCreateTls } from './certs.js';
import { loadSettings, SettingsError, type Settings } from './config.js';
import { createEngine, describeStages, warmSpeechTranscoding } from './engines.js';
import { createHttpApp } from './http.js';
import { createLogger } from './logger.js';
import { ServerMetrics } from './metrics.js';
import { attachSignaling } from './signaling.js';
import { clusterMetricsText, shareWorkerMetrics } from './cluster/cluster-metrics.js';
import { createConversationStore } from './conversations/create-store.js';
import { installExclusiveUdpBinds } from './media/exclusive-udp.js';
import { warmSnapshotPipeline } from './media/frame-snapshot.js';

function readSettings(): Settings {
  try {
    return loadSettings();
  } catch (err) {
    if (err instanceof SettingsError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
}

const settings = readSettings();
const logger = createLogger(settings.LOG_LEVEL);
const metrics = new ServerMetrics();
/** This process, for /healthz and the page (which worker of which machine serves a call). */
const instance = `${hostname()}:${process.pid}`;
if (cluster.isWorker) {
  installExclusiveUdpBinds();
  shareWorkerMetrics(metrics.registry);
}
const conversationStore = createConversationStore(settings);
const { engine, note, stages } = createEngine(settings);
const errorSpeaker = new OfflineSpeaker();
const tls = loadOrCreateTls({
  certPath: settings.TLS_CERT,
  keyPath: settings.TLS_KEY,
  certsDir: settings.CERTS_DIR,
  host: settings.HOST,
});

let accepting = false;
let signaling: ReturnType<typeof attachSignaling> | undefined;
const app = createHttpApp(
  {
    engine: engine.name,
    instance,
    sessions: () => signaling?.sessions() ?? 0,
    accepting: () => accepting,
    ...(cluster.isWorker ? { metricsText: clusterMetricsText } : {}),
  },
  metrics,
);
const server = createServer({ cert: tls.cert, key: tls.key }, app);
// WebSocket only: one TCP connection per page, so node:cluster (and nginx) keep a page's whole
// signalling on the worker that holds its call with no sticky-session layer; long-polling would
// spread one page's requests over workers. Every browser with WebRTC has WebSocket.
const io = new SocketServer(server, { serveClient: true, maxHttpBufferSize: 1e6, transports: ['websocket'] });
signaling = attachSignaling(io, {
  engine,
  engineNote: note,
  stages,
  settings,
  logger,
  metrics,
  histories: new HistoryStore(
    conversationStore,
    { budgetChars: settings.HISTORY_BUDGET_CHARS, keepImages: 2, maxRecordBytes: settings.HISTORY_MAX_BYTES },
    (err) => logger.warn({ err }, 'could not save the conversation'),
  ),
  instance,
  errorVoice: (sentence, signal) => errorSpeaker.speak(sentence, signal),
});

server.listen(settings.PORT, settings.HOST, () => {
  accepting = true;
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : settings.PORT;
  const shownHost = settings.HOST === '127.0.0.1' || settings.HOST === '0.0.0.0' ? 'localhost' : settings.HOST;
  logger.info({ engine: engine.name, port, instance, store: conversationStore.kind, cert: tls.origin === 'created' ? `created ${tls.certPath}` : tls.origin }, 'listening');
  // One banner per machine, not one per worker.
  if (!cluster.isWorker || process.env.WORKER_INDEX === '0') {
    console.log(`\n  Webcam assistant on https://${shownHost}:${port}  (engine: ${engine.name})`);
    for (const line of describeStages(stages)) console.log(`    ${line}`);
    if (note) console.log(`  ${note}`);
    if (tls.origin !== 'given') console.log('  The certificate is self-signed: accept the browser warning once.\n');
  }
  warmSpeechTranscoding(settings).catch((error: unknown) => logger.warn({ err: error }, 'speech transcoder warm-up failed'));
  warmSnapshotPipeline().catch((error: unknown) => logger.warn({ err: error }, 'snapshot pipeline warm-up failed'));
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  accepting = false;
  logger.info({ signal }, 'shutting down');
  const forced = setTimeout(() => process.exit(1), 5000);
  forced.unref();
  await signaling?.closeAll();
  await conversationStore.close().catch(() => undefined);
  io.close();
  server.closeAllConnections();
  server.close(() => {
    clearTimeout(forced);
    process.exit(0);
  });
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
