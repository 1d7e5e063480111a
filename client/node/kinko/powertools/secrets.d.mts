// Types of kinko/powertools/secrets as an ES module: the same as secrets.d.cts.
export * from './secrets.cjs';
