// Journeys: an admin adds an AWS source in the browser, checks its access, syncs it now,
// follows its status, edits, pauses and removes it; against moto, the AWS emulator.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { SHOTS, startServer, tempDb, launch, watchedPage, signedInContext, addUser , axeCheck } from './helpers.mjs';

let server, browser, moto, motoUrl;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

const ACCOUNT = '111111111111';

function record(n, when) {
  return {
    eventVersion: '1.09',
    userIdentity: { type: 'IAMUser', principalId: 'AIDAEXAMPLE', arn: `arn:aws:iam::${ACCOUNT}:user/<b>alice</b>`,
      accountId: ACCOUNT, accessKeyId: 'AKIAEXAMPLE', userName: '<b>alice</b>' },
    eventTime: when, eventSource: 's3.amazonaws.com', eventName: 'ListBuckets', awsRegion: 'us-east-1',
    sourceIPAddress: '192.0.2.10', userAgent: '<script>alert(1)</script>', requestParameters: null,
    responseElements: null, requestID: `req-${n}`, eventID: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    readOnly: true, eventType: 'AwsApiCall', managementEvent: true, recipientAccountId: ACCOUNT, eventCategory: 'Management',
  };
}

async function put(key, body) {
  const r = await fetch(`${motoUrl}/trail-bucket/${key}`, { method: 'PUT', body });
  assert.ok(r.ok, `put ${key}: ${r.status}`);
}

before(async () => {
  const port = await freePort();
  moto = spawn(process.env.CAIRN_MOTO_SERVER || 'moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  motoUrl = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try { if ((await fetch(`${motoUrl}/moto-api/`)).ok) break; } catch { /* not up yet */ }
    if (i > 300) throw new Error('moto did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok((await fetch(`${motoUrl}/trail-bucket`, { method: 'PUT' })).ok);
  const now = new Date();
  const day = now.toISOString().slice(0, 10).replaceAll('-', '/');
  const stamp = now.toISOString().slice(0, 10).replaceAll('-', '');
  const iso = now.toISOString().slice(0, 19) + 'Z';
  const folder = `logs/AWSLogs/${ACCOUNT}/CloudTrail/us-east-1/${day}`;
  const records = Array.from({ length: 25 }, (_, i) => record(i + 1, iso));
  await put(`${folder}/${ACCOUNT}_CloudTrail_us-east-1_${stamp}T0005Z_AAAAAAAAAAAAAAAA.json.gz`, gzipSync(JSON.stringify({ Records: records })));
  await put(`${folder}/${ACCOUNT}_CloudTrail_us-east-1_${stamp}T0010Z_BBBBBBBBBBBBBBBB.json.gz`, 'this is not gzip');
  // The server reaches moto with test credentials, as it would AWS with real ones.
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' });
  const db = tempDb();
  addUser(db, 'ada', 'admin');
  addUser(db, 'vic', 'viewer');
  server = await startServer(db);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.stop();
  moto?.kill();
});

async function reloadUntil(page, check, what) {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 300));
    await page.reload();
  }
  throw new Error(`never saw ${what}`);
}

test('an admin adds a source, checks it, syncs it now and follows it', async () => {
  const context = await signedInContext(browser, server.base, 'ada', { viewport: { width: 1300, height: 900 } });
  const problems = [];
  const page = await watchedPage(context, problems);
  await page.goto(`${server.base}/admin/users`);
  await page.getByRole('link', { name: 'Sources' }).click();
  await page.waitForURL(/\/admin\/sources$/);
  await page.getByTestId('no-sources').waitFor();

  // A source with nothing to read is refused, saying why.
  const add = page.locator('form[action="/admin/source-actions/add"]');
  await add.getByLabel('Name', { exact: true }).fill('prod');
  await add.getByRole('button', { name: 'Add source' }).click();
  await page.waitForURL(/error=/);
  assert.match(await page.getByRole('alert').textContent(), /a source needs a feed/);

  // The trail bucket through an assumed role with an external ID.
  const form = page.locator('form[action="/admin/source-actions/add"]');
  await form.getByLabel('Name', { exact: true }).fill('prod');
  await form.getByLabel('Trail bucket').fill('trail-bucket');
  await form.getByLabel('Key prefix').fill('logs');
  await form.getByLabel('Role to assume').fill(`arn:aws:iam::${ACCOUNT}:role/cairn-read`);
  await form.getByLabel('External ID', { exact: true }).fill('ext-secret-42');
  await form.getByLabel('Endpoint URL').fill(motoUrl);
  await form.getByLabel('Regions').fill('us-east-1');
  await form.getByRole('button', { name: 'Add source' }).click();
  await page.waitForURL(/\/admin\/sources\/prod\?done=added/);
  assert.ok(await page.getByText('Source added.').isVisible());
  assert.ok(!(await page.content()).includes('ext-secret-42'), 'the external ID is never shown back');
  assert.equal(await page.getByLabel('External ID', { exact: true }).getAttribute('placeholder'), 'set (leave empty to keep)');

  // Check access: each call, allowed or refused.
  await page.getByRole('button', { name: 'Check access' }).click();
  await page.waitForURL(/done=checked/);
  const lines = await page.getByTestId('check-lines').textContent();
  for (const call of ['s3:GetBucketLocation', 's3:ListBucket', 's3:GetObject', 'cloudtrail:DescribeTrails']) {
    assert.ok(lines.includes(call), `${call} in ${lines}`);
  }
  assert.ok(lines.includes('1 log folder'), lines);

  // Sync now: the pass runs in the background; the page follows it.
  await page.getByRole('button', { name: 'Sync now' }).click();
  await page.waitForURL(/done=syncing/);
  const feeds = page.getByTestId('feeds-table');
  await reloadUntil(page, async () => {
    const t = (await feeds.count()) ? await feeds.textContent() : '';
    return /bucket\s*partial/.test(t) && t.includes('inventory');
  }, 'the bucket pass finish');
  const bucketRow = feeds.locator('tbody tr').filter({ hasText: /^bucket/ });
  const cells = await bucketRow.locator('td').allTextContents();
  assert.equal(cells[0], 'bucket');
  assert.equal(cells[6], '25', `events last pass: ${cells}`);
  const bad = await page.getByTestId('problems-table').textContent();
  assert.ok(bad.includes('BBBBBBBBBBBBBBBB') && /gzip|JSON|not/.test(bad), bad);
  await page.screenshot({ path: path.join(SHOTS, 'source.png'), fullPage: true });
  await axeCheck(page, 'source page');

  // The events are in the dashboard; hostile text in them stays text.
  await page.goto(`${server.base}/?range=24h`);
  assert.ok((await page.getByText('<b>alice</b>').count()) > 0, 'the synced events are listed');
  assert.equal(await page.locator('b', { hasText: 'alice' }).count(), 0, 'as text, never markup');

  // The list shows it.
  await page.goto(`${server.base}/admin/sources`);
  const row = await page.getByTestId('sources-table').locator('tbody tr').first().locator('td').allTextContents();
  assert.equal(row[0], 'prod');
  assert.equal(row[1], 's3://trail-bucket/logs');
  assert.equal(row[3], 'partial');
  assert.equal(row[6], '25');
  await page.screenshot({ path: path.join(SHOTS, 'sources.png'), fullPage: true });
  await axeCheck(page, 'sources page');

  // Edit: a new name and LookupEvents; the external ID stays.
  await page.getByRole('link', { name: 'prod' }).click();
  const edit = page.locator('form[action="/admin/source-actions/edit"]');
  await edit.getByLabel('Name', { exact: true }).fill('production');
  await edit.getByLabel('Regions').fill('us-east-1, eu-west-1');
  await edit.getByRole('button', { name: 'Save settings' }).click();
  await page.waitForURL(/\/admin\/sources\/production\?done=saved/);
  assert.match(await page.locator('main').textContent(), /Regions: eu-west-1, us-east-1/);
  assert.equal(await page.getByLabel('External ID', { exact: true }).getAttribute('placeholder'), 'set (leave empty to keep)');

  // Pause and resume, then remove; the events stay.
  await page.getByRole('button', { name: 'Pause' }).click();
  await page.waitForURL(/done=paused/);
  assert.equal(await page.getByRole('button', { name: 'Sync now' }).count(), 0);
  await page.getByRole('button', { name: 'Resume' }).click();
  await page.waitForURL(/done=resumed/);
  await page.getByRole('button', { name: 'Remove source' }).click();
  await page.waitForURL(/\/admin\/sources\?done=removed/);
  assert.ok(await page.getByTestId('no-sources').isVisible());

  await page.goto(`${server.base}/admin/audit`);
  const audit = await page.getByTestId('audit-table').textContent();
  for (const a of ['source.add', 'source.check', 'source.sync', 'source.edit', 'source.pause', 'source.remove']) {
    assert.ok(audit.includes(a), `${a} in the audit log`);
  }
  assert.ok(!audit.includes('ext-secret-42'));
  assert.deepEqual(problems, []);
  await context.close();
});

test('the sources pages work without JavaScript, and only for admins', async () => {
  const context = await signedInContext(browser, server.base, 'ada', { javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`${server.base}/admin/sources`);
  const form = page.locator('form[action="/admin/source-actions/add"]');
  await form.getByLabel('Name', { exact: true }).fill('nojs');
  await form.getByLabel('SQS queue URL').fill(`${motoUrl}/${ACCOUNT}/no-such-queue`);
  await form.getByLabel('Endpoint URL').fill(motoUrl);
  await form.getByRole('button', { name: 'Add source' }).click();
  await page.waitForURL(/\/admin\/sources\/nojs\?done=added/);
  await page.getByRole('button', { name: 'Check access' }).click();
  await page.waitForURL(/done=checked/);
  const lines = await page.getByTestId('check-lines').textContent();
  assert.ok(lines.includes('sqs:GetQueueAttributes') && lines.includes('allow sqs:GetQueueAttributes'), lines);
  await context.close();

  const viewer = await signedInContext(browser, server.base, 'vic');
  const vpage = await viewer.newPage();
  const r = await vpage.goto(`${server.base}/admin/sources`);
  assert.equal(r.status(), 403);
  const posted = await vpage.request.post(`${server.base}/admin/source-actions/remove`, { form: { name: 'nojs' }, headers: { Origin: server.base } });
  assert.equal(posted.status(), 403);
  await viewer.close();
});
