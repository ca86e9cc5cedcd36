/**
 * Picks the hands-free endpointing defaults by measurement: flite speech with known boundaries
 * (clean, and under steady pink noise), through Opus like a call, into the server's own Silero
 * VAD and Endpointer, for a grid of settings; steady noise and short noise bursts (a cough, a
 * knock) for false starts.
 *
 *   npx tsx scripts/measure-endpointing.ts [--json out.json]
 *
 * Prints, per setting: how late the start and the end were decided, how often a question was cut
 * in two (silence inside it reached the end setting), and false starts on non-speech.
 */
import { writeFile } from 'node:fs/promises';
import { Endpointer } from '../server/conversation/endpointer.js';
import { SileroVadModel, VAD_WINDOW_MS, VAD_WINDOW_SAMPLES } from '../server/media/silero-vad.js';
import { type LabelledSpeech, labelledSpeech, mixUnder, opusRoundTrip, PCM_RATE, steadyNoise } from './lib/speech-pcm.js';

const SENTENCES = [
  'please tell me what colour you can see',
  'what am I holding in my hand',
  'can you read the text on my screen, and tell me what it says',
  'I have a question. What is the thing behind me?',
  'look at this, is it red or blue',
  'how many fingers am I holding up',
  'what is wrong with the code on my screen? Please explain.',
  'describe the room',
];
const START_MS = [64, 96, 128, 160, 192, 256];
const END_SILENCE_MS = [256, 384, 512, 640, 768, 1024];
const THRESHOLD = 0.5;
/** Pauses a hesitating speaker leaves inside one question. */
const HESITATION_MS = [250, 400, 550];
/** Back-channel words said over a reply, which should not interrupt it. */
const BACKCHANNELS = ['hmm', 'okay', 'uh huh', 'right', 'yes'];

async function probabilities(model: SileroVadModel, pcm: Int16Array): Promise<number[]> {
  const out: number[] = [];
  const stream = model.openStream((p) => out.push(p));
  stream.push(pcm);
  const expected = Math.floor(pcm.length / VAD_WINDOW_SAMPLES);
  while (out.length < expected) await new Promise((resolve) => setTimeout(resolve, 2));
  stream.close();
  return out;
}

interface Run {
  starts: Array<{ decidedAtMs: number; speechMs: number }>;
  ends: Array<{ decidedAtMs: number; silenceMs: number }>;
}

function endpoint(probs: number[], startSpeechMs: number, endSilenceMs: number): Run {
  const endpointer = new Endpointer({ threshold: THRESHOLD, startSpeechMs, endSilenceMs }, VAD_WINDOW_MS);
  const run: Run = { starts: [], ends: [] };
  probs.forEach((p, i) => {
    const { event } = endpointer.push(p);
    const atMs = (i + 1) * VAD_WINDOW_MS;
    if (event?.type === 'speechStart') run.starts.push({ decidedAtMs: atMs, speechMs: event.speechMs });
    if (event?.type === 'speechEnd') run.ends.push({ decidedAtMs: atMs, silenceMs: event.silenceMs });
  });
  return run;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor((sorted.length - 1) / 2)]!;
};

async function main(): Promise<void> {
  const jsonAt = process.argv.indexOf('--json');
  const model = await SileroVadModel.load();
  const pink = await steadyNoise('pinknoise', 10, -40);
  const speech = await Promise.all(SENTENCES.map((text) => labelledSpeech(text, 1.5)));
  // A user who hesitates: two halves of a question with a pause between them.
  const halves = await Promise.all(['what is this thing', 'on my desk'].map((text) => labelledSpeech(text, 0)));
  for (const pauseMs of HESITATION_MS) {
    const pause = (pauseMs * PCM_RATE) / 1000;
    const pad = 1.5 * PCM_RATE;
    const [a, b] = halves as [LabelledSpeech, LabelledSpeech];
    const pcm = new Int16Array(2 * pad + (a.speechEnd - a.speechStart) + pause + (b.speechEnd - b.speechStart));
    pcm.set(a.pcm.subarray(a.speechStart, a.speechEnd), pad);
    pcm.set(b.pcm.subarray(b.speechStart, b.speechEnd), pad + a.speechEnd - a.speechStart + pause);
    speech.push({ text: `what is this thing (${pauseMs} ms pause) on my desk`, pcm, speechStart: pad, speechEnd: pcm.length - pad, longestPauseMs: pauseMs });
  }
  const cases = speech.flatMap((s) => [
    { name: `clean: ${s.text}`, s, pcm: opusRoundTrip(s.pcm) },
    { name: `pink -40 dBFS: ${s.text}`, s, pcm: opusRoundTrip(mixUnder(s.pcm, pink)) },
  ]);
  const speechProbs = await Promise.all(cases.map((c) => probabilities(model, c.pcm)));

  const nonSpeech: Array<{ name: string; pcm: Int16Array }> = [];
  for (const kind of ['whitenoise', 'pinknoise', 'brownnoise'] as const) {
    for (const dbfs of [-40, -25]) nonSpeech.push({ name: `${kind} ${dbfs} dBFS 10 s`, pcm: await steadyNoise(kind, 10, dbfs) });
  }
  nonSpeech.push({ name: 'silence 10 s', pcm: new Int16Array(10 * PCM_RATE) });
  for (const burstMs of [60, 150, 300]) {
    // Bursts every second over silence: knocks and coughs.
    const burst = await steadyNoise('whitenoise', burstMs / 1000, -15);
    const pcm = new Int16Array(10 * PCM_RATE);
    for (let at = PCM_RATE / 2; at + burst.length < pcm.length; at += PCM_RATE) pcm.set(burst, at);
    nonSpeech.push({ name: `${burstMs} ms noise bursts at -15 dBFS, 1/s`, pcm });
  }
  for (const word of BACKCHANNELS) nonSpeech.push({ name: `flite "${word}" (back-channel)`, pcm: (await labelledSpeech(word, 0.5)).pcm });
  const nonSpeechProbs = await Promise.all(nonSpeech.map((n) => probabilities(model, opusRoundTrip(n.pcm))));
  const longestFalseRunMs = nonSpeechProbs.map((probs) => {
    let longest = 0;
    let runMs = 0;
    for (const p of probs) {
      runMs = p >= THRESHOLD ? runMs + VAD_WINDOW_MS : 0;
      longest = Math.max(longest, runMs);
    }
    return longest;
  });
  console.log('non-speech: longest run of windows at or over the threshold');
  nonSpeech.forEach((n, i) => console.log(`  ${n.name.padEnd(40)} ${longestFalseRunMs[i]} ms`));
  console.log(`speech: longest pause inside a sentence (energy, clean) ${Math.max(...speech.map((s) => s.longestPauseMs))} ms`);

  const rows: Array<Record<string, number>> = [];
  for (const startSpeechMs of START_MS) {
    for (const endSilenceMs of END_SILENCE_MS) {
      const startLate: number[] = [];
      const onsetError: number[] = [];
      const endLate: number[] = [];
      let cut = 0;
      let missed = 0;
      cases.forEach((c, i) => {
        const run = endpoint(speechProbs[i]!, startSpeechMs, endSilenceMs);
        const trueStartMs = (c.s.speechStart * 1000) / PCM_RATE;
        const trueEndMs = (c.s.speechEnd * 1000) / PCM_RATE;
        if (run.starts.length === 0 || run.ends.length === 0) {
          missed++;
          return;
        }
        if (run.starts.length > 1 || run.ends.length > 1 || run.ends[0]!.decidedAtMs - run.ends[0]!.silenceMs < trueEndMs - 300) cut++;
        const first = run.starts[0]!;
        startLate.push(first.decidedAtMs - trueStartMs);
        onsetError.push(first.decidedAtMs - first.speechMs - trueStartMs);
        endLate.push(run.ends.at(-1)!.decidedAtMs - trueEndMs);
      });
      const falseStarts = nonSpeechProbs.slice(0, -BACKCHANNELS.length).reduce((n, probs) => n + endpoint(probs, startSpeechMs, endSilenceMs).starts.length, 0);
      rows.push({
        startSpeechMs, endSilenceMs, cases: cases.length, missed, cut, falseStarts,
        startDecidedLateMs: median(startLate), onsetErrorMs: median(onsetError), endDecidedLateMs: median(endLate),
        endDecidedLateMaxMs: Math.max(...endLate),
      });
    }
  }
  console.table(rows);
  console.log(`windows run ${model.windowsRun} in ${model.batchesRun} batches`);
  if (jsonAt > 0) await writeFile(process.argv[jsonAt + 1]!, JSON.stringify({ longestFalseRunMs, nonSpeech: nonSpeech.map((n) => n.name), rows }, null, 2));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
