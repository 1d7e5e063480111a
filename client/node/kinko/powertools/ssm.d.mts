// Types of kinko/powertools/ssm as an ES module: the same as ssm.d.cts.
export * from './ssm.cjs';
