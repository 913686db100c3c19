// The real-sample tier: the Invictus IR dataset (a real incident's CloudTrail files)
// through the browser. Run by `make samples` where the samples are; asked for and
// missing, it fails.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { INVICTUS, importInto, startServer, tempDb, launch, watchedPage, addUser, signedInContext, axeCheck } from '../tests/helpers.mjs';

let server, browser;

before(async () => {
  assert.ok(existsSync(INVICTUS), `the real samples are needed here and ${INVICTUS} is absent (set CAIRN_SAMPLES to their folder)`);
  const db = tempDb();
  const s = importInto(db, [INVICTUS]);
  assert.deepEqual([s.files, s.events_new, s.records_rejected], [55, 2900, 0]);
  addUser(db, 'vera', 'viewer');
  server = await startServer(db);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.stop();
});

test('the incident reads as imported: counts, error rate, its ten busiest minutes', async () => {
  const context = await signedInContext(browser, server.base, 'vera', { viewport: { width: 1400, height: 1000 } });
  const problems = [];
  const page = await watchedPage(context, problems);
  await page.goto(`${server.base}/?range=all`);
  assert.equal(await page.getByTestId('kpi-events').textContent(), '2,900');
  assert.equal(await page.getByTestId('kpi-errors').textContent(), '10.3 %');
  await axeCheck(page, 'timeline (real samples)');
  // The failures are the 300 the files hold.
  await page.goto(`${server.base}/?range=all&error=*`);
  assert.equal(await page.getByTestId('kpi-events').textContent(), '300');
  assert.deepEqual(problems, []);
  await context.close();
});

test('the incident window filters and opens with JavaScript disabled', async () => {
  const context = await signedInContext(browser, server.base, 'vera', { javaScriptEnabled: false, viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${server.base}/?range=all`);
  await page.getByLabel('From (UTC)').first().fill('2023-07-10 12:00');
  await page.getByLabel('To (UTC)').first().fill('2023-07-10 12:10');
  await page.getByRole('button', { name: 'Apply' }).first().click();
  await page.waitForURL((u) => u.searchParams.get('from') === '2023-07-10T12:00' && u.searchParams.get('to') === '2023-07-10T12:10');
  const rows = page.locator('table.events-table tbody tr');
  assert.ok(await rows.count() > 0);
  const when = Date.parse(await rows.first().locator('time').getAttribute('datetime'));
  assert.ok(when >= Date.parse('2023-07-10T12:00:00Z') && when < Date.parse('2023-07-10T12:10:00Z'), String(when));
  await rows.first().getByRole('link').first().click();
  await page.waitForURL(/\/events\/\d+$/);
  assert.ok((await page.locator('.event__raw pre').textContent()).includes('"eventID"'));
  await context.close();
});
