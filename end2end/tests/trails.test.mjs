// Journeys: the trails and costs screens on trails read from moto, the AWS emulator.
// Two trails record the same management events into one bucket under two prefixes;
// a reader goes from the trails list to a trail, its finding and its fix, then to the
// month's costs and back to the trail; with JavaScript on and off, at 390 to 1920 px.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import net from 'node:net';
import { spawn, execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { BIN, SHOTS, startServer, tempDb, launch, watchedPage, signedInContext, addUser, axeCheck } from './helpers.mjs';

let server, browser, moto, motoUrl;
const ACCOUNT = '123456789012';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

/** One CloudTrail API call to moto (JSON protocol; moto reads the Region from the scope). */
async function cloudtrail(region, action, body) {
  const r = await fetch(motoUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.${action}`,
      authorization: `AWS4-HMAC-SHA256 Credential=test/20240101/${region}/cloudtrail/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  assert.ok(r.ok, `${action}: ${r.status} ${text}`);
  return JSON.parse(text || '{}');
}

function record(n, when, readOnly) {
  return {
    eventVersion: '1.09',
    userIdentity: { type: 'IAMUser', principalId: 'AIDAEXAMPLE', arn: `arn:aws:iam::${ACCOUNT}:user/alice`,
      accountId: ACCOUNT, accessKeyId: 'AKIAEXAMPLE', userName: 'alice' },
    eventTime: when, eventSource: readOnly ? 'ec2.amazonaws.com' : 'iam.amazonaws.com',
    eventName: readOnly ? 'DescribeInstances' : 'CreateUser', awsRegion: 'us-east-1',
    sourceIPAddress: '192.0.2.10', userAgent: 'aws-cli/2.15', requestParameters: null, responseElements: null,
    requestID: `req-${n}`, eventID: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    readOnly, eventType: 'AwsApiCall', managementEvent: true, recipientAccountId: ACCOUNT, eventCategory: 'Management',
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
  await cloudtrail('us-east-1', 'CreateTrail', { Name: 'main', S3BucketName: 'trail-bucket', S3KeyPrefix: 'logs',
    IsMultiRegionTrail: true, EnableLogFileValidation: true });
  await cloudtrail('us-east-1', 'StartLogging', { Name: 'main' });
  await cloudtrail('us-east-1', 'CreateTrail', { Name: 'copy', S3BucketName: 'trail-bucket', S3KeyPrefix: 'copy' });
  await cloudtrail('us-east-1', 'StartLogging', { Name: 'copy' });
  // 3,000 management events, delivered by both trails: the second copy is paid.
  const now = new Date();
  const day = now.toISOString().slice(0, 10).replaceAll('-', '/');
  const stamp = now.toISOString().slice(0, 10).replaceAll('-', '');
  const iso = new Date(now.getTime() - 60_000).toISOString().slice(0, 19) + 'Z';
  const records = Array.from({ length: 3000 }, (_, i) => record(i + 1, iso, i % 3 !== 0));
  const body = gzipSync(JSON.stringify({ Records: records }));
  // main delivered ten more: it holds the free copy.
  const more = Array.from({ length: 10 }, (_, i) => record(3001 + i, iso, true));
  await put(`logs/AWSLogs/${ACCOUNT}/CloudTrail/us-east-1/${day}/${ACCOUNT}_CloudTrail_us-east-1_${stamp}T0010Z_MOREAAAAAAAAAAAA.json.gz`, gzipSync(JSON.stringify({ Records: more })));
  for (const prefix of ['logs', 'copy']) {
    await put(`${prefix}/AWSLogs/${ACCOUNT}/CloudTrail/us-east-1/${day}/${ACCOUNT}_CloudTrail_us-east-1_${stamp}T0005Z_${prefix.toUpperCase()}AAAAAAAAAAAAA.json.gz`, body);
  }
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' });
  const db = tempDb();
  addUser(db, 'vic', 'viewer');
  for (const prefix of ['logs', 'copy']) {
    execFileSync(BIN, ['--db', db, 'source', 'add', prefix, '--bucket', 'trail-bucket', '--prefix', prefix,
      '--regions', 'us-east-1', '--endpoint-url', motoUrl], { stdio: 'ignore' });
  }
  execFileSync(BIN, ['--db', db, 'sync', '--once', '--json'], { stdio: 'ignore' });
  server = await startServer(db);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.stop();
  moto?.kill();
});

for (const js of [true, false]) {
  test(`trails → trail → finding → fix, then costs → trail (JavaScript ${js ? 'on' : 'off'})`, async () => {
    const context = await signedInContext(browser, server.base, 'vic', { javaScriptEnabled: js, viewport: { width: js ? 1920 : 390, height: 1000 } });
    const problems = [];
    const page = await watchedPage(context, problems);
    await page.goto(`${server.base}/`);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Trails' }).click();
    await page.waitForURL(/\/trails$/);
    const rows = page.getByTestId('trail-row');
    await rows.first().waitFor();
    assert.equal(await rows.count(), 2);
    const table = await page.getByTestId('trails').textContent();
    assert.ok(table.includes('main') && table.includes('copy') && table.includes('s3://trail-bucket/logs'), table);
    // The duplicate copy is a finding, with the money it wastes and its fix.
    const dup = page.locator('[data-code="duplicate_management_events"]');
    assert.equal(await dup.count(), 1);
    assert.match(await dup.textContent(), /copy records management events main already records: about \$[\d,]+\.\d{2,4} a month/);
    await page.screenshot({ path: path.join(SHOTS, `trails-${js ? 'js' : 'nojs'}.png`), fullPage: true });
    if (js) await axeCheck(page, 'trails page');

    await rows.filter({ hasText: 'copy' }).getByRole('link', { name: 'copy' }).click();
    await page.waitForURL(/\/trails\/arn:aws:cloudtrail:us-east-1:123456789012:trail\/copy$/);
    assert.equal(await page.getByTestId('trail-30d').textContent(), '3,000');
    assert.deepEqual(await page.getByTestId('selector-sentence').allTextContents(), ['All management events, read and write']);
    const finding = page.getByTestId('finding').filter({ hasText: 'already records' });
    await finding.locator('summary').click();
    assert.match(await finding.locator('pre').textContent(), /^aws cloudtrail delete-trail --region us-east-1 --name arn:aws:cloudtrail:us-east-1:123456789012:trail\/copy/);
    await page.getByTestId('trail-settings').scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(SHOTS, `trail-${js ? 'js' : 'nojs'}.png`), fullPage: true });
    if (js) await axeCheck(page, 'trail page');

    // Its cost this month, then the costs page of the month.
    await page.getByTestId('trail-cost').getByRole('link').click();
    await page.waitForURL(/\/costs\?month=\d{4}-\d{2}$/);
    // 3,000 events again: 3,000 × $2.00 / 100,000.
    assert.equal(await page.getByTestId('cost-total').textContent(), '$0.0600');
    const paid = page.locator('[data-testid="cost-line"][data-kind="management_paid"]');
    assert.equal(await paid.count(), 1);
    assert.match(await paid.textContent(), /copy.*3,000.*\$0\.0600/);
    assert.equal(await page.getByTestId('cost-chart').count(), 1);
    // The month picker is a GET form: the month is in the address.
    await page.getByTestId('month-form').getByRole('button', { name: 'Show' }).click();
    await page.waitForURL(/\/costs\?month=\d{4}-\d{2}$/);
    await page.screenshot({ path: path.join(SHOTS, `costs-${js ? 'js' : 'nojs'}.png`), fullPage: true });
    if (js) await axeCheck(page, 'costs page');
    // What drives the charge: the 3,010 stored events share the paid copy's $0.0600,
    // 2,010 reads and 1,000 writes; each bar opens the month's timeline filtered to it.
    const drivers = page.getByTestId('drivers-event').getByTestId('driver');
    assert.equal(await drivers.count(), 2);
    assert.match(await drivers.nth(0).textContent(), /DescribeInstances.*2,010.*\$0\.0401/);
    assert.match(await drivers.nth(1).textContent(), /CreateUser.*1,000.*\$0\.0199/);
    assert.match(await page.getByTestId('drivers-principal').textContent(), /alice.*3,010.*\$0\.0600/);
    await drivers.nth(0).getByRole('link').click();
    await page.waitForURL((u) => u.pathname === '/' && u.searchParams.get('event') === 'DescribeInstances'
      && u.searchParams.get('category') === 'Management' && /^\d{4}-\d{2}-01/.test(u.searchParams.get('from') ?? ''));
    assert.equal(await page.getByTestId('kpi-events').textContent(), '2,010');
    await page.goBack();
    await page.waitForURL(/\/costs\?month=\d{4}-\d{2}$/);
    await page.getByTestId('cost-per-trail').getByRole('link', { name: 'copy' }).click();
    await page.waitForURL(/trail\/copy$/);
    // A month that is not one says so.
    const bad = await page.goto(`${server.base}/costs?month=2024-13`);
    assert.equal(bad.status(), 400);
    assert.match(await page.locator('main').textContent(), /not a month/);
    assert.deepEqual(problems.filter((p) => !/400/.test(p)), []);
    await context.close();
  });
}

test('an admin previews a finding\'s fix with its cost and applies it (JavaScript on)', async () => {
  addUser(server.db, 'ada', 'admin');
  const context = await signedInContext(browser, server.base, 'ada', { viewport: { width: 1280, height: 1000 } });
  const problems = [];
  const page = await watchedPage(context, problems);
  await page.goto(`${server.base}/trails`);
  await page.getByTestId('trail-row').filter({ hasText: 'copy' }).getByRole('link', { name: 'copy' }).click();
  await page.waitForURL(/trail\/copy$/);
  const finding = page.locator('[data-code="insights_off"]');
  await finding.getByTestId('fix-preview').click();
  await page.waitForURL(/change=insights/);
  const preview = page.getByTestId('change-preview');
  await preview.waitFor();
  // copy: 3,000 paid management events (3,000 × $2.00 / 100,000); with Insights, the
  // call rate of its 1,000 writes (× $0.35) and the error rate of all 3,000 (× $0.35).
  assert.equal(await page.getByTestId('preview-before-usd').textContent(), '$0.0600');
  assert.equal(await page.getByTestId('preview-after-usd').textContent(), '$0.0740');
  assert.match(await page.getByTestId('preview-after').textContent(), /call rate.*error rate/);
  await preview.scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(SHOTS, 'trail-change-preview.png'), fullPage: true });
  await axeCheck(page, 'trail change preview');
  await page.getByTestId('apply-form').getByRole('button', { name: /^Apply/ }).click();
  await page.waitForURL(/done=insight_selectors/);
  assert.match(await page.getByTestId('change-done').textContent(), /Insights selectors were set; the inventory was taken again/);
  // The inventory taken right after shows it, and so does the history.
  assert.match(await page.getByTestId('trail-settings').textContent(), /ApiCallRateInsight/);
  assert.ok(await page.getByTestId('trail-change').count() >= 1);
  assert.equal(await page.locator('[data-code="insights_off"]').count(), 0);
  assert.deepEqual(problems, []);
  await context.close();
});

test('stopping logging asks for the trail\'s name; bad selectors are refused with the reason (JavaScript off, 390 px)', async () => {
  const context = await signedInContext(browser, server.base, 'ada', { javaScriptEnabled: false, viewport: { width: 390, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${server.base}/trails/arn:aws:cloudtrail:us-east-1:${ACCOUNT}:trail/main`);
  const change = page.getByTestId('change-trail');
  // JSON the API would refuse never gets there.
  await change.getByText('JSON editor').click();
  await page.getByTestId('selectors-json-form').getByLabel('Selectors').fill('[{"FieldSelectors":[{"Field":"eventName","Equals":["GetObject"]}]}]');
  await page.getByTestId('selectors-json-form').getByRole('button').click();
  assert.match(await page.getByTestId('change-invalid').textContent(), /no eventCategory/);
  await page.getByTestId('logging-form').getByRole('button', { name: 'Preview stopping logging' }).click();
  await page.waitForURL(/change=logging&logging=off/);
  await page.getByTestId('change-preview').waitFor();
  // main's management events are the free copy: stopping them makes copy's copy the
  // free one, so every trail together pays $0.06 less.
  assert.equal(await page.getByTestId('preview-after-usd').textContent(), '$0.00');
  assert.match(await page.getByTestId('preview-all-delta').textContent(), /−\$0\.06/);
  await page.screenshot({ path: path.join(SHOTS, 'trail-stop-preview-390.png'), fullPage: true });
  const apply = page.getByTestId('apply-form');
  await apply.getByRole('textbox').fill('mian');
  await apply.getByRole('button', { name: /^Apply/ }).click();
  assert.match(await page.getByTestId('change-error').textContent(), /type the trail's name/);
  await page.goto(`${server.base}/trails/arn:aws:cloudtrail:us-east-1:${ACCOUNT}:trail/main?change=logging&logging=off`);
  await page.getByTestId('apply-form').getByRole('textbox').fill('main');
  await page.getByTestId('apply-form').getByRole('button', { name: /^Apply/ }).click();
  await page.waitForURL(/done=stop_logging/);
  assert.equal(await page.getByTestId('trail-logging').textContent(), 'stopped');
  assert.equal(await page.locator('[data-code="logging_stopped"]').count(), 1);
  await context.close();
});

test('a viewer is shown no change and is refused one', async () => {
  const context = await signedInContext(browser, server.base, 'vic');
  const page = await context.newPage();
  await page.goto(`${server.base}/trails/arn:aws:cloudtrail:us-east-1:${ACCOUNT}:trail/copy?change=logging&logging=off`);
  assert.equal(await page.getByTestId('apply-form').count(), 0);
  assert.equal(await page.getByTestId('logging-form').count(), 0);
  const r = await page.request.post(`${server.base}/admin/trail-actions/apply`, {
    form: { trail: `arn:aws:cloudtrail:us-east-1:${ACCOUNT}:trail/copy`, change: 'logging', payload: 'off', confirm: 'copy' },
    headers: { origin: server.base }, maxRedirects: 0,
  });
  assert.equal(r.status(), 403);
  await context.close();
});

test('the trails and costs screens are for signed-in people only', async () => {
  for (const p of ['/trails', '/costs', '/trails/arn:aws:cloudtrail:us-east-1:123456789012:trail/main']) {
    const r = await fetch(`${server.base}${p}`, { redirect: 'manual' });
    assert.ok([302, 303, 307, 401].includes(r.status), `${p}: ${r.status}`);
  }
});
