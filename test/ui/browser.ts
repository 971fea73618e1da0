import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';

const ROOT = new URL('../../', import.meta.url).pathname;

/** Debian's chromium (installed by .ci/run); CHROMIUM_PATH points elsewhere. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const chromiumMissing: string | undefined = existsSync(CHROMIUM)
  ? undefined
  : `${CHROMIUM} not found (CI installs it via .ci/run; locally: apt-get install chromium, or set CHROMIUM_PATH)`;

/** Newest modification time of the files under `dir`. */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) t = Math.max(t, statSync(join(e.parentPath, e.name)).mtimeMs);
  }
  return t;
}

/**
 * Bundles the ui/ sources when dist/ui is older than them, so the test never
 * runs against a stale bundle. `npm test` has just built it: then nothing is
 * rebuilt while another test file's server is serving it.
 */
export function buildUi(): void {
  const index = join(ROOT, 'dist', 'ui', 'index.html');
  const sources = Math.max(newest(join(ROOT, 'ui')), statSync(join(ROOT, 'scripts', 'build-ui.mjs')).mtimeMs);
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  const result = spawnSync(process.execPath, ['scripts/build-ui.mjs'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) throw new Error(`scripts/build-ui.mjs failed:\n${result.stdout}\n${result.stderr}`);
}

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

export interface WatchedPage {
  page: Page;
  /** Console errors, failed requests and uncaught exceptions: a clean page has none. */
  problems: string[];
  close(): Promise<void>;
}

export async function openPage(browser: Browser, options: BrowserContextOptions = {}): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, ...options });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  // Anything not from the server under test would be an external resource.
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith('http://127.0.0.1:') && !url.startsWith('data:')) problems.push(`external request: ${url}`);
  });
  return { page, problems, close: () => context.close() };
}
