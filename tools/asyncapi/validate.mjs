// Parse every AsyncAPI document with the AsyncAPI project's own parser; exit 1 with the diagnostics on error.
//   node validate.mjs [file-or-folder ...]   (default: ../../docs/asyncapi)
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Parser, fromFile } from '@asyncapi/parser';

const here = dirname(fileURLToPath(import.meta.url));
const SEVERITY = ['error', 'warning', 'info', 'hint'];
const args = process.argv.slice(2);
const targets = (args.length ? args : [join(here, '..', '..', 'docs', 'asyncapi')]).map((t) => resolve(t));
const files = targets.flatMap((t) =>
  statSync(t).isDirectory()
    ? readdirSync(t).filter((f) => f.endsWith('.json')).sort().map((f) => join(t, f))
    : [t]);

if (files.length === 0) {
  console.error(`no AsyncAPI documents in ${targets.join(', ')}`);
  process.exit(1);
}

const parser = new Parser();
let failed = 0;
for (const file of files) {
  const { document, diagnostics } = await fromFile(parser, file).parse();
  const errors = diagnostics.filter((d) => d.severity === 0);
  for (const d of diagnostics.filter((d) => d.severity <= 1)) { // errors and warnings; not info or hints
    const where = d.path && d.path.length ? d.path.join('/') : '(root)';
    console.error(`${file}: ${SEVERITY[d.severity] ?? d.severity} ${d.code} at ${where}: ${d.message}`);
  }
  if (!document || errors.length) {
    failed += 1;
    console.error(`FAIL ${file}: ${errors.length} error(s)`);
  } else {
    const channels = document.channels().length;
    const operations = document.operations().length;
    console.log(`ok   ${file}: AsyncAPI ${document.version()}, ${channels} channels, ${operations} operations`);
  }
}
process.exit(failed ? 1 : 0);
