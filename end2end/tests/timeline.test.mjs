// Journeys: the timeline shows what was imported, an event opens, and both work with
// JavaScript disabled; with JavaScript on, the interactive parts hydrate.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { SHOTS, demoInto, startServer, tempDb, launch, watchedPage, addUser, signedInContext , axeCheck } from './helpers.mjs';

// Generated events only: a clone has no real samples (those journeys are in
// ../samples/, a tier of their own).
let server, browser, expected;

before(async () => {
  const db = tempDb();
  const s = demoInto(db, 3000);
  assert.ok(s.events_new > 3000, JSON.stringify(s));
  expected = { events: s.events_new };
  addUser(db, 'vera', 'viewer');
  server = await startServer(db);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.stop();
});

const fmt = (n) => n.toLocaleString('en-US');

test('the timeline shows the imported counts', async () => {
  const context = await signedInContext(browser, server.base, 'vera', { viewport: { width: 1400, height: 1000 } });
  const problems = [];
  const page = await watchedPage(context, problems);
  await page.goto(`${server.base}/?range=all`);
  // Every imported event is counted, and the error rate is the share the failures
  // filter finds.
  assert.equal(await page.getByTestId('kpi-events').textContent(), fmt(expected.events));
  const rate = await page.getByTestId('kpi-errors').textContent();
  const failures = await page.context().newPage();
  await failures.goto(`${server.base}/?range=all&error=*`);
  const failed = Number((await failures.getByTestId('kpi-events').textContent()).replace(/,/g, ''));
  await failures.close();
  assert.ok(failed > 0, 'the demo plants failures');
  assert.equal(rate, `${(failed * 100 / expected.events).toFixed(1)} %`);
  assert.ok(await page.getByRole('group', { name: /Events per/ }).isVisible());
  const rows = page.locator('table.events-table tbody tr');
  assert.equal(await rows.count(), 50);
  await page.screenshot({ path: path.join(SHOTS, 'timeline.png'), fullPage: true });
  await axeCheck(page, 'timeline');
  // Older pages follow by keyset links.
  await page.getByRole('link', { name: 'Older →' }).click();
  await page.waitForURL(/cursor=\d+/);
  assert.equal(await page.locator('table.events-table tbody tr').count(), 50);
  assert.deepEqual(problems, []);
  await context.close();
});

test('the interactive parts hydrate, from a small bundle', async () => {
  const context = await signedInContext(browser, server.base, 'vera');
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.base });
  const problems = [];
  const page = await watchedPage(context, problems);
  await page.goto(`${server.base}/?range=7d`);
  await page.waitForFunction(() => performance.getEntriesByType('resource').some((r) => r.name.endsWith('.wasm')));
  await page.waitForLoadState('networkidle');
  // Only the islands are code in the browser: the bundle, as sent (compressed), is small.
  const wasm = await page.evaluate(() => performance.getEntriesByType('resource').find((r) => r.name.endsWith('.wasm')).encodedBodySize);
  assert.ok(wasm > 0 && wasm <= 400 * 1024, `wasm sent: ${wasm} bytes`);
  // The share link, hydrated, copies the pinned view instead of following it.
  const share = page.getByTestId('share-link');
  const href = await share.getAttribute('href');
  assert.match(href, /from=.*&to=|to=.*&from=/);
  await share.click();
  await share.getByText('Link copied').waitFor();
  assert.equal(new URL(page.url()).searchParams.get('range'), '7d', 'the link was copied, not followed');
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), `${server.base}${href}`);
  // Pages are links: the event page loads from the table.
  await page.locator('table.events-table tbody tr').first().locator('td:nth-child(3) a').click();
  await page.waitForURL(/\/events\/\d+$/);
  await page.getByRole('heading', { level: 1 }).waitFor();
  assert.deepEqual(problems, []);
  await context.close();
});

test('an event page opens from the table', async () => {
  const context = await signedInContext(browser, server.base, 'vera', { viewport: { width: 1400, height: 1000 } });
  const problems = [];
  const page = await watchedPage(context, problems);
  await page.goto(`${server.base}/?range=all`);
  const first = page.locator('table.events-table tbody tr').first();
  const name = (await first.locator('td.events-table__c-event a').textContent()).trim();
  await first.getByRole('link', { name, exact: true }).click();
  await page.waitForURL(/\/events\/\d+$/);
  const h1 = await page.getByRole('heading', { level: 1 }).textContent();
  assert.ok(h1.startsWith(`${name} by `), h1);
  assert.ok(await page.getByText('Whole record (JSON)').isVisible());
  assert.ok((await page.locator('.event__raw pre').textContent()).includes('"eventID"'));
  await page.screenshot({ path: path.join(SHOTS, 'event.png'), fullPage: true });
  await axeCheck(page, 'event page');
  assert.deepEqual(problems, []);
  await context.close();
});

test('everything works with JavaScript disabled', async () => {
  const context = await signedInContext(browser, server.base, 'vera', { javaScriptEnabled: false, viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${server.base}/?range=all`);
  assert.equal(await page.getByTestId('kpi-events').textContent(), fmt(expected.events));
  // A bar of the histogram zooms into its own range.
  await page.locator('svg.chart__svg a').first().click();
  await page.waitForURL(/from=.*&to=/);
  assert.ok(Number((await page.getByTestId('kpi-events').textContent()).replace(/,/g, '')) > 0);
  // The absolute range form is a plain GET form: ten minutes around the newest event,
  // in the tables' own form.
  await page.goto(`${server.base}/?range=all`);
  const newest = Date.parse(await page.locator('table.events-table tbody tr time').first().getAttribute('datetime'));
  const at = (ms) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
  const [from, to] = [at(newest - 300_000), at(newest + 300_000)];
  await page.getByLabel('From (UTC)').first().fill(from);
  await page.getByLabel('To (UTC)').first().fill(to);
  await page.getByRole('button', { name: 'Apply' }).first().click();
  // The form's submission lands on the canonical link.
  await page.waitForURL((u) => u.searchParams.get('from') === from.replace(' ', 'T') && u.searchParams.get('to') === to.replace(' ', 'T'));
  // An event opens.
  await page.locator('table.events-table tbody tr').first().getByRole('link').first().click();
  await page.waitForURL(/\/events\/\d+$/);
  assert.ok(await page.getByText('Whole record (JSON)').isVisible());
  await page.screenshot({ path: path.join(SHOTS, 'event-nojs.png'), fullPage: true });
  // Unknown events are a real 404.
  const r = await page.goto(`${server.base}/events/12345`);
  assert.equal(r.status(), 404);
  await context.close();
});

test('an empty database explains how to get data in', async () => {
  const emptyDb = tempDb();
  addUser(emptyDb, 'vera', 'viewer');
  const empty = await startServer(emptyDb);
  try {
    const context = await signedInContext(browser, empty.base, 'vera', { javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(empty.base);
    assert.ok(await page.getByRole('heading', { name: 'No events yet' }).isVisible());
    assert.ok((await page.textContent('body')).includes('cairn import'));
    await page.screenshot({ path: path.join(SHOTS, 'empty.png') });
    await context.close();
  } finally {
    empty.stop();
  }
});
