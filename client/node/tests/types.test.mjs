// The TypeScript types (kinko/*.d.cts, *.d.mts) against TypeScript itself: tests/types/*.mts and
// *.cts use the client and the Powertools shim as a function would, with @ts-expect-error on what
// must not compile (tsc fails when such a line compiles).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

test('the types compile as a TypeScript function uses them', async () => {
  const tsc = require.resolve('typescript/bin/tsc');
  const project = fileURLToPath(new URL('types/tsconfig.json', import.meta.url));
  const { err, out } = await new Promise((resolve) => {
    execFile(process.execPath, [tsc, '-p', project], { timeout: 120_000, encoding: 'utf8' },
      (e, stdout, stderr) => resolve({ err: e, out: stdout + stderr }));
  });
  assert.equal(err, null, `tsc -p tests/types: ${out}`);
});
