// Runs inside the client's namespace (`ip netns exec <ns> node held-connection.ts <url>`): one
// keep-alive HTTP connection held across a test step. It makes a request, prints the answer as a
// JSON line, then waits; each line on stdin makes one more request on the same socket (the agent
// has one socket and keeps it), printed likewise; stdin closing ends it. `reused` and `localPort`
// prove the later requests went over the very TCP connection the director had already placed,
// which is what a drain must leave alone. curl cannot pause between two requests, hence this.
import http from 'node:http';
import { createInterface } from 'node:readline';

export interface HeldAnswer {
  status?: number;
  real?: string;
  body?: string;
  localPort?: number;
  reused?: boolean;
  error?: string;
}

const url = process.argv[2];
if (url === undefined) {
  process.stderr.write('usage: held-connection.ts <url>\n');
  process.exit(2);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1, keepAliveMsecs: 1000 });

function get(): Promise<HeldAnswer> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode,
          real: String(res.headers['x-real'] ?? ''),
          body,
          localPort: req.socket?.localPort,
          reused: req.reusedSocket,
        }),
      );
    });
    req.setTimeout(10_000, () => req.destroy(new Error('no answer in 10 s')));
    req.on('error', (err) => resolve({ error: err.message }));
  });
}

const print = (a: HeldAnswer): void => {
  process.stdout.write(`${JSON.stringify(a)}\n`);
};

print(await get());
for await (const _line of createInterface({ input: process.stdin })) print(await get());
agent.destroy();
