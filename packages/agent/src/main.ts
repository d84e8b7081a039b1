// `node packages/agent/src/main.ts --listen [HOST:]PORT --port N [--port M ...] [--quiet-ms MS]
// [--slow-bps N] [--slow-grace-ms MS]`: the agent as a process on a real server. Exit 2 on bad
// arguments, 1 when it cannot listen, 0 after SIGTERM or SIGINT. The one stdout line is what a
// supervisor or a test waits for; it carries the bound port, so --listen 127.0.0.1:0 is usable. An
// ss that fails is one stderr line per run of failures; the agent goes on answering held:N.

import { parseAgentArgs, USAGE } from './args.ts';
import { AgentError, AgentErrorCode } from './errors.ts';
import { AgentServer, hostPort } from './server.ts';

async function main(argv: readonly string[]): Promise<number> {
  let args: ReturnType<typeof parseAgentArgs>;
  try {
    args = parseAgentArgs(argv);
  } catch (err) {
    process.stderr.write(`sluice-agent: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }

  let agent: AgentServer;
  try {
    agent = await AgentServer.listen({
      ...args,
      onError: (err) => process.stderr.write(`sluice-agent: ${err.message}\n`),
    });
  } catch (err) {
    process.stderr.write(`sluice-agent: ${(err as Error).message}\n`);
    return err instanceof AgentError && err.code === AgentErrorCode.invalidArgument ? 2 : 1;
  }

  return new Promise<number>((resolve) => {
    const stop = () => void agent.close().then(() => resolve(0));
    // Handlers before the banner: a supervisor that signals the moment the line appears must meet
    // them, not the default action.
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    const { host, port } = agent.address;
    const quiet = args.quietMs === 0 ? 'no quiet report' : `quiet after ${args.quietMs} ms`;
    const slow =
      args.slowBps === 0
        ? 'no slow report'
        : `slow under ${args.slowBps} B/s after ${args.slowGraceMs} ms busy`;
    process.stdout.write(
      `sluice-agent: listening on ${hostPort(host, port)}, counting ports ${agent.ports.join(',')}, ${quiet}, ${slow}\n`,
    );
  });
}

process.exitCode = await main(process.argv.slice(2));
