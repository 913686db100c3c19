// Incidents in the browser: one attacker's findings (refused calls, a policy on itself, a
// key made for another user who then uses it, the trail stopped, a second identity from
// the same address) told as one incident with its steps and tactics; what the actor
// touched; the reports downloaded; closed with a note and saved as an investigation;
// with JavaScript and without, from a phone's width to a wide screen.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { BIN, SHOTS, startServer, tempDb, launch, watchedPage, addUser, signedInContext, axeCheck, importInto, writeRecords } from './helpers.mjs';

const ACCT = '111122223333';
const T0 = Date.parse('2024-03-05T09:00:00Z');
const ATTACKER = '203.0.113.66';
const HOSTILE = '<img src=x onerror="window.__pwned=1">';

let server, browser, db;
let n = 0;

function rec(secs, user, key, name, source, extra = {}) {
  n += 1;
  return {
    eventVersion: '1.09', eventTime: new Date(T0 + secs * 1000).toISOString().replace('.000Z', 'Z'),
    eventSource: source, eventName: name, awsRegion: 'us-east-1', sourceIPAddress: ATTACKER,
    userAgent: HOSTILE, requestID: `req-${n}`, eventID: `40000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    readOnly: true, eventType: 'AwsApiCall', managementEvent: true, recipientAccountId: ACCT, eventCategory: 'Management',
    userIdentity: { type: 'IAMUser', principalId: `AIDA${user.toUpperCase()}`, arn: `arn:aws:iam::${ACCT}:user/${user}`, accountId: ACCT, accessKeyId: key, userName: user },
    ...extra,
  };
}

before(async () => {
  db = tempDb();
  const m = 'AKIAMALLORYKEY000001';
  const out = [];
  for (let i = 0; i < 25; i++) {
    out.push(rec(i * 2, 'mallory', m, 'ListRoles', 'iam.amazonaws.com', { errorCode: 'AccessDenied', errorMessage: 'not authorized' }));
  }
  out.push(rec(600, 'mallory', m, 'PutUserPolicy', 'iam.amazonaws.com', { readOnly: false, requestParameters: { userName: 'mallory', policyName: 'all' } }));
  out.push(rec(720, 'mallory', m, 'CreateAccessKey', 'iam.amazonaws.com', { readOnly: false, requestParameters: { userName: 'bob' },
    responseElements: { accessKey: { accessKeyId: 'AKIABOBNEWKEY0000001', status: 'Active', userName: 'bob' } } }));
  out.push(rec(1200, 'bob', 'AKIABOBNEWKEY0000001', 'ListBuckets', 's3.amazonaws.com', { sourceIPAddress: '198.51.100.77' }));
  out.push(rec(1800, 'mallory', m, 'StopLogging', 'cloudtrail.amazonaws.com', { readOnly: false, requestParameters: { name: 'org-trail' } }));
  out.push(rec(2400, 'eve', 'AKIAEVEKEY0000000001', 'AuthorizeSecurityGroupIngress', 'ec2.amazonaws.com', { readOnly: false,
    requestParameters: { groupId: 'sg-1', ipPermissions: { items: [{ ipProtocol: 'tcp', fromPort: 22, toPort: 22, ipRanges: { items: [{ cidrIp: '0.0.0.0/0' }] } }] } } }));
  importInto(db, [writeRecords(out)]);
  addUser(db, 'ivan', 'analyst');
  addUser(db, 'vera', 'viewer');
  server = await startServer(db);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.stop();
});

for (const js of [true, false]) {
  test(`one attacker's findings are one incident, worked to the end (JavaScript ${js ? 'on' : 'off'})`, async () => {
    const problems = [];
    const ctx = await signedInContext(browser, server.base, 'ivan', { javaScriptEnabled: js, viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
    const page = await watchedPage(ctx, problems);
    await page.goto(`${server.base}/`);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Incidents' }).click();
    await page.waitForURL((u) => u.pathname === '/incidents');
    const rows = page.getByTestId('incidents').locator('tbody tr');
    assert.equal(await rows.count(), 1);
    const row = rows.first();
    assert.match(await row.textContent(), /mallory/);
    assert.match(await row.textContent(), /Discovery.*Persistence.*Defence evasion/s);
    if (js) await axeCheck(page, 'incidents');
    await row.locator('td').nth(1).locator('a').first().click();
    await page.waitForURL((u) => /^\/incidents\/\d+$/.test(u.pathname));
    const id = new URL(page.url()).pathname.split('/').pop();

    // Who, linked how, and the steps in time order with their tactics.
    const facts = await page.getByTestId('incident-facts').textContent();
    assert.match(facts, /user\/mallory/);
    assert.match(facts, /user\/eve/);
    assert.match(facts, new RegExp(`address ${ATTACKER.replaceAll('.', '\\.')}`));
    const tactics = await page.getByTestId('step-tactic').allTextContents();
    assert.equal(tactics[0], 'Discovery');
    for (const t of ['Persistence', 'Defence evasion', 'Initial access']) assert.ok(tactics.includes(t), `${t} in ${tactics}`);
    // What else: the key made for bob, used by bob.
    const touched = page.getByTestId('incident-touched').locator('tr', { hasText: 'AKIABOBNEWKEY0000001' });
    assert.match(await touched.textContent(), /used in 1 event(?!s)/);
    assert.match(await touched.textContent(), /user\/bob/);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    if (js) {
      await axeCheck(page, 'incident');
      await page.screenshot({ path: path.join(SHOTS, 'incident.png'), fullPage: true });
    }

    // The reports.
    for (const [testid, ext] of [['incident-md', 'md'], ['incident-json', 'json']]) {
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId(testid).click()]);
      assert.equal(download.suggestedFilename(), `incident-${id}.${ext}`);
      const text = readFileSync(await download.path(), 'utf8');
      if (ext === 'md') {
        assert.match(text, new RegExp(`^# Incident ${id}: `));
        assert.match(text, /\| Discovery \|/);
        assert.match(text, /- `40000000-0000-4000-8000-0000000000\d\d`/);
      } else {
        const j = JSON.parse(text);
        assert.equal(j.actor_key, `arn:aws:iam::${ACCT}:user/mallory`);
        assert.equal(j.steps[0].tactic, 'discovery');
        assert.ok(j.steps.every((s) => s.event_ids.length > 0));
      }
    }

    // All their events, one click away.
    await page.getByTestId('incident-timeline').click();
    await page.waitForURL((u) => u.pathname === '/' && u.searchParams.getAll('principal').length === 2);
    await page.locator('table.events-table tbody tr').first().waitFor();
    await page.goBack();
    await page.waitForURL((u) => /^\/incidents\/\d+$/.test(u.pathname));

    // Closed with a note.
    const form = page.getByTestId('incident-form');
    await form.locator('select[name=status]').selectOption(js ? 'acknowledged' : 'closed');
    await form.locator('input[name=assignee]').fill('ivan');
    await form.locator('textarea[name=note]').fill(`contained ${js}`);
    await form.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL((u) => u.searchParams.get('saved') === '1');
    assert.match(await page.getByTestId('incident-history').textContent(), new RegExp(`contained ${js}`));

    // Saved as an investigation.
    await page.getByTestId('incident-investigate').getByRole('button', { name: 'Save as investigation' }).click();
    await page.waitForURL((u) => /^\/investigations\/\d+/.test(u.pathname));
    assert.match(await page.locator('h1').first().textContent(), /Incident #\d+: mallory/);
    assert.deepEqual(problems, []);
    await ctx.close();
  });
}

test('a viewer reads incidents but cannot change them', async () => {
  const problems = [];
  const ctx = await signedInContext(browser, server.base, 'vera', { viewport: { width: 390, height: 900 } });
  const page = await watchedPage(ctx, problems);
  await page.goto(`${server.base}/incidents`);
  const href = await page.getByTestId('incidents').locator('tbody tr a').first().getAttribute('href');
  for (const width of [390, 768, 1920]) {
    await page.setViewportSize({ width, height: 900 });
    for (const url of ['/incidents', href]) {
      await page.goto(`${server.base}${url}`);
      await page.locator('h1').first().waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 1, `${url} at ${width}px: the page is ${overflow}px too wide`);
      await page.screenshot({ path: path.join(SHOTS, `incident${url === href ? '' : 's'}-${width}.png`), fullPage: true });
    }
  }
  assert.equal(await page.getByTestId('incident-form').count(), 0);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('cairn incidents prints the story', () => {
  const out = JSON.parse(execFileSync(BIN, ['--db', db, 'incidents', '--json'], { encoding: 'utf8' }));
  assert.equal(out.length, 1);
  assert.equal(out[0].actor_key, `arn:aws:iam::${ACCT}:user/mallory`);
  assert.ok(out[0].first && out[0].last);
  assert.ok(out[0].steps.every((s) => 'tactic' in s && s.title && s.event_ids.length > 0));
});
