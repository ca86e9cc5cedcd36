/**
 * Child-process entry of the fake OpenAI API (started by process.ts): options come in the
 * FAKE_OPENAI_OPTIONS environment variable, commands over IPC. Exits when the parent goes away.
 */
import { synthesizeOggOpus, synthesizeSpeech } from './media.js';
import type { ChildMessage, FakeCommand, FakeProcessOptions, RequestTiming } from './process.js';
import { startFakeOpenAI } from './server.js';

const { transcript, reply, ...rest } = JSON.parse(process.env.FAKE_OPENAI_OPTIONS ?? '{}') as FakeProcessOptions;
const fake = await startFakeOpenAI({
  ...rest,
  ...(transcript !== undefined ? { transcript } : {}),
  ...(reply !== undefined ? { reply: () => reply } : {}),
});

const send = (message: ChildMessage) => process.send?.(message);

async function run(command: FakeCommand): Promise<unknown> {
  switch (command.op) {
    case 'configure': {
      const { reply: text, transcript: words } = command.changes;
      fake.configure({
        ...(text !== undefined ? { reply: () => text } : {}),
        ...(words !== undefined ? { transcript: words } : {}),
      });
      return undefined;
    }
    case 'setBehaviour':
      fake.setBehaviour(command.endpoint, command.behaviour);
      return undefined;
    case 'prewarmSpeech':
      for (const sentence of command.sentences) await Promise.all([synthesizeOggOpus(sentence), synthesizeSpeech(sentence, 'pcm')]);
      return undefined;
    case 'takeRealtimeCommits': {
      const commits = fake.realtimeSessions.flatMap((session) => session.commits.splice(0));
      fake.realtimeSessions.splice(0, fake.realtimeSessions.length, ...fake.realtimeSessions.filter((session) => session.closedAt === undefined));
      return commits;
    }
    case 'takeRealtimeResponses':
      return fake.realtimeSessions.flatMap((session) => session.responses.splice(0).map(({ image: _image, ...timing }) => timing));
    case 'takeRequests': {
      const taken = fake.requests.splice(0);
      return taken.map(
        (r): RequestTiming => ({
          endpoint: r.endpoint,
          method: r.method,
          path: r.path,
          remotePort: r.remotePort,
          status: r.status,
          receivedAt: r.receivedAt,
          firstByteAt: r.firstByteAt,
          lastByteAt: r.lastByteAt,
          chunksSent: r.chunksSent,
          outcome: r.outcome,
        }),
      );
    }
  }
}

process.on('message', (message: FakeCommand & { id: number }) => {
  run(message).then(
    (value) => send({ kind: 'reply', id: message.id, value }),
    (error: unknown) => send({ kind: 'reply', id: message.id, error: error instanceof Error ? error.message : String(error) }),
  );
});

const stop = () => void fake.close().finally(() => process.exit(0));
process.once('disconnect', stop);
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
send({ kind: 'ready', baseURL: fake.baseURL, port: fake.port });
