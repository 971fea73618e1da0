import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { SqliteDb } from './open.ts';

/** How often the background thread folds the write-ahead log back into the database file. */
const INTERVAL_MS = 200;
/** SQLite's own default, restored on the main connection if the thread fails. */
const AUTOCHECKPOINT_PAGES = 1000;
/**
 * The main connection's own threshold while the thread runs. A passive
 * checkpoint never completes while commits keep arriving, and the log only
 * starts again from its beginning after a complete one, so under steady load
 * the main connection must still finish the job now and then; by then the
 * thread has copied nearly everything, so little is left to do inline.
 */
const SAFETY_AUTOCHECKPOINT_PAGES = 4000;
/** After a spike the log file is cut back to this size when it starts over. */
const JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

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
 * Moves most WAL checkpoint work off the event loop. SQLite otherwise runs a
 * checkpoint inside whichever commit crosses 1,000 log pages, and a
 * checkpoint copies pages and (with synchronous=NORMAL) waits for fsync:
 * under load that stalls every request for milliseconds. Here the thread
 * copies pages as they come and the main connection only completes a
 * checkpoint every SAFETY_AUTOCHECKPOINT_PAGES, which bounds the log; if the
 * thread dies, the main connection goes back to SQLite's default.
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
  db.pragma(`wal_autocheckpoint = ${SAFETY_AUTOCHECKPOINT_PAGES}`);
  db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT_BYTES}`);
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
