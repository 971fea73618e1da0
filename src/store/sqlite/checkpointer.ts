import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { SqliteDb } from './open.ts';

/** How often the background thread folds the write-ahead log back into the database file. */
const INTERVAL_MS = 200;
/** SQLite's own default, restored on the main connection if the thread fails. */
const AUTOCHECKPOINT_PAGES = 1000;

/**
 * The checkpoint thread: its own connection to the same file, running
 * PASSIVE checkpoints (they never block the writer) on a timer. Plain
 * CommonJS evaluated in the worker, so it runs the same from the sources and
 * from the build.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 5000');
db.pragma('synchronous = ' + workerData.synchronous);
db.pragma('wal_autocheckpoint = 0');
let timer;
const tick = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    // SQLITE_BUSY here only means another checkpoint is running; try again next tick.
    if (err.code !== 'SQLITE_BUSY') throw err;
  }
  timer = setTimeout(tick, workerData.intervalMs);
};
timer = setTimeout(tick, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearTimeout(timer);
  db.close();
  parentPort.close();
});
`;

export interface Checkpointer {
  /** The thread itself, for diagnostics and tests. */
  readonly thread: Worker;
  /** Stops the thread; the last connection to close checkpoints what is left. */
  stop(): Promise<void>;
}

/**
 * Moves WAL checkpoints off the event loop. SQLite otherwise runs them inside
 * whichever commit crosses the threshold, and a checkpoint copies pages and
 * (with synchronous=NORMAL) waits for fsync: under load that stalls every
 * request for milliseconds. Here the main connection never checkpoints while
 * the thread runs; if the thread dies, the main connection takes the job back
 * so the log cannot grow without bound.
 */
export function startCheckpointer(db: SqliteDb, path: string, onError: (err: Error) => void): Checkpointer {
  const synchronous = String(db.pragma('synchronous', { simple: true }));
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { driver: createRequire(import.meta.url).resolve('better-sqlite3'), path, synchronous, intervalMs: INTERVAL_MS },
    // Nothing of the parent's loader (tsx) is needed for plain CommonJS.
    execArgv: [],
  });
  worker.unref();
  db.pragma('wal_autocheckpoint = 0');
  let stopping = false;
  const takeBack = (err: Error) => {
    if (stopping) return;
    stopping = true;
    if (db.open) db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
    onError(err);
  };
  worker.on('error', takeBack);
  worker.on('exit', (code) => takeBack(new Error(`the checkpoint thread exited with code ${code}`)));
  return {
    thread: worker,
    stop() {
      if (stopping) return Promise.resolve();
      stopping = true;
      return new Promise<void>((resolve) => {
        worker.ref(); // the caller waits for it: keep the process alive until it has closed its connection
        worker.once('exit', () => resolve());
        worker.postMessage('stop');
      });
    },
  };
}
