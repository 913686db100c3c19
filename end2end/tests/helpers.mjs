// Shared set-up for the browser journeys: a fresh database, the real `cairn` binary,
// Debian's Chromium driven by playwright-core.
import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '../..');
export const BIN = process.env.CAIRN_BIN || path.join(root, 'target/release/cairn');
export const SITE = process.env.CAIRN_SITE || path.join(root, 'target/site');
export const SHOTS = path.join(root, 'end2end/screenshots');
export const INVICTUS = path.resolve(root, '../shared/data/invictus-ir-aws-dataset/CloudTrail');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Imports `inputs` into a new database; returns the import summary. */
export function importInto(db, inputs) {
  const out = execFileSync(BIN, ['--db', db, 'import', '--json', ...inputs], { encoding: 'utf8' });
  return JSON.parse(out);
}

export const PASSWORD = 'a long enough password';

/** Adds a dashboard user from the shell, as an operator would. */
export function addUser(db, name, role, password = PASSWORD) {
  execFileSync(BIN, ['--db', db, 'user', 'add', name, '--role', role, '--password-stdin'], { input: `${password}\n`, stdio: ['pipe', 'ignore', 'inherit'] });
}

/** Signs in through the sign-in form (works with JavaScript off too). */
export async function signIn(page, base, name, password = PASSWORD) {
  await page.goto(`${base}/login`);
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

/** A new browser context already signed in as `name`. */
export async function signedInContext(browser, base, name, options = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  await signIn(page, base, name);
  await page.close();
  return context;
}

export function demoInto(db, events) {
  execFileSync(BIN, ['--db', db, 'demo', '--events', String(events), '--days', '3'], { stdio: 'ignore' });
}

/** Starts `cairn serve` on a free port; resolves to { base, stop }. */
export async function startServer(db) {
  const port = await freePort();
  const child = spawn(BIN, ['--db', db, 'serve', '--addr', `127.0.0.1:${port}`, '--site', SITE], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok) return { base, db, stop: () => child.kill(), log: () => log };
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill();
  throw new Error(`server did not start:\n${log}`);
}

export function tempDb() {
  return path.join(mkdtempSync(path.join(tmpdir(), 'cairn-e2e-')), 'cairn.db');
}

export async function launch() {
  mkdirSync(SHOTS, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
}

/** A page that fails the test on any script error or failed request of our own. */
export async function watchedPage(context, problems) {
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); d.dismiss(); });
  return page;
}

export const hasInvictus = existsSync(INVICTUS);
