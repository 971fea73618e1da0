// Bundles the dashboard (ui/: Preact + TypeScript) into dist/ui/, which the
// server serves at /ui/. Content-hashed file names let browsers cache them
// for good; index.html is rewritten to point at them. Nothing is fetched at
// run time: the bundle holds everything the page needs.
//
//   node scripts/build-ui.mjs [--dev]     (--dev: no minification)
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const outDir = join(root, 'dist', 'ui');
// Built beside the target and swapped in, so a running server never reads half a bundle.
const tmpDir = join(root, 'dist', `ui.tmp-${process.pid}`);
const dev = process.argv.includes('--dev');

rmSync(tmpDir, { recursive: true, force: true });
mkdirSync(tmpDir, { recursive: true });

try {
  const result = await build({
    entryPoints: { app: join(root, 'ui', 'src', 'main.tsx') },
    outdir: tmpDir,
    entryNames: '[name]-[hash]',
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome111', 'firefox113', 'safari16.4'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: !dev,
    sourcemap: 'linked',
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
  });

  const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
  const js = outputs.find((f) => f.endsWith('.js'));
  const css = outputs.find((f) => f.endsWith('.css'));
  if (!js || !css) throw new Error(`expected a .js and a .css output, got ${outputs.join(', ')}`);

  const html = readFileSync(join(root, 'ui', 'index.html'), 'utf8').replace('%JS%', js).replace('%CSS%', css);
  if (/https?:\/\//.test(html.replace(/<!--[\s\S]*?-->/g, ''))) throw new Error('ui/index.html must not reference external resources');
  writeFileSync(join(tmpDir, 'index.html'), html);

  // Two renames, so the folder is missing only between them, not while a whole tree is deleted.
  const oldDir = `${tmpDir}.old`;
  try {
    renameSync(outDir, oldDir);
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
  renameSync(tmpDir, outDir);
  rmSync(oldDir, { recursive: true, force: true });
  const sizes = outputs
    .filter((f) => !f.endsWith('.map'))
    .map((f) => `${f} ${(readFileSync(join(outDir, f)).length / 1024).toFixed(1)} KiB`)
    .join(', ');
  console.log(`dashboard built into dist/ui: index.html, ${sizes}`);
} catch (err) {
  rmSync(tmpDir, { recursive: true, force: true });
  console.error(`build-ui: ${err.message}`);
  process.exit(1);
}
