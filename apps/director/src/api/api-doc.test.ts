// The error table and docs/API.md stay in sync with the code: every SLUICE_ERR_* code written in
// the sources of packages, apps and tools is in the table, every code in the table is raised
// somewhere, and docs/API.md is exactly what api-doc.ts renders (routes from the OpenAPI document,
// the table of codes).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderApiDoc } from './api-doc.ts';
import { ERROR_CODES } from './error-codes.ts';
import { ERROR_TABLE } from './errors.ts';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const TABLE_FILE = fileURLToPath(new URL('./error-codes.ts', import.meta.url));
const SOURCE = /\.(ts|mts|mjs|js|c|h)$/;
const TEST = /\.test\.ts$/;

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'build' || name.startsWith('.')) continue;
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) sourceFiles(p, out);
    else if (SOURCE.test(name) && !TEST.test(name)) out.push(p);
  }
  return out;
}

/** code → files (outside the table itself) that write it. Prefixes in prose (`SLUICE_ERR_CLI_*`,
 * `SLUICE_ERR_<AREA>_<DETAIL>`) end in `_` and are not codes. */
function codesInSources(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const files = ['packages', 'apps', 'tools'].flatMap((d) => sourceFiles(path.join(REPO, d)));
  for (const file of files) {
    if (file === TABLE_FILE) continue;
    for (const m of readFileSync(file, 'utf8').matchAll(/SLUICE_ERR_[A-Z0-9_]*/g)) {
      const code = m[0];
      if (code.endsWith('_')) continue;
      const list = found.get(code) ?? [];
      list.push(path.relative(REPO, file));
      found.set(code, list);
    }
  }
  return found;
}

describe('the error code table', () => {
  const inSources = codesInSources();

  it('lists every code the sources raise', () => {
    const missing = [...inSources.keys()].filter((c) => !Object.hasOwn(ERROR_CODES, c));
    expect(missing, `codes in the sources but not in error-codes.ts: ${missing.join(', ')}`).toEqual([]);
    expect(inSources.size).toBeGreaterThanOrEqual(50);
  });

  it('lists no code nothing raises', () => {
    const unused = Object.keys(ERROR_CODES).filter((c) => !inSources.has(c));
    expect(unused).toEqual([]);
  });

  it('gives every HTTP code a status and an error word, and the REST layer maps exactly those', () => {
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      if (info.status === null) continue;
      expect(info.status, code).toBeGreaterThanOrEqual(400);
      expect((info as { error?: string }).error, code).toMatch(/^[a-z_]+$/);
    }
    expect(Object.keys(ERROR_TABLE).sort()).toEqual(
      Object.entries(ERROR_CODES)
        .filter(([, i]) => i.status !== null)
        .map(([c]) => c)
        .sort(),
    );
  });
});

describe('docs/API.md', () => {
  it('is what the code renders (npm run --workspace @sluice/director docs:api rewrites it)', async () => {
    const onDisk = readFileSync(path.join(REPO, 'docs', 'API.md'), 'utf8');
    expect(onDisk).toBe(await renderApiDoc());
    for (const code of Object.keys(ERROR_CODES)) expect(onDisk).toContain(`| \`${code}\` |`);
  });
});
