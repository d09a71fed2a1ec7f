// The parts of s3rver (an S3-compatible server for tests; it ships no types) that src/testing/s3-server.ts uses.

declare module 's3rver' {
  import type { Server } from 'node:http';
  import type { AddressInfo } from 'node:net';

  interface S3rverOptions {
    address?: string;
    port?: number;
    silent?: boolean;
    directory: string;
    resetOnClose?: boolean;
    configureBuckets?: Array<{ name: string }>;
    allowMismatchedSignatures?: boolean;
  }

  interface KoaContext {
    method: string;
    path: string;
    query: Record<string, string | string[] | undefined>;
    status: number;
    body: unknown;
    get(field: string): string;
  }

  class S3rver {
    constructor(options: S3rverOptions);
    store: unknown;
    context: { store: unknown };
    middleware: Array<(context: KoaContext, next: () => Promise<void>) => Promise<void> | void>;
    httpServer: Server;
    run(): Promise<AddressInfo>;
    close(): Promise<void>;
  }
  export default S3rver;
}

declare module 's3rver/lib/stores/filesystem.js' {
  import type { Readable } from 'node:stream';

  interface StoredObject {
    bucket: string;
    key: string;
    content: Readable | Buffer | null;
    metadata: Record<string, string>;
  }

  class FilesystemStore {
    constructor(rootDirectory: string);
    rootDirectory: string;
    getResourcePath(bucket: string, key: string | undefined, resource: string): string;
    putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
    getMetadata(bucket: string, key: string): Promise<Record<string, string>>;
    getObject(bucket: string, key: string, options?: unknown): Promise<StoredObject | null>;
    putObject(object: StoredObject): Promise<{ size: number; md5: string }>;
    deleteObject(bucket: string, key: string): Promise<void>;
  }
  export = FilesystemStore;
}
