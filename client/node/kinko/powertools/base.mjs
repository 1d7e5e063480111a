// Powertools' BaseProvider, ES module build, for secrets.mjs and ssm.mjs (see provider.cjs).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { PEER, MISSING, esmPeerURL, notFound, providersFor } = require('./provider.cjs');

const spec = `${PEER}/base`;
let base;
try {
  base = await import(spec);
} catch (e) {
  if (!notFound(e)) throw e;
  const url = esmPeerURL('base');
  if (!url) throw new Error(MISSING, { cause: e });
  base = await import(url);
}

export const providers = providersFor(base);
