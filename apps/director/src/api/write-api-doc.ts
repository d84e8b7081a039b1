// Writes docs/API.md from the code (api-doc.ts): `npm run --workspace @sluice/director docs:api`.
import { writeFile } from 'node:fs/promises';
import { renderApiDoc } from './api-doc.ts';

const target = new URL('../../../../docs/API.md', import.meta.url);
await writeFile(target, await renderApiDoc());
process.stdout.write(`wrote ${target.pathname}\n`);
