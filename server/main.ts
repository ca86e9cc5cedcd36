import './process-policy.js';
import './gc-tuning.js';
import cluster from 'node:cluster';
import { createServer } from 'node:https';
import { hostname } from 'node:os';
import { Server as SocketServer } from 'socket.io';
import { HistoryStore } from './assistant/history.js';
import { OfflineSpeaker } from './assistant/offline/speaker.js';
import { allowSocketRequest, publicHosts, resolveAccessToken, socketTokenCheck } from './access.js';
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
import { setProcessLimits } from './media/process-runner.js';
import { weriftPatchProblem } from './media/werift-patches.js';
import { installCrashPolicy, installGcOnSignal } from './process-policy.js';

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
const patchProblem = weriftPatchProblem();
if (patchProblem) {
  console.error(`Cannot start: ${patchProblem}`);
  process.exit(2);
}
setProcessLimits({ timeoutMs: settings.CHILD_PROCESS_TIMEOUT_MS });
const logger = createLogger(settings.LOG_LEVEL);
installCrashPolicy(logger);
installGcOnSignal(logger);
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

const access = resolveAccessToken(settings.HOST, settings.ACCESS_TOKEN);

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
  {
    ...(access.token ? { accessToken: access.token } : {}),
    onError: (err, req) => logger.error({ err, path: req.path }, 'request failed'),
  },
);
const server = createServer({ cert: tls.cert, key: tls.key }, app);
// WebSocket only: one TCP connection per page, so node:cluster (and nginx) keep a page's whole
// signalling on the worker that holds its call with no sticky-session layer; long-polling would
// spread one page's requests over workers. Every browser with WebRTC has WebSocket.
const io = new SocketServer(server, {
  serveClient: true,
  maxHttpBufferSize: 1e6,
  transports: ['websocket'],
  allowRequest: allowSocketRequest,
});
io.use(socketTokenCheck(access.token));
signaling = attachSignaling(io, {
  engine,
  engineNote: note,
  stages,
  settings,
  logger,
  metrics,
  histories: new HistoryStore(
    conversationStore,
    {
      budgetChars: settings.HISTORY_BUDGET_CHARS,
      keepImages: settings.HISTORY_IMAGES,
      maxMessages: settings.HISTORY_MAX_MESSAGES,
      maxRecordBytes: settings.HISTORY_MAX_BYTES,
    },
    (err) => logger.warn({ err }, 'could not save the conversation'),
  ),
  instance,
  ...(settings.ICE_SERVERS ? { iceServers: settings.ICE_SERVERS } : {}),
  errorVoice: (sentence, signal) => errorSpeaker.speak(sentence, signal),
});

server.listen(settings.PORT, settings.HOST, () => {
  accepting = true;
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : settings.PORT;
  logger.info({ engine: engine.name, host: settings.HOST, port, instance, store: conversationStore.kind, cert: tls.origin === 'created' ? `created ${tls.certPath}` : tls.origin }, 'listening');
  // One banner per machine, not one per worker (a cluster's token is resolved once, by the primary).
  if (!cluster.isWorker || process.env.WORKER_INDEX === '0') {
    const query = access.token ? `/?token=${access.token}` : '/';
    const urls = publicHosts(settings.HOST).map((host) => `https://${host}:${port}${query}`);
    console.log(`\n  Webcam assistant on ${urls[0]}  (engine: ${engine.name})`);
    for (const url of urls.slice(1)) console.log(`    also ${url}`);
    if (access.made || process.env.ACCESS_TOKEN_MADE === '1') {
      console.log('  HOST is not loopback, so every request needs the access token above (set ACCESS_TOKEN to choose it).');
    }
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
