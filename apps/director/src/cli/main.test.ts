// The command line in-process: help for every command, usage errors and their exit code, global
// options anywhere on the line, and how the director and its token are found (target.ts) from a
// state directory laid out as `sluice run` lays it out. Talking to a director is the integration
// test's (cli.int.test.ts).
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stateDir } from '../state-dir.ts';
import type { Io } from './command.ts';
import { CliError } from './errors.ts';
import { COMMANDS, runCli } from './main.ts';
import { resolveTarget } from './target.ts';

function io(env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const streams: Io = {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    readStdin: async () => '',
    env,
  };
  return { streams, out: () => out.join(''), err: () => err.join('') };
}

describe('sluice COMMAND --help', () => {
  it('every command has help that starts with its usage and ends with the global options (exit 0)', async () => {
    for (const c of COMMANDS) {
      for (const args of [
        [c.name, '--help'],
        [c.name, '-h'],
        ['help', c.name],
      ]) {
        const x = io();
        expect(await runCli(args, x.streams), args.join(' ')).toBe(0);
        expect(x.out()).toMatch(new RegExp(`^usage: sluice ${c.name}`));
        expect(x.out()).toMatch(/Global options:\n {2}--api URL/);
      }
    }
  });

  it('no command, or help: the overview with every command and the exit codes', async () => {
    for (const args of [[], ['help'], ['--help']]) {
      const x = io();
      expect(await runCli(args, x.streams)).toBe(0);
      for (const c of COMMANDS) expect(x.out()).toMatch(new RegExp(`\\n {2}${c.name} +\\S`));
      expect(x.out()).toMatch(/\n {2}run +run the director/);
      expect(x.out()).toMatch(
        /Exit status: 0 done; 1 refused .* 2 usage; 3 the director\ncannot be reached; 4 conflict/s,
      );
    }
  });
});

describe('usage errors: exit 2, with the help', () => {
  const cases: [string[], RegExp][] = [
    [['frobnicate'], /unknown command frobnicate/],
    [['list', '--frob'], /Unknown option '--frob'/],
    [['drain', 'web'], /wrong number of arguments/],
    [['reset', 'a', 'b'], /wrong number of arguments/],
    [['drain', 'web', '10.0.0.1', '--json'], /--json is for commands that read/],
    [['list', '-t', '10.0.0.1'], /give the service as VIP:PORT/],
    [['list', 'web', '-t', '10.0.0.1:80'], /name one service/],
    [['list', '-c', '-t', '10.0.0.1:80'], /conflicts with the 'service-address' option/],
    [['list', '-c', '--rate'], /options conflicts in the list command/],
    [['config', 'frob'], /one of get, put, edit/],
    [['restore', '--vtep-for', 'nope'], /--vtep-for takes ADDRESS=VALUE/],
    [['sources', '--limit', '0'], /--limit must be an integer 1\.\.1000/],
    [['list', '--api', 'http://[bad'], /is not an address/],
  ];
  for (const [args, why] of cases) {
    it(args.join(' '), async () => {
      const x = io({ SLUICE_STATE_DIR: '/nonexistent' });
      expect(await runCli(args, x.streams)).toBe(2);
      expect(x.err()).toMatch(why);
    });
  }

  it('global options may come before the command', async () => {
    const x = io();
    expect(
      await runCli(['--api', 'http://127.0.0.1:1', '--state-dir', '/x', 'save', '--help'], x.streams),
    ).toBe(0);
    expect(x.out()).toMatch(/^usage: sluice save/);
  });
});

describe('finding the director: the state directory, its config and its token', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sluice-target-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('one rule for the daemon and the CLI: flag, SLUICE_STATE_DIR, .sluice, from INIT_CWD if npm set it', () => {
    expect(stateDir('/abs', {}, '/cwd')).toBe('/abs');
    expect(stateDir(undefined, {}, '/cwd')).toBe('/cwd/.sluice');
    expect(stateDir(undefined, { SLUICE_STATE_DIR: 'st' }, '/cwd')).toBe('/cwd/st');
    expect(stateDir(undefined, { INIT_CWD: '/repo' }, '/repo/apps/director')).toBe('/repo/.sluice');
    expect(stateDir('rel', { INIT_CWD: '/repo' }, '/repo/apps/director')).toBe('/repo/rel');
  });

  async function daemonConfig(daemon: Record<string, unknown>, at = path.join(dir, '.sluice')) {
    await mkdir(at, { recursive: true });
    await writeFile(path.join(at, 'config.json'), JSON.stringify({ daemon, overlay: {}, services: [] }));
    return at;
  }

  it('reads daemon.api (a wildcard address reached on loopback) and the token beside the config', async () => {
    const state = await daemonConfig({ api: { address: '0.0.0.0', port: 9444 } });
    await writeFile(path.join(state, 'token'), 'tok-1\n', { mode: 0o600 });
    const t = await resolveTarget({}, { INIT_CWD: dir });
    expect(t.api).toBe('http://127.0.0.1:9444');
    expect(t.apiFrom).toBe(path.join(state, 'config.json'));
    expect(await t.token()).toBe('tok-1');
    const v6 = await daemonConfig({ api: { address: '::', port: 9445 } }, path.join(dir, 'v6'));
    expect((await resolveTarget({ stateDir: v6 }, {})).api).toBe('http://[::1]:9445');
  });

  it('a tokenFile in the config is taken from the config file’s directory; flags and environment come first', async () => {
    const state = await daemonConfig({ api: { address: '127.0.0.1', port: 9446 }, tokenFile: 'secret/tok' });
    await mkdir(path.join(state, 'secret'));
    await writeFile(path.join(state, 'secret', 'tok'), 'tok-2', { mode: 0o600 });
    await chmod(path.join(state, 'secret', 'tok'), 0o600);
    expect(await (await resolveTarget({ stateDir: state }, {})).token()).toBe('tok-2');
    const env = { SLUICE_API: '10.1.2.3:9000', SLUICE_TOKEN: 'from-env' };
    const t = await resolveTarget({ stateDir: state }, env);
    expect([t.api, t.apiFrom, await t.token()]).toEqual(['http://10.1.2.3:9000', 'SLUICE_API', 'from-env']);
    const f = await resolveTarget({ stateDir: state, api: 'http://h:1/', token: 'flag' }, env);
    expect([f.api, f.apiFrom, await f.token()]).toEqual(['http://h:1', '--api', 'flag']);
  });

  it('without a state: the default address, and a token error that says where it looked (exit 5)', async () => {
    const t = await resolveTarget({ stateDir: path.join(dir, 'none') }, {});
    expect(t.api).toBe('http://127.0.0.1:9180');
    const err = await t.token().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(5);
    expect((err as CliError).message).toContain(path.join(dir, 'none', 'token'));
  });

  it('a config on port 0 (any free port) cannot say where the daemon is: asks for --api', async () => {
    const state = await daemonConfig({ api: { address: '127.0.0.1', port: 0 } });
    await expect(resolveTarget({ stateDir: state }, {})).rejects.toThrow(
      /port 0 .* give the address the daemon printed with --api/,
    );
  });

  it("--config names the daemon's config file; a missing one is an error, a missing default is not", async () => {
    await expect(resolveTarget({ config: path.join(dir, 'nope.json') }, {})).rejects.toThrow(/cannot read/);
    const state = await daemonConfig({ api: { address: '127.0.0.1', port: 9447 } });
    expect((await resolveTarget({ config: path.join(state, 'config.json') }, {})).api).toBe(
      'http://127.0.0.1:9447',
    );
  });
});
