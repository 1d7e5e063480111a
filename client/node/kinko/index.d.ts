// Types of kinko's Node.js client: index.cjs, and index.mjs, which re-exports it.

/** A failed read. Its message never holds a secret value. */
export declare class KinkoError extends Error {
  constructor(message: string, options?: { status?: number; code?: string; cause?: unknown });
  /** HTTP status of kinko's answer, e.g. 400 for ResourceNotFoundException; undefined when there was no answer. */
  readonly status: number | undefined;
  /** kinko's error code (the answer's `__type`), e.g. "ResourceNotFoundException", "AccessDeniedException". */
  readonly code: string | undefined;
}
/** Nothing accepted a connection at the extension's port: usually the layer is not attached. */
export declare class KinkoUnreachableError extends KinkoError {}
/** No complete answer within the client's timeout. */
export declare class KinkoTimeoutError extends KinkoError {}

export interface KinkoClientOptions {
  /** Default PARAMETERS_SECRETS_EXTENSION_HTTP_PORT, else 2773. */
  port?: number;
  /** Default AWS_SESSION_TOKEN, else AWS_CONTAINER_AUTHORIZATION_TOKEN, read at every request. */
  token?: string;
  /** Milliseconds for a whole call, retries included (default 5000). */
  timeout?: number;
  /** Answers kept in memory at most (default 64); 0 turns the memory off. */
  cacheSize?: number;
  /** Where the variables are read (default process.env). */
  env?: Record<string, string | undefined>;
  /** Loopback addresses, tried in order (default ['127.0.0.1', '::1']). */
  hosts?: readonly string[];
}

export interface ReadOptions {
  /** Bypass the client's memory and kinko's cache (kinko fetches from AWS); the answer replaces what was kept. */
  refresh?: boolean;
  /** Seconds: accept an answer from memory only if its request was sent at most this long ago. */
  maxAge?: number;
}

export interface SecretOptions extends ReadOptions {
  /** The version with this staging label, e.g. "AWSPREVIOUS". */
  versionStage?: string;
  /** This version id. Excludes versionStage. */
  versionId?: string;
}

export interface GetSecretOptions extends SecretOptions {
  /** The string value of this top-level key of a JSON SecretString. */
  jsonKey?: string;
}

export interface GetParameterOptions extends ReadOptions {
  /** Decrypt a SecureString (default true). */
  decrypt?: boolean;
}

/** The GetSecretValue answer as kinko sends it; SecretBinary decoded. */
export interface SecretValue {
  ARN: string | null;
  Name: string | null;
  VersionId: string | null;
  SecretString: string | null;
  SecretBinary: Uint8Array | null;
  VersionStages: string[] | null;
  /** RFC 3339, e.g. "2022-11-16T08:22:40.499Z". */
  CreatedDate: string | null;
  [key: string]: unknown;
}

/** The GetParameter answer as kinko sends it. */
export interface ParameterValue {
  Parameter: {
    ARN: string | null;
    DataType: string | null;
    LastModifiedDate: string | null;
    Name: string;
    Selector: string | null;
    SourceResult: string | null;
    Type: string;
    Value: string;
    Version: number;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export declare class KinkoClient {
  constructor(options?: KinkoClientOptions);
  readonly port: number;
  getSecret(secretId: string, options?: GetSecretOptions): Promise<string>;
  getSecretValue(secretId: string, options?: SecretOptions): Promise<SecretValue>;
  getParameter(name: string, options?: GetParameterOptions): Promise<string>;
  getParameterValue(name: string, options?: GetParameterOptions): Promise<ParameterValue>;
  /** Forget every answer kept in memory. */
  clearCache(): void;
}

export declare const DEFAULT_PORT: 2773;
export declare const TOKEN_HEADER: 'X-Aws-Parameters-Secrets-Token';
/** The client the module's functions share, made at the first call. */
export declare function defaultClient(): KinkoClient;
/** The secret's SecretString, or with jsonKey the string value of that top-level key of a JSON SecretString. */
export declare function getSecret(secretId: string, options?: GetSecretOptions): Promise<string>;
/** The whole GetSecretValue answer. */
export declare function getSecretValue(secretId: string, options?: SecretOptions): Promise<SecretValue>;
/** The parameter's value, decrypted unless decrypt is false. */
export declare function getParameter(name: string, options?: GetParameterOptions): Promise<string>;
/** The whole GetParameter answer. */
export declare function getParameterValue(name: string, options?: GetParameterOptions): Promise<ParameterValue>;
