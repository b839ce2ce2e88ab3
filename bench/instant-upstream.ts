/**
 * The benchmark's upstream: answers every chat completion at once (JSON or a short SSE stream), so
 * what the end-to-end figures show is the proxy's own cost.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const COMPLETION = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 0,
  model: 'bench',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Here is what to do next.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 10, completion_tokens: 6, total_tokens: 16 },
});

function chunk(delta: object, finish: string | null = null): string {
  const event = { id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 0, model: 'bench' };
  return `data: ${JSON.stringify({ ...event, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
}

const STREAM =
  chunk({ role: 'assistant', content: '' }) +
  ['Here ', 'is ', 'what ', 'to ', 'do ', 'next.'].map((c) => chunk({ content: c })).join('') +
  chunk({}, 'stop') +
  'data: [DONE]\n\n';

export async function startInstantUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (piece: string) => (body += piece));
    req.on('end', () => {
      const stream = body.includes('"stream":true');
      if (stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.end(STREAM);
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(COMPLETION);
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
