// `server.workers: N`: the gateway on N processes (node:cluster) sharing one port. Each worker is a
// whole gateway on the shared SQLite database — billing is exact across them because every charge is
// a BEGIN IMMEDIATE transaction on that file (a worker waiting for the other's lock keeps serving
// meanwhile: ../storage/sqlite/group-commit.ts), and tasks are claimed through leases in it. What a
// single process keeps in memory and workers must share are the per-key rate limits and concurrency
// slots: the primary counts them and every worker asks it over the cluster's IPC channel, a turn's
// calls in one message (./cluster-rate-limiter.ts), so N workers count as one process.
//
// The first worker starts alone (it migrates the database and makes the bootstrap key, if any), the
// others once it listens. A worker that dies is replaced; SIGTERM/SIGINT drain every worker.

import cluster, { type Worker } from 'node:cluster';
import { systemClock } from '../core/ports/clock.js';
import type { RateLimiter } from '../core/ports/rate-limiter.js';
import { createInProcessRateLimiter } from '../ratelimit/in-process-rate-limiter.js';
import { createClusterRateLimiter, serveLimits } from './cluster-rate-limiter.js';

/** A worker's limiter: counted in the primary, so limits hold across every worker. */
export function workerRateLimiter(): RateLimiter {
  return createClusterRateLimiter({
    send: (message) => process.send?.(message),
    onMessage: (listener) => process.on('message', listener),
  });
}

export interface PrimaryLogger {
  info(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** Runs the cluster's primary: the shared limiters, N workers, their replacement and drain. Never returns until stopped. */
export async function runClusterPrimary(options: { workers: number; logger: PrimaryLogger }): Promise<void> {
  // One set of counters for every worker, answering each over its IPC channel.
  const counters = createInProcessRateLimiter(systemClock);
  let stopping = false;
  const live = new Set<Worker>();

  const fork = (): Promise<Worker> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork();
      live.add(worker);
      const forgetSlots = serveLimits(counters, {
        send: (message) => {
          if (worker.isConnected()) worker.send(message as object);
        },
        onMessage: (listener) => worker.on('message', listener),
      });
      // A dead worker's requests are over: the slots they held come back.
      worker.once('exit', forgetSlots);
      const onExit = (code: number | null) => reject(new Error(`worker ${worker.process.pid} exited (${code}) before listening`));
      worker.once('exit', onExit);
      worker.once('listening', () => {
        worker.off('exit', onExit);
        resolve(worker);
      });
    });

  cluster.on('exit', (worker, code, signal) => {
    live.delete(worker);
    if (stopping) return;
    options.logger.error({ pid: worker.process.pid, code, signal }, 'a worker stopped; starting another');
    fork().catch((error: unknown) => options.logger.error({ err: error }, 'a replacement worker did not start'));
  });

  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    options.logger.info({ signal, workers: live.size }, 'draining every worker');
    for (const worker of live) worker.process.kill('SIGTERM');
    const check = setInterval(() => {
      if (live.size > 0) return;
      clearInterval(check);
      process.exit(0);
    }, 50);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  await fork();
  await Promise.all(Array.from({ length: options.workers - 1 }, () => fork()));
  options.logger.info({ workers: options.workers }, 'all workers listening');
}

export const isClusterWorker = (): boolean => cluster.isWorker;
export const isClusterPrimary = (): boolean => cluster.isPrimary;
