// Lambda's Node.js runtimes resolve an ES module's bare imports from the layers' /opt/nodejs/node_modules
// as well; Node alone looks only in node_modules above the importing file. The same, for the test.
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (e) {
    if (e?.code !== 'ERR_MODULE_NOT_FOUND' || /^(\.|\/|file:|node:)/.test(specifier)) throw e;
    return next(specifier, { ...context, parentURL: 'file:///opt/nodejs/index.mjs' });
  }
}
