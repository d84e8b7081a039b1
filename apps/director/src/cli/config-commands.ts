// `sluice config get|put|edit`: the whole live config (GET/PUT /v1/config with its ETag).
// edit is read, $EDITOR, PUT with If-Match; a config the director refuses (400) or JSON that does
// not parse opens the editor again with the reason on top, until it is applied or abandoned, and a
// change made by someone else meanwhile (412) stops it with the edited file kept.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { LiveConfig } from '@sluice/config';
import { type DirectorError, directorCode, isInvalidCode } from './client.ts';
import { type Command, type Context, json, usage } from './command.ts';
import { CliError, CliErrorCode } from './errors.ts';

const HELP = `usage: sluice config get [--etag]
       sluice config put FILE|- [--if-match ETAG]
       sluice config edit

  get         print the running live config (overlay, services, defense) as JSON;
              --etag prints its ETag instead
  put         replace the live config with FILE (or standard input); with --if-match only if it
              is still that version (else exit 4, nothing changed)
  edit        open the config in $VISUAL or $EDITOR (default vi) and apply it when the editor
              exits, with If-Match: if the director refuses it, the editor opens again with the
              reason at the top; save an empty file to abandon. If someone else changed the config
              meanwhile nothing is applied (exit 4) and the edited file is kept`;

export const configCommand: Command = {
  name: 'config',
  summary: 'get, put or edit the whole live config',
  help: HELP,
  read: true,
  minArgs: 1,
  maxArgs: 2,
  options: { etag: { type: 'boolean' }, 'if-match': { type: 'string' } },
  async run(ctx) {
    const [sub, file] = ctx.positionals;
    if (sub === 'get') {
      if (file !== undefined) throw usage('config get takes no argument');
      const client = await ctx.client();
      const got = await client.get<LiveConfig>('/v1/config');
      ctx.io.out(ctx.values.etag === true ? `${got.etag}\n` : json(got.body));
      return 0;
    }
    if (sub === 'put') {
      if (file === undefined) throw usage('config put needs a FILE (or - for standard input)');
      const text = file === '-' ? await ctx.io.readStdin() : await readInput(file);
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch (e) {
        throw new CliError(CliErrorCode.input, `${file} is not JSON: ${(e as Error).message}`);
      }
      const client = await ctx.client();
      const put = await client.request('PUT', '/v1/config', {
        body: doc,
        ifMatch: ctx.values['if-match'] as string | undefined,
      });
      ctx.io.err(`config applied (ETag ${put.etag})\n`);
      return 0;
    }
    if (sub === 'edit') {
      if (file !== undefined) throw usage('config edit takes no argument');
      return edit(ctx);
    }
    throw usage(`config ${sub ?? ''}: one of get, put, edit`);
  },
};

async function readInput(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new CliError(CliErrorCode.input, `cannot read ${file}: ${(e as Error).message}`);
  }
}

/** Runs the editor on `file` as git does: through the shell, so EDITOR may carry arguments. */
function runEditor(editor: string, file: string, env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', `${editor} "$1"`, 'sluice-config-edit', file], {
      stdio: 'inherit',
      env,
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(signal !== null ? 128 : (code ?? 1)));
  });
}

const COMMENT = '//';

function withHeader(header: string[], body: string): string {
  return `${header.map((l) => `${COMMENT} ${l}`).join('\n')}\n${body}`;
}

/** The file without the // lines the CLI put on top. */
function withoutHeader(text: string): string {
  return text
    .split('\n')
    .filter((l) => !l.trimStart().startsWith(COMMENT))
    .join('\n');
}

async function edit(ctx: Context): Promise<number> {
  const editor = ctx.io.env.VISUAL || ctx.io.env.EDITOR || 'vi';
  const client = await ctx.client();
  const got = await client.get<LiveConfig>('/v1/config');
  const etag = got.etag ?? undefined;
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-config-'));
  const file = path.join(dir, 'config.json');
  let keep = false;
  try {
    const intro = [
      `The live config of ${client.target.api} (ETag ${etag}). Save and quit to apply it;`,
      'save an empty file to abandon. Lines starting with // are left out.',
    ];
    let content = withHeader(intro, json(got.body));
    let pendingError: string | null = null;
    for (;;) {
      await writeFile(file, content, { mode: 0o600 });
      const status = await runEditor(editor, file, ctx.io.env);
      if (status !== 0) {
        throw new CliError(
          CliErrorCode.refused,
          `the editor (${editor}) exited with status ${status}: nothing changed`,
        );
      }
      const edited = await readFile(file, 'utf8');
      const body = withoutHeader(edited);
      if (body.trim() === '' || (pendingError !== null && edited === content)) {
        ctx.io.err('sluice config edit: abandoned, nothing changed\n');
        return pendingError === null ? 0 : 1;
      }
      let doc: unknown;
      try {
        doc = JSON.parse(body);
      } catch (e) {
        pendingError = `not JSON: ${(e as Error).message}`;
        content = withHeader([`Not applied: ${pendingError}`, ...intro], body);
        continue;
      }
      if (isDeepStrictEqual(doc, got.body)) {
        ctx.io.err('sluice config edit: no change\n');
        return 0;
      }
      try {
        const put = await client.request('PUT', '/v1/config', { body: doc, ifMatch: etag });
        ctx.io.err(`config applied (ETag ${put.etag})\n`);
        return 0;
      } catch (e) {
        if (directorCode(e) === 'SLUICE_ERR_CONFIG_PRECONDITION') {
          keep = true;
          throw new CliError(
            CliErrorCode.conflict,
            `the config changed while it was being edited: nothing applied; your edit is kept in ${file}`,
          );
        }
        if (!isInvalidCode(directorCode(e))) throw e;
        const refused = e as DirectorError;
        pendingError = `${refused.field !== null && refused.field !== '' ? `${refused.field}: ` : ''}${refused.detail}`;
        ctx.io.err(`sluice config edit: the director refused it: ${pendingError}\n`);
        content = withHeader([`Not applied, the director refused it: ${pendingError}`, ...intro], body);
      }
    }
  } finally {
    if (!keep) await rm(dir, { recursive: true, force: true });
  }
}
