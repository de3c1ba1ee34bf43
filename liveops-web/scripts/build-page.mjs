/**
 * Builds the page into liveops-web/dist/page: the app bundled by esbuild from page/app.ts (and the
 * protocol module it shares with the service), the HTML and CSS, the basemap clipped from its npm
 * package (scripts/basemap.mjs; kept while the package is unchanged), and the licences of what the
 * page ships. Nothing is fetched at run time from anywhere but the service.
 *   node liveops-web/scripts/build-page.mjs        (npm run build:page -w liveops-web)
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { build } from 'esbuild';
import { ATTRIBUTION, SOURCE_PACKAGE, clipLand, BBOX } from './basemap.mjs';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'dist', 'page');
mkdirSync(out, { recursive: true });

const started = Date.now();
// esbuild strips types without checking them: the page is type-checked first (DOM library).
const checked = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'page', 'tsconfig.json')], { stdio: 'inherit' });
if (checked.status !== 0) process.exit(1);
await build({
  entryPoints: [join(root, 'page', 'app.ts')],
  bundle: true,
  minify: true,
  sourcemap: true,
  format: 'iife',
  target: ['chrome110', 'firefox115', 'safari16'],
  outfile: join(out, 'app.js'),
  logLevel: 'warning',
  legalComments: 'linked',
});
for (const file of ['index.html', 'style.css']) copyFileSync(join(root, 'page', file), join(out, file));

const basemapFile = join(out, 'basemap.json');
const source = require.resolve(`${SOURCE_PACKAGE}/map.geo.json`);
if (!existsSync(basemapFile) || statSync(basemapFile).mtimeMs < statSync(source).mtimeMs || statSync(basemapFile).mtimeMs < statSync(join(root, 'scripts', 'basemap.mjs')).mtimeMs) {
  const land = await clipLand();
  writeFileSync(basemapFile, JSON.stringify({ bbox: BBOX, attribution: ATTRIBUTION, source: SOURCE_PACKAGE, land }));
}

const licence = (pkg) => {
  const dir = join(require.resolve(`${pkg}/package.json`), '..');
  for (const name of ['LICENSE', 'LICENSE.md', 'license']) if (existsSync(join(dir, name))) return readFileSync(join(dir, name), 'utf8');
  return `(${pkg}: see its package.json)`;
};
writeFileSync(
  join(out, 'licenses.txt'),
  [
    'GreenLane live map: third-party data shipped with this page',
    '',
    `Basemap: ${ATTRIBUTION}`,
    'The data is available under the Open Database License: https://opendatacommons.org/licenses/odbl/1-0/',
    '',
    `--- ${SOURCE_PACKAGE} (code licence) ---`,
    licence(SOURCE_PACKAGE),
  ].join('\n'),
);
process.stderr.write(`[build-page] ${out} in ${Date.now() - started} ms\n`);
