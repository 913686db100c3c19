// Shared set-up for the browser journeys: a fresh database, the real `cairn` binary,
// Debian's Chromium driven by playwright-core.
import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '../..');
export const BIN = process.env.CAIRN_BIN || path.join(root, 'target/release/cairn');
export const SITE = process.env.CAIRN_SITE || path.join(root, 'target/site');
export const SHOTS = path.join(root, 'end2end/screenshots');
/** The real samples kept beside the repository, for the real-sample tier only. */
export const SAMPLES = process.env.CAIRN_SAMPLES || path.resolve(root, '../shared/data');
export const INVICTUS = path.join(SAMPLES, 'invictus-ir-aws-dataset/CloudTrail');

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

/** Generates `events` demo events over three days ending now; returns the import summary. */
export function demoInto(db, events) {
  const out = execFileSync(BIN, ['--db', db, 'demo', '--json', '--events', String(events), '--days', '3'], { encoding: 'utf8' });
  return JSON.parse(out);
}

/** Starts `cairn serve` on a free port; resolves to { base, stop }. `extra` is more
 *  arguments for `serve`, or a function of the server's address that returns them. */
export async function startServer(db, extra = []) {
  const port = await freePort();
  const more = typeof extra === 'function' ? extra(`http://127.0.0.1:${port}`) : extra;
  const child = spawn(BIN, ['--db', db, 'serve', '--addr', `127.0.0.1:${port}`, '--site', SITE, ...more], {
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


const AXE = path.resolve(here, '../node_modules/axe-core/axe.min.js');

/**
 * Runs axe-core on the page as it is; fails on any serious or critical violation.
 * Evaluated through the browser's debugging protocol, so the page's own
 * Content-Security-Policy (no inline scripts) stays as it is.
 */
export async function axeCheck(page, what) {
  const { readFileSync } = await import('node:fs');
  await page.evaluate(readFileSync(AXE, 'utf8'));
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
  });
  if (found.length) throw new Error(`${what}: accessibility violations:\n${found.join('\n')}`);
}

/** Writes `records` as one delivery file in a new folder; returns the folder. */
export function writeRecords(records, name = 'incident.json') {
  const dir = mkdtempSync(path.join(tmpdir(), 'cairn-fixture-'));
  writeFileSync(path.join(dir, name), JSON.stringify({ Records: records }));
  return dir;
}

/**
 * A small incident in July 2021, written by the tests themselves: an IAM user's key
 * used from an outside address, failed console sign-ins (one with only the failure
 * field), a privilege escalation with PutUserPolicy and a new access key, recon by a
 * second user with a refusal and a burst of calls, a service acting for the account,
 * and `filler` quieter events over the days before (for exports of thousands).
 */
export function incidentRecords(filler = 3000) {
  const ACCT = '111122223333';
  const T0 = Date.parse('2021-07-28T10:00:00Z');
  const user = (name, key) => ({ type: 'IAMUser', principalId: `AIDA${name.toUpperCase()}`, arn: `arn:aws:iam::${ACCT}:user/${name}`, accountId: ACCT, accessKeyId: key, userName: name });
  let n = 0;
  const rec = (secs, who, name, ip, extra = {}) => ({
    eventVersion: '1.09', userIdentity: who, eventTime: new Date(T0 + secs * 1000).toISOString().replace('.000Z', 'Z'),
    eventSource: 'iam.amazonaws.com', eventName: name, awsRegion: 'us-east-1', sourceIPAddress: ip,
    userAgent: 'aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64 prompt/off command/iam.list-users',
    requestID: `req-${++n}`, eventID: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    readOnly: true, eventType: 'AwsApiCall', managementEvent: true, recipientAccountId: ACCT, eventCategory: 'Management',
    ...extra,
  });
  const signin = (secs, extra) => rec(secs, user('alice', ''), 'ConsoleLogin', '203.0.113.50',
    { eventSource: 'signin.amazonaws.com', eventType: 'AwsConsoleSignIn', readOnly: false, ...extra });
  const alice = user('alice', 'AKIAALICEOLDKEY00001');
  const out = [
    signin(0, { errorMessage: 'Failed authentication', responseElements: { ConsoleLogin: 'Failure' }, additionalEventData: { MFAUsed: 'No' } }),
    signin(30, { responseElements: { ConsoleLogin: 'Failure' } }),
    signin(60, { responseElements: { ConsoleLogin: 'Success' }, additionalEventData: { MFAUsed: 'Yes' } }),
    rec(120, alice, 'GetCallerIdentity', '198.51.100.23', { eventSource: 'sts.amazonaws.com' }),
    rec(180, alice, 'PutUserPolicy', '198.51.100.23', { readOnly: false, requestParameters: { userName: 'alice', policyName: 'pwn' }, userAgent: 'Boto3/1.28.0 Python/3.9 Linux/5.15 Botocore/1.31.0' }),
    rec(240, alice, 'CreateAccessKey', '198.51.100.23', { readOnly: false, requestParameters: { userName: 'alice' }, responseElements: { accessKey: { accessKeyId: 'AKIAALICENEWKEY00002', status: 'Active', userName: 'alice' } } }),
    rec(300, user('alice', 'AKIAALICENEWKEY00002'), 'ListUsers', '198.51.100.99'),
    rec(360, user('bob', 'AKIABOBKEY0000000003'), 'ListRoles', '10.1.2.3', { errorCode: 'AccessDenied', errorMessage: 'User: bob is not authorized to perform: iam:ListRoles' }),
    rec(370, { type: 'AWSService', invokedBy: 'cloudtrail.amazonaws.com' }, 'GetBucketAcl', 'cloudtrail.amazonaws.com',
      { eventSource: 's3.amazonaws.com', requestParameters: { bucketName: 'trail-logs' } }),
  ];
  for (let i = 0; i < 40; i++) out.push(rec(400 + i * 5, user('bob', 'AKIABOBKEY0000000003'), 'GetUser', '10.1.2.3'));
  // Quieter days before: routine reads by a deploy role's session.
  const session = { type: 'AssumedRole', principalId: 'AROADEPLOY:ci', arn: `arn:aws:sts::${ACCT}:assumed-role/Deploy/ci`, accountId: ACCT, accessKeyId: 'ASIADEPLOYSESSION001',
    sessionContext: { sessionIssuer: { type: 'Role', principalId: 'AROADEPLOY', arn: `arn:aws:iam::${ACCT}:role/Deploy`, accountId: ACCT, userName: 'Deploy' } } };
  const names = ['DescribeInstances', 'GetObject', 'ListBuckets', 'DescribeSecurityGroups', 'GetParameter'];
  for (let i = 0; i < filler; i++) {
    out.push(rec(-8 * 86_400 + i * 173, session, names[i % names.length], `10.0.${i % 7}.${i % 11}`,
      { eventSource: 'ec2.amazonaws.com', awsRegion: ['us-east-1', 'eu-west-1', 'us-west-2'][i % 3] }));
  }
  return out;
}

/** Polls `read` until `ok` holds for what it returns (a page being replaced after a
 *  client-side navigation keeps its old content until the new one is in; a server
 *  works in the background): `tries` looks, `every` ms apart. */
export async function until(read, ok, what, { tries = 100, every = 100 } = {}) {
  let last;
  for (let i = 0; i < tries; i++) {
    last = await read();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`${what}: ${JSON.stringify(last)}`);
}
