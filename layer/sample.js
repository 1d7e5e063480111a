// What serverless.yml derives from its parameters, checked at package time so a mistake stops
// `make package` / `make deploy` with a message instead of deploying something that fails (or
// grants nothing) at run time. serverless.yml reads each export as ${file(./layer/sample.js):NAME};
// osls calls it with resolveVariable. Every list parameter is a YAML list (params.<stage>) or a
// comma-separated string (--param="name=a,b").
'use strict';

const runtimes = require('./compatible-runtimes.json');

class ParamError extends Error {
  constructor(param, problem) {
    super(`serverless.yml parameter ${param}: ${problem}`);
  }
}

const param = async (resolveVariable, name) => {
  const v = await resolveVariable(`param:${name}, null`);
  return v == null ? '' : v;
};

// list turns a YAML list or a comma-separated string into trimmed, non-empty strings.
const list = async (resolveVariable, name) => {
  const v = await param(resolveVariable, name);
  const items = Array.isArray(v) ? v : String(v).split(',');
  return items.map((s) => String(s).trim()).filter((s) => s !== '');
};

const region = async ({ options }) => {
  // The same order as the Makefile: --region (make passes REGION), then the SDK's variables.
  const r = options.region || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION;
  if (!r) {
    throw new Error(
      'no AWS region: pass --region, or set AWS_REGION (or AWS_DEFAULT_REGION) to the region that holds your secret'
    );
  }
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(r)) throw new Error(`region ${JSON.stringify(r)} is not an AWS region name like eu-west-1`);
  return r;
};

// secret describes secretName: the id the function and kinko ask for, and the IAM resource.
const secret = async ({ resolveVariable, options }) => {
  const name = String(await param(resolveVariable, 'secretName')).trim();
  if (name === '') throw new ParamError('secretName', 'is empty: give the name (or full ARN) of the secret holding the OpenAI key');
  const m = /^arn:(aws[a-z-]*):secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)$/.exec(name);
  if (!m) {
    if (name.startsWith('arn:')) {
      throw new ParamError('secretName', `${name} is not a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-abcdef)`);
    }
    if (!/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name)) {
      throw new ParamError('secretName', `${JSON.stringify(name)} is not a secret name: use letters, digits and /_+=.@- only`);
    }
    // A secret's ARN ends in "-" and six random characters, hence -?????? (never a bare *).
    return {
      id: name,
      resource: { 'Fn::Sub': `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${name}-??????` },
    };
  }
  const [, , arnRegion, , secretPart] = m;
  if (!/-[A-Za-z0-9]{6}$/.test(secretPart)) {
    throw new ParamError(
      'secretName',
      `${name} is a partial ARN (it lacks the "-" and six random characters Secrets Manager appends), so no IAM ` +
        'policy can name it. Give the full ARN (aws secretsmanager describe-secret --secret-id NAME --query ARN) or just the name.'
    );
  }
  const deployRegion = await region({ options });
  if (arnRegion !== deployRegion) {
    throw new ParamError(
      'secretName',
      `${name} is in ${arnRegion} but the stack deploys to ${deployRegion}; kinko reads secrets from its own region. ` +
        `Deploy with REGION=${arnRegion}, or replicate the secret to ${deployRegion}.`
    );
  }
  // A full ARN (also of another account, whose resource policy must then allow this role):
  // exactly that secret.
  return { id: name, resource: name };
};

const ssmNames = async (resolveVariable) => {
  const names = await list(resolveVariable, 'ssmParameters');
  return names.map((n) => {
    if (n.startsWith('arn:')) {
      throw new ParamError('ssmParameters', `${n}: give a parameter name like /app/db/password, not an ARN`);
    }
    if (!/^[A-Za-z0-9_.\-/]{1,2011}$/.test(n)) {
      throw new ParamError('ssmParameters', `${JSON.stringify(n)} is not a parameter name: letters, digits and _.-/ only`);
    }
    return n.startsWith('/') ? n : `/${n}`;
  });
};

const kmsKeys = async (resolveVariable) => {
  const keys = await list(resolveVariable, 'kmsKeyArn');
  for (const k of keys) {
    if (!/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/.test(k)) {
      throw new ParamError(
        'kmsKeyArn',
        `${k} is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID). kms:Decrypt is granted on the key, not an alias: ` +
          'aws kms describe-key --key-id alias/NAME --query KeyMetadata.Arn'
      );
    }
  }
  return keys;
};

module.exports.region = region;

module.exports.secretId = async (ctx) => (await secret(ctx)).id;
module.exports.secretResource = async (ctx) => (await secret(ctx)).resource;

// KINKO_PREFETCH: the secret, then the extra ids of the prefetch parameter. Each must be one
// the role may read, or kinko's init logs AccessDenied instead of warming the cache.
module.exports.prefetch = async (ctx) => {
  const { resolveVariable } = ctx;
  const { id } = await secret(ctx);
  const ssm = await ssmNames(resolveVariable);
  const out = [id];
  for (const entry of await list(resolveVariable, 'prefetch')) {
    if (entry.startsWith('ssm:')) {
      const n = entry.slice(4).startsWith('/') ? entry.slice(4) : `/${entry.slice(4)}`;
      if (!ssm.includes(n)) {
        throw new ParamError('prefetch', `${entry}: the role may read only the parameters in ssmParameters; add ${n} there`);
      }
      out.push(`ssm:${n}`);
    } else if (entry !== id) {
      throw new ParamError(
        'prefetch',
        `${entry}: the role may read only the secret in secretName (${id}); list parameters as ssm:NAME`
      );
    }
  }
  return [...new Set(out)].join(',');
};

// Who may call the routes that read the secret or spend the OpenAI budget: anyone (none, the
// default, so the page works as deployed), callers signing with IAM credentials (iam), or
// callers with a token from one OIDC issuer for one of the audiences (jwt).
const authorizer = async (resolveVariable) => {
  const kind = String(await param(resolveVariable, 'authorizer')).trim().toLowerCase() || 'none';
  if (!['none', 'iam', 'jwt'].includes(kind)) {
    throw new ParamError(
      'authorizer',
      `${JSON.stringify(kind)}: want none, iam or jwt (none: public, the default; iam: callers sign requests ` +
        'with SigV4 and need execute-api:Invoke; jwt: callers send a bearer token from jwtIssuer)'
    );
  }
  const issuer = String(await param(resolveVariable, 'jwtIssuer')).trim();
  const audience = await list(resolveVariable, 'jwtAudience');
  if (kind !== 'jwt') {
    // Settings that do nothing would look like protection: refuse them.
    for (const [name, set] of [['jwtIssuer', issuer !== ''], ['jwtAudience', audience.length > 0]]) {
      if (set) throw new ParamError(name, `is set but authorizer is ${kind}: add --param="authorizer=jwt" to require tokens`);
    }
    return { kind };
  }
  if (issuer === '') {
    throw new ParamError(
      'jwtIssuer',
      "is empty: authorizer=jwt needs the token issuer's https URL, e.g. https://cognito-idp.REGION.amazonaws.com/POOL_ID"
    );
  }
  if (!/^https:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(issuer)) {
    throw new ParamError('jwtIssuer', `${JSON.stringify(issuer)} is not an https URL (API Gateway reads the issuer's keys over https)`);
  }
  if (audience.length === 0) {
    throw new ParamError(
      'jwtAudience',
      'is empty: authorizer=jwt needs the audiences (for Cognito, the app client ids) a token must be for'
    );
  }
  return { kind, issuer, audience };
};

// provider.httpApi.authorizers: the JWT authorizer when asked for (IAM needs none).
module.exports.authorizers = async ({ resolveVariable }) => {
  const a = await authorizer(resolveVariable);
  if (a.kind !== 'jwt') return {};
  return {
    callers: { type: 'jwt', identitySource: '$request.header.Authorization', issuerUrl: a.issuer, audience: a.audience },
  };
};

// The HTTP API's routes. GET /get-secret shows the secret's name, version and a masked preview:
// harmless, but more than a public endpoint should tell, so only on the dev stage unless asked.
// The authorizer guards every route but the page, which is static and calls nothing itself.
module.exports.events = async ({ resolveVariable }) => {
  const a = await authorizer(resolveVariable);
  const guard = { none: undefined, iam: { type: 'aws_iam' }, jwt: { name: 'callers' } }[a.kind];
  const route = (method, path) => (guard ? { httpApi: { method, path, authorizer: guard } } : { httpApi: `${method} ${path}` });
  const events = [{ httpApi: 'GET /' }, route('POST', '/invoke-openai')];
  if (await getSecretRoute(resolveVariable)) events.push(route('GET', '/get-secret'));
  return events;
};

const getSecretRoute = async (resolveVariable) => {
  const v = String(await param(resolveVariable, 'getSecretRoute')).trim().toLowerCase();
  if (v === '' || v === 'auto') return (await resolveVariable('sls:stage')) === 'dev';
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new ParamError('getSecretRoute', `${JSON.stringify(v)}: want auto (on for the dev stage only), true or false`);
};

// CORS is off unless origins are listed: the page at GET / is same-origin and needs none.
module.exports.cors = async ({ resolveVariable }) => {
  const origins = await list(resolveVariable, 'corsOrigins');
  if (origins.length === 0) return false;
  for (const o of origins) {
    if (!/^https?:\/\/[^/\s]+$/.test(o)) {
      throw new ParamError('corsOrigins', `${JSON.stringify(o)}: want an origin like https://app.example.com (scheme and host, no path)`);
    }
  }
  return { allowedOrigins: origins, allowedHeaders: ['Content-Type'], allowedMethods: ['GET', 'POST'] };
};

const number = async (resolveVariable, name, { integer, min, none }) => {
  const raw = String(await param(resolveVariable, name)).trim();
  if (none && raw.toLowerCase() === 'none') return null;
  const n = Number(raw);
  if (raw === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min) {
    throw new ParamError(name, `${JSON.stringify(raw)}: want ${integer ? 'a whole number' : 'a number'} of at least ${min}${none ? ', or none' : ''}`);
  }
  return n;
};

module.exports.metrics = async ({ resolveVariable }) => {
  const v = String(await param(resolveVariable, 'kinkoMetrics')).trim().toLowerCase() || 'log';
  if (!['log', 'emf', 'none'].includes(v)) {
    throw new ParamError('kinkoMetrics', `${JSON.stringify(v)}: want log (a free JSON line), emf (CloudWatch custom metrics, billed) or none`);
  }
  return v;
};

module.exports.compatibleRuntimes = async () => runtimes;

// Resources osls does not generate from the function: the optional KMS and SSM policies, the
// stage's throttling, and the layer's retention.
module.exports.resources = async (ctx) => {
  const { resolveVariable } = ctx;
  const resources = {};
  const ssm = await ssmNames(resolveVariable);
  if (ssm.length > 0) {
    resources.SsmGetParameterPolicy = policy('ssm-get-parameter', [
      {
        Effect: 'Allow',
        Action: 'ssm:GetParameter',
        Resource: ssm.map((n) => ({ 'Fn::Sub': `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${n}` })),
      },
    ]);
  }
  const keys = await kmsKeys(resolveVariable);
  if (keys.length > 0) {
    // Secrets Manager and SSM decrypt with the caller's permissions: the role needs kms:Decrypt
    // on a customer managed key, and only through those two services.
    resources.KmsDecryptPolicy = policy('kms-decrypt', [
      {
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: keys,
        Condition: {
          StringEquals: {
            'kms:ViaService': [
              { 'Fn::Sub': 'secretsmanager.${AWS::Region}.amazonaws.com' },
              { 'Fn::Sub': 'ssm.${AWS::Region}.amazonaws.com' },
            ],
          },
        },
      },
    ]);
  }

  const rate = await number(resolveVariable, 'throttleRate', { integer: false, min: 0.1 });
  const burst = await number(resolveVariable, 'throttleBurst', { integer: true, min: 1 });
  const extensions = {
    // API Gateway answers 429 past these, before Lambda (or OpenAI) is paid for.
    HttpApiStage: {
      Properties: {
        DefaultRouteSettings: { DetailedMetricsEnabled: false, ThrottlingRateLimit: rate, ThrottlingBurstLimit: burst },
      },
    },
    // Every deploy of a changed layer makes a new version; keep the old ones (functions may pin
    // them) and the last one when the stack is removed.
    KinkoLambdaLayer: { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' },
  };
  // Reserved concurrency caps how many copies of the function run at once (and so what a flood
  // of requests can spend); "none" leaves it unreserved, for accounts whose quota is too small to
  // reserve any. (Set here: osls has no way to leave its reservedConcurrency out from a variable.)
  const reserved = await number(resolveVariable, 'reservedConcurrency', { integer: true, min: 1, none: true });
  if (reserved !== null) extensions.ApiLambdaFunction = { Properties: { ReservedConcurrentExecutions: reserved } };
  // osls's routes carry a DependsOn the Ref already implies (cfn-lint W3005). CloudFormation does
  // not mind; moto's ValidateTemplate fails on any cfn-lint finding, so say it is known.
  const routes = ['HttpApiRouteGet', 'HttpApiRoutePostInvokeDashopenai'];
  if (await getSecretRoute(resolveVariable)) routes.push('HttpApiRouteGetGetDashsecret');
  for (const r of routes) extensions[r] = { Metadata: { 'cfn-lint': { config: { ignore_checks: ['W3005'] } } } };
  return { Resources: resources, extensions };
};

const policy = (suffix, statements) => ({
  Type: 'AWS::IAM::Policy',
  Properties: {
    PolicyName: { 'Fn::Sub': `\${AWS::StackName}-${suffix}` },
    Roles: [{ Ref: 'IamRoleLambdaExecution' }],
    PolicyDocument: { Version: '2012-10-17', Statement: statements },
  },
});
