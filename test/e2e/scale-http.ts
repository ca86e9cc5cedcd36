import https from 'node:https';

/** GET over HTTPS from a self-signed server, as text. */
export function httpsGetText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = https.get(url, { rejectUnauthorized: false, agent: false, timeout: 5000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url} timed out`)));
    request.on('error', reject);
  });
}
