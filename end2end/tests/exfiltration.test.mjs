// Exfiltration in the browser: the demo's planted bulk download of prod-customer-data is
// found and shown against the reader's history, rows by principal, bucket and address
// with the view in the address, each row opening the timeline with the matching
// filters, and the anomaly finding with the figures that made it fire; with JavaScript
// and without, from a phone's width to a wide screen.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { BIN, SHOTS, startServer, tempDb, launch, watchedPage, addUser, signedInContext, axeCheck } from './helpers.mjs';

let server, browser;

before(async () => {
  const db = tempDb();
  // Two weeks: Cairn learns a week of reads before it calls a reader new.
  execFileSync(BIN, ['--db', db, 'demo', '--json', '--events', '20000', '--days', '14'], { encoding: 'utf8' });
  addUser(db, 'ivan', 'analyst');
  server = await startServer(db);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.stop();
});

for (const js of [true, false]) {
  test(`the planted bulk download is found and followed (JavaScript ${js ? 'on' : 'off'})`, async () => {
    const problems = [];
    const ctx = await signedInContext(browser, server.base, 'ivan', { javaScriptEnabled: js, viewport: { width: 1400, height: 1000 } });
    const page = await watchedPage(ctx, problems);
    await page.goto(`${server.base}/`);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Exfiltration' }).click();
    await page.waitForURL((u) => u.pathname === '/exfiltration');
    const table = page.getByTestId('exfil-table');
    await table.waitFor();
    // The reader, flagged against its (empty) history, and the finding with its figures.
    const row = table.locator('tbody tr', { hasText: 'contractor-temp' });
    await row.waitFor();
    assert.equal(await row.getByTestId('exfil-flag').count(), 1);
    assert.match(await row.locator('td').nth(2).textContent(), /2\.1 GB/);
    const found = page.getByTestId('exfil-findings').locator('li', { hasText: 'Bulk read of a bucket never read before' });
    assert.match(await found.textContent(), /read 40 objects \/ 2\.1 GB from prod-customer-data, a bucket it had never read/);
    if (js) {
      await axeCheck(page, 'exfiltration');
      await page.screenshot({ path: path.join(SHOTS, 'exfiltration.png'), fullPage: true });
    }

    // By bucket: the view is in the address.
    await page.getByRole('navigation', { name: 'Rows' }).getByRole('link', { name: 'Buckets' }).click();
    await page.waitForURL((u) => u.searchParams.get('by') === 'bucket' && u.searchParams.get('range') === '7d');
    const bucket = page.getByTestId('exfil-table').locator('tbody tr', { hasText: 'prod-customer-data' });
    await bucket.waitFor();
    // The row opens the timeline of the bucket's successful S3 calls over the range.
    await bucket.locator('td').first().locator('a').first().click();
    await page.waitForURL((u) => u.pathname === '/' && u.searchParams.get('resource') === 'arn:aws:s3:::prod-customer-data');
    const url = new URL(page.url());
    assert.equal(url.searchParams.get('source'), 's3.amazonaws.com');
    assert.equal(url.searchParams.get('not_error'), '*');
    assert.ok(url.searchParams.get('from'), 'the range is pinned');
    await page.locator('table.events-table tbody tr').first().waitFor();
    const names = await page.locator('table.events-table tbody tr td.events-table__c-event a').allTextContents();
    assert.ok(names.includes('GetObject'), `events: ${names}`);

    // The finding: what it read, against what.
    await page.goto(`${server.base}/findings?rule=cairn-exfil-first-bulk-read`);
    await page.getByTestId('findings').locator('tbody tr', { hasText: 'contractor-temp' }).locator('td').nth(1).locator('a').first().click();
    await page.waitForURL((u) => /^\/findings\/\d+$/.test(u.pathname));
    assert.match(await page.getByTestId('finding-summary').textContent(), /40 objects \/ 2\.1 GB from prod-customer-data/);
    if (js) await axeCheck(page, 'exfiltration finding');
    assert.deepEqual(problems, []);
    await ctx.close();
  });
}

test('the exfiltration view reads at every width', async () => {
  const ctx = await signedInContext(browser, server.base, 'ivan', { viewport: { width: 390, height: 900 } });
  const problems = [];
  const page = await watchedPage(ctx, problems);
  for (const width of [390, 768, 1920]) {
    await page.setViewportSize({ width, height: 900 });
    await page.goto(`${server.base}/exfiltration?range=30d&by=principal`);
    await page.getByTestId('exfil-table').waitFor();
    // Nothing runs off the side of the page.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 1, `${width}px: the page is ${overflow}px too wide`);
    await page.screenshot({ path: path.join(SHOTS, `exfiltration-${width}.png`), fullPage: true });
  }
  await axeCheck(page, 'exfiltration, wide');
  assert.deepEqual(problems, []);
  await ctx.close();
});
