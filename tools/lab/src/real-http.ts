// What a real server runs inside its namespace:
//   ip netns exec <ns> node tools/lab/src/real-http.ts --port 80 --name rs1 [--max-conns N]
// Prints one `listening <name> <host> <port>` line when ready; SIGTERM/SIGKILL stop it, and with
// it the listening socket, so health checks see ECONNREFUSED (a dead server, not a slow one).
import { parseArgs } from 'node:util';
import { listenRealHttp } from './http-server.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '80' },
    name: { type: 'string' },
    host: { type: 'string' },
    'max-conns': { type: 'string' },
    'keep-alive-ms': { type: 'string' },
  },
  strict: true,
});

if (values.name === undefined) {
  process.stderr.write(
    'usage: real-http.ts --name rs1 [--port 80] [--host ::] [--max-conns N] [--keep-alive-ms MS]\n',
  );
  process.exit(2);
}

const server = await listenRealHttp({
  name: values.name,
  port: Number(values.port),
  host: values.host,
  maxConns: values['max-conns'] === undefined ? undefined : Number(values['max-conns']),
  keepAliveMs: values['keep-alive-ms'] === undefined ? undefined : Number(values['keep-alive-ms']),
});
const addr = server.address();
const where = typeof addr === 'object' && addr !== null ? `${addr.address} ${addr.port}` : String(addr);
// The handler before the banner: the lab may stop a server the moment it reads it.
process.on('SIGTERM', () => process.exit(0));
process.stdout.write(`listening ${values.name} ${where}\n`);
