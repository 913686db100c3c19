// Journeys of an investigation: narrow the timeline by clicking top-N rows and chips,
// open a principal and follow its session back to the person who started it, open a
// resource, search, share the view; and the same drill-down with JavaScript disabled.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { SHOTS, demoInto, startServer, tempDb, launch, watchedPage, addUser, signedInContext , axeCheck } from './helpers.mjs';

let server, browser;

before(async () => {
  const db = tempDb();
  demoInto(db, 4000);
  addUser(db, 'ivan', 'analyst');
  addUser(db, 'wanda', 'viewer');
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
  // With JavaScript the new view replaces the old one when its data is in: wait for it.
  const chips = page.getByTestId('filter-chips');
  await chips.getByText(`Event name is ${name}`).waitFor();
  const names = await page.locator('table.events-table tbody tr td.events-table__c-event a').allTextContents();
  assert.ok(names.length > 0);
  assert.ok(names.every((n) => n.trim() === name), `only ${name}: ${names.slice(0, 5)}`);
  if (shot) await page.screenshot({ path: path.join(SHOTS, shot), fullPage: true });
  // "−" excludes a value instead.
  await page.getByTestId('top-principal').locator('tbody tr').first().locator('a.top-list__exclude').click();
  await page.waitForURL((u) => u.searchParams.has('not_principal'));
  await chips.getByText(/^Principal is not /).waitFor();
  // The chip's × removes its filter and keeps the other.
  await chips.getByRole('link', { name: `Remove filter: Event name is ${name}` }).click();
  await page.waitForURL((u) => !u.searchParams.has('event'));
  await chips.getByText(/^Event name is /).waitFor({ state: 'detached' });
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
  // Hydrated, a drag across the histogram zooms to the dragged span.
  const box = await page.locator('svg.chart__svg').boundingBox();
  await page.mouse.move(box.x + box.width * 0.2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2, { steps: 5 });
  assert.equal(await page.getByTestId('brush').count(), 1, 'the dragged span is shown');
  await page.mouse.move(box.x + box.width * 0.4, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await page.waitForURL((u) => u.searchParams.has('from') && u.searchParams.has('to'));
  const zf = Date.parse(`${param(page, 'from')[0]}Z`);
  const zt = Date.parse(`${param(page, 'to')[0]}Z`);
  assert.ok(zt > zf, `${zf} < ${zt}`);
  // Demo events span three days; a fifth of the chart is most of a day at most.
  assert.ok(zt - zf < 86_400_000 && zt - zf > 3_600_000, `${(zt - zf) / 3_600_000} h`);
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
  // Full text reaches into request parameters, and each result says where it matched.
  await page.goto(`${server.base}/?range=all&q=symmetric_default`);
  const matches = await page.getByTestId('search-match').allTextContents();
  assert.ok(matches.length > 0, 'search results');
  assert.ok(matches.every((m) => /Matched in requestParameters\.encryptionAlgorithm: SYMMETRIC_DEFAULT/.test(m)), matches.slice(0, 3).join(' | '));
  await page.screenshot({ path: path.join(SHOTS, 'search.png'), fullPage: true });
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
  await page.getByTestId('identity').waitFor();
  assert.match(decodeURIComponent(new URL(page.url()).pathname), /assumed-role\/AdminRole\/alice$/);
  // Reached by navigating in place: the histogram's bars are drawn (SVG links, not HTML).
  const bars = await page.locator('svg.chart__svg a').evaluateAll((as) => as.map((a) => [a.namespaceURI, a.getBoundingClientRect().height]));
  assert.ok(bars.length > 0, 'bars');
  assert.ok(bars.every(([ns, h]) => ns === 'http://www.w3.org/2000/svg' && h > 0), JSON.stringify(bars.slice(0, 3)));
  assert.match(await page.getByTestId('identity').textContent(), /AssumedRole/);
  const chain = page.getByTestId('chain');
  assert.match(await chain.textContent(), /credentials from AssumeRole/);
  await page.screenshot({ path: path.join(SHOTS, 'principal-session.png'), fullPage: true });
  await axeCheck(page, 'session page');
  await chain.getByRole('link', { name: 'alice', exact: true }).click();
  await page.waitForURL((u) => u.pathname.endsWith(':user/alice'));
  await page.getByTestId('identity').getByText('IAMUser', { exact: true }).waitFor();
  assert.match(await page.getByTestId('identity').textContent(), /IAMUser/);
  // The count agrees with the principal's own ConsoleLogin records (the demo's console
  // users sign in now and then, with MFA; how often in one account varies with the clock).
  const key = decodeURIComponent(new URL(page.url()).pathname.replace('/principals/', ''));
  const exported = await page.request.get(`${server.base}/export/events.json?range=all&event=ConsoleLogin&principal=${encodeURIComponent(key)}`);
  assert.equal(exported.status(), 200);
  const logins = JSON.parse(await exported.text()).Records.length;
  const said = await page.getByTestId('console-sign-ins').textContent();
  assert.ok(said.startsWith(logins === 0 ? 'none seen' : `${logins} successful (${logins} with MFA, 0 without)`), `${logins}: ${said}`);

  // A resource from the timeline: its page lists the write events that changed it.
  await page.goto(`${server.base}/?range=all&event=PutBucketPolicy`);
  await page.locator('table.events-table tbody tr td:nth-child(6) a').first().click();
  await page.waitForURL((u) => u.pathname.startsWith('/resources/'));
  await page.getByTestId('changes').waitFor();
  const changes = page.getByTestId('changes');
  assert.match(await changes.textContent(), /PutBucketPolicy/);
  await page.screenshot({ path: path.join(SHOTS, 'resource.png'), fullPage: true });
  await axeCheck(page, 'resource page');
  assert.deepEqual(problems, []);
  await context.close();
});

test('an investigation saves the view; a colleague opens its link and sees the same', async () => {
  const context = await signedInContext(browser, server.base, 'ivan', { viewport: { width: 1400, height: 1000 } });
  const problems = [];
  const page = await watchedPage(context, problems);
  await page.goto(`${server.base}/?range=all&error=*`);
  const events = await page.getByTestId('kpi-events').textContent();
  await page.getByTestId('save-view').locator('summary').click();
  await page.getByLabel('Title').fill('Denied calls <b>after</b> the deploy');
  await page.getByLabel('Notes').fill('Seen first by the on-call.\nCheck the intern account.');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.waitForURL(/\/investigations\/\d+$/);
  const link = page.url();
  assert.equal(await page.getByTestId('investigation-title').textContent(), 'Denied calls <b>after</b> the deploy');
  // Pin an event from its page.
  await page.locator('table.events-table tbody tr td:first-child a').first().click();
  await page.waitForURL(/\/events\/\d+$/);
  await page.getByTestId('pin-form').waitFor();
  const pinned = new URL(page.url()).pathname;
  await page.getByTestId('pin-form').getByRole('button', { name: 'Pin' }).click();
  await page.waitForURL((u) => u.pathname === pinned);
  await context.close();

  // A colleague, signed in elsewhere, opens the link: same view, same figures, the pin.
  const other = await signedInContext(browser, server.base, 'wanda', { viewport: { width: 1400, height: 1000 } });
  const p2 = await watchedPage(other, problems);
  await p2.goto(link);
  assert.equal(await p2.getByTestId('investigation-title').textContent(), 'Denied calls <b>after</b> the deploy');
  assert.equal(await p2.getByTestId('notes').textContent(), 'Seen first by the on-call.\nCheck the intern account.');
  assert.equal(await p2.getByTestId('kpi-events').textContent(), events);
  assert.match(await p2.getByTestId('filter-chips').textContent(), /Error is any error/);
  assert.equal(await p2.getByTestId('pinned').locator('tbody tr').count(), 1);
  assert.equal(await p2.getByTestId('pinned').locator('tbody tr a').first().getAttribute('href'), pinned);
  assert.match(await p2.getByTestId('history').textContent(), /ivan opened/);
  assert.equal(await p2.getByTestId('edit-investigation').count(), 0, 'a viewer gets no edit form');
  await p2.screenshot({ path: path.join(SHOTS, 'investigation.png'), fullPage: true });
  await axeCheck(p2, 'investigation page');
  // The list links to it.
  await p2.goto(`${server.base}/investigations`);
  await p2.getByRole('link', { name: 'Denied calls <b>after</b> the deploy' }).click();
  await p2.waitForURL(link);
  assert.deepEqual(problems, []);
  await other.close();

  // A principal's page is saved the same way: the investigation shows that principal.
  const again = await signedInContext(browser, server.base, 'ivan', { viewport: { width: 1400, height: 1000 } });
  const p3 = await watchedPage(again, problems);
  await p3.goto(`${server.base}/?range=all&principal=AdminRole/alice`);
  await p3.locator('table.events-table tbody tr td:nth-child(2) a').first().click();
  await p3.waitForURL((u) => u.pathname.startsWith('/principals/'));
  await p3.getByTestId('identity').waitFor();
  await p3.getByTestId('save-view').locator('summary').click();
  await p3.getByLabel('Title').fill('Everything alice did');
  await p3.getByRole('button', { name: 'Save', exact: true }).click();
  await p3.waitForURL(/\/investigations\/\d+$/);
  // The chip shows the principal by its name; its whole ARN is on hover.
  const chip = p3.getByTestId('filter-chips').locator('.chip__text').first();
  assert.equal(await chip.textContent(), 'Principal is AdminRole/alice');
  assert.match(await chip.getAttribute('title'), /Principal is arn:aws:sts::\d+:assumed-role\/AdminRole\/alice/);
  assert.deepEqual(problems, []);
  await again.close();
});
