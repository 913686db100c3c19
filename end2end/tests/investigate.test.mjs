// Journeys of an investigation: narrow the timeline by clicking top-N rows and chips,
// open a principal and follow its session back to the person who started it, open a
// resource, search, share the view; and the same drill-down with JavaScript disabled.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { SHOTS, demoInto, startServer, tempDb, launch, watchedPage, addUser, signedInContext } from './helpers.mjs';

let server, browser;

before(async () => {
  const db = tempDb();
  demoInto(db, 4000);
  addUser(db, 'ivan', 'analyst');
  server = await startServer(db);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.stop();
});

const param = (page, key) => new URL(page.url()).searchParams.getAll(key);

/** Clicks the first row of a top-N panel; returns the value it filters on. */
async function drill(page, panel) {
  const link = page.getByTestId(panel).locator('tbody tr').first().locator('th a');
  const label = (await link.textContent()).trim();
  await link.click();
  return label;
}

async function journey(page, base, shot) {
  await page.goto(`${base}/?range=all`);
  // A top-N row adds its filter; the table then holds only that event name.
  const name = await drill(page, 'top-event');
  await page.waitForURL((u) => u.searchParams.has('event'));
  assert.deepEqual(param(page, 'event'), [name]);
  assert.equal(param(page, 'range')[0], 'all', 'the rest of the view is kept');
  const chips = page.getByTestId('filter-chips');
  assert.match(await chips.textContent(), new RegExp(`Event name is ${name}`));
  const names = await page.locator('table.events-table tbody tr td:nth-child(3)').allTextContents();
  assert.ok(names.length > 0);
  assert.ok(names.every((n) => n.trim() === name), `only ${name}: ${names.slice(0, 5)}`);
  if (shot) await page.screenshot({ path: path.join(SHOTS, shot), fullPage: true });
  // "−" excludes a value instead.
  await page.getByTestId('top-principal').locator('tbody tr').first().locator('a.top-list__exclude').click();
  await page.waitForURL((u) => u.searchParams.has('not_principal'));
  // The chip's × removes its filter and keeps the other.
  await chips.getByRole('link', { name: `Remove filter: Event name is ${name}` }).click();
  await page.waitForURL((u) => !u.searchParams.has('event'));
  assert.equal(param(page, 'not_principal').length, 1);
  const total = Number((await page.getByTestId('kpi-events').textContent()).replace(/,/g, ''));
  assert.ok(total > 0);
}

test('drill down by clicking top-N rows and chips', async () => {
  const context = await signedInContext(browser, server.base, 'ivan', { viewport: { width: 1400, height: 1000 } });
  const problems = [];
  const page = await watchedPage(context, problems);
  await page.goto(`${server.base}/?range=all`);
  await page.waitForFunction(() => performance.getEntriesByType('resource').some((r) => r.name.endsWith('.wasm')));
  await page.waitForLoadState('networkidle');
  await journey(page, server.base, 'timeline-filtered.png');
  // Sharing pins the relative range to absolute times.
  const share = await page.getByTestId('share-link').getAttribute('href');
  const u = new URL(share, server.base);
  assert.ok(u.searchParams.get('from') && u.searchParams.get('to'), share);
  assert.equal(u.searchParams.get('range'), null);
  assert.deepEqual(problems, []);
  await context.close();
});

test('the same drill-down works with JavaScript disabled', async () => {
  const context = await signedInContext(browser, server.base, 'ivan', { javaScriptEnabled: false, viewport: { width: 1400, height: 1000 } });
  const problems = [];
  const page = await watchedPage(context, problems);
  await journey(page, server.base, null);
  // Search is a GET form that keeps the rest of the view.
  await page.goto(`${server.base}/?range=all&access=write`);
  await page.getByRole('searchbox', { name: 'Search' }).fill('203.0.113.44');
  await page.getByRole('button', { name: 'Apply' }).last().click();
  await page.waitForURL((u) => u.searchParams.get('q') === '203.0.113.44');
  assert.equal(param(page, 'access')[0], 'write', 'search keeps the filters');
  assert.equal(param(page, 'range')[0], 'all');
  const ips = await page.locator('table.events-table tbody tr td:nth-child(7)').allTextContents();
  assert.ok(ips.length > 0 && ips.every((n) => n.trim() === '203.0.113.44'), ips.slice(0, 5).join());
  assert.deepEqual(problems, []);
  await context.close();
});

test('a session leads back to the person who started it; a resource shows its changes', async () => {
  const context = await signedInContext(browser, server.base, 'ivan', { viewport: { width: 1400, height: 1000 } });
  const problems = [];
  const page = await watchedPage(context, problems);
  await page.goto(`${server.base}/?range=all&principal=AdminRole/alice`);
  await page.locator('table.events-table tbody tr td:nth-child(2) a').first().click();
  await page.waitForURL((u) => u.pathname.startsWith('/principals/'));
  assert.match(decodeURIComponent(new URL(page.url()).pathname), /assumed-role\/AdminRole\/alice$/);
  assert.match(await page.getByTestId('identity').textContent(), /AssumedRole/);
  const chain = page.getByTestId('chain');
  assert.match(await chain.textContent(), /credentials from AssumeRole/);
  await page.screenshot({ path: path.join(SHOTS, 'principal-session.png'), fullPage: true });
  await chain.getByRole('link', { name: 'alice', exact: true }).click();
  await page.waitForURL((u) => u.pathname.endsWith(':user/alice'));
  assert.match(await page.getByTestId('identity').textContent(), /IAMUser/);
  assert.match(await page.getByTestId('identity').textContent(), /console sign-in/);

  // A resource from the timeline: its page lists the write events that changed it.
  await page.goto(`${server.base}/?range=all&event=PutBucketPolicy`);
  await page.locator('table.events-table tbody tr td:nth-child(6) a').first().click();
  await page.waitForURL((u) => u.pathname.startsWith('/resources/'));
  const changes = page.getByTestId('changes');
  assert.match(await changes.textContent(), /PutBucketPolicy/);
  await page.screenshot({ path: path.join(SHOTS, 'resource.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await context.close();
});
