// An analyst working a small incident (written by the test: a user's key used from an
// outside address, failed console sign-ins, a privilege escalation, a new key), with
// what slowed such work down: downloads, failures shown as such, the table at every
// width, links that keep the time range, address and key pages, whole top lists,
// sorting and paging, comparisons, bad input, related events, pins, tidy URLs — with
// JavaScript on and off, and every page checked with axe-core.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import {
  SHOTS, startServer, tempDb, launch, watchedPage, addUser, signedInContext, importInto,
  writeRecords, incidentRecords, axeCheck,
} from './helpers.mjs';

let server, browser, total;
const DAYS = 'from=2021-07-20&to=2021-07-29';
const DAY = 'from=2021-07-28&to=2021-07-28';

before(async () => {
  const db = tempDb();
  const records = incidentRecords(3000);
  total = records.length;
  const s = importInto(db, [writeRecords(records)]);
  assert.equal(s.events_new, total);
  addUser(db, 'ivy', 'analyst');
  addUser(db, 'vic', 'viewer');
  server = await startServer(db);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.stop();
});

const count = async (page, id) => Number((await page.getByTestId(id).textContent()).replace(/,/g, ''));
const param = (page, key) => new URL(page.url()).searchParams.getAll(key);

async function context(options = {}) {
  return signedInContext(browser, server.base, options.user || 'ivy', { viewport: { width: 1400, height: 1000 }, acceptDownloads: true, ...options });
}

/** Clicks a download link and reads what the browser saved. */
async function download(page, link) {
  const [d] = await Promise.all([page.waitForEvent('download'), link.click()]);
  assert.equal(await d.failure(), null, 'the download completed');
  return { name: d.suggestedFilename(), text: readFileSync(await d.path(), 'utf8') };
}

for (const js of [true, false]) {
  test(`exports download whole, as a browser fetches them (JavaScript ${js ? 'on' : 'off'})`, async () => {
    const ctx = await context({ javaScriptEnabled: js });
    const problems = [];
    const page = await watchedPage(ctx, problems);
    await page.goto(`${server.base}/?${DAYS}`);
    const events = await count(page, 'kpi-events');
    assert.equal(events, total);
    const csv = await download(page, page.getByTestId('export-csv'));
    assert.equal(csv.name, 'events.csv');
    const lines = csv.text.split('\r\n').filter((l) => l);
    assert.equal(lines.length, events + 1, 'a header and one line per event');
    assert.match(lines[0], /^time,account,region,event_source,event_name,principal/);
    const json = await download(page, page.getByTestId('export-json'));
    assert.equal(JSON.parse(json.text).Records.length, events);
    // A filtered selection: exactly its events.
    await page.goto(`${server.base}/?${DAYS}&error=*`);
    const failed = await download(page, page.getByTestId('export-csv'));
    assert.equal(failed.text.split('\r\n').filter((l) => l).length, 4);
    assert.deepEqual(problems, []);
    await ctx.close();
  });
}

test('a failed console sign-in is a failure, with its message', async () => {
  const ctx = await context();
  const problems = [];
  const page = await watchedPage(ctx, problems);
  await page.goto(`${server.base}/?${DAY}&event=ConsoleLogin&sort=oldest`);
  const errors = await page.locator('table.events-table tbody tr td.events-table__c-error').allTextContents();
  assert.deepEqual(errors.map((e) => e.trim()), ['⚠ Failed authentication', '⚠ ConsoleLogin: Failure', '']);
  await page.locator('table.events-table tbody tr').nth(1).locator('td.events-table__c-time a').click();
  await page.waitForURL(/\/events\/\d+$/);
  assert.equal(await page.getByTestId('outcome').textContent(), '⚠ Failed: ConsoleLogin: Failure');
  await axeCheck(page, 'event page');
  // `error=*` finds both, and the refusal.
  await page.goto(`${server.base}/?${DAY}&error=*`);
  assert.equal(await count(page, 'kpi-events'), 3);
  // The principal counts them apart.
  await page.goto(`${server.base}/principals/arn:aws:iam::111122223333:user/alice`);
  const signIns = await page.getByTestId('console-sign-ins').textContent();
  assert.match(signIns, /^1 successful \(1 with MFA, 0 without\); 2 failed; the latest successful one used MFA$/);
  await page.getByTestId('console-sign-ins').getByRole('link', { name: '2 failed' }).click();
  await page.waitForURL((u) => u.pathname === '/' && u.searchParams.get('error') === '*');
  await page.getByTestId('filter-chips').waitFor();
  assert.equal(await count(page, 'kpi-events'), 2);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('the events table reads at 390, 768, 1024, 1280 and 1920 px', async () => {
  const expected = {
    390: ['Time (UTC)', 'Principal', 'Event'],
    768: ['Time (UTC)', 'Principal', 'Event', 'Resource'],
    1024: ['Time (UTC)', 'Principal', 'Event', 'Resource', 'Error'],
    1280: ['Time (UTC)', 'Principal', 'Event', 'Resource', 'Source IP', 'Error'],
    1920: ['Time (UTC)', 'Principal', 'Event', 'Source', 'Region', 'Resource', 'Source IP', 'Error'],
  };
  for (const [width, heads] of Object.entries(expected)) {
    const ctx = await context({ viewport: { width: Number(width), height: 900 } });
    const problems = [];
    const page = await watchedPage(ctx, problems);
    await page.goto(`${server.base}/?${DAY}&sort=oldest`);
    const table = page.locator('table.events-table');
    const ths = await table.locator('thead th').evaluateAll((els) => els
      .filter((e) => e.getBoundingClientRect().width > 0)
      .map((e) => {
        const r = e.getBoundingClientRect();
        const a = e.querySelector('a');
        return { text: e.textContent.replace(/[↑↓]/g, '').trim(), left: r.left, right: r.right, clipped: a ? a.scrollWidth > e.clientWidth : false };
      }));
    assert.deepEqual(ths.map((t) => t.text), heads, `headers at ${width} px`);
    for (let i = 1; i < ths.length; i++) assert.ok(ths[i].left >= ths[i - 1].right - 0.5, `${ths[i - 1].text} and ${ths[i].text} overlap at ${width} px`);
    assert.ok(ths.every((t) => !t.clipped), `a header is cut at ${width} px: ${JSON.stringify(ths)}`);
    // Principal and event are there and readable; the table fits the page.
    const cell = await table.locator('tbody tr').first().evaluate((tr) => {
      const p = tr.querySelector('.events-table__c-principal');
      const e = tr.querySelector('.events-table__c-event a');
      return { p: p.getBoundingClientRect().width, e: e.getBoundingClientRect().width, title: p.querySelector('a').title };
    });
    assert.ok(cell.p > 60 && cell.e > 40, `columns too narrow at ${width} px: ${JSON.stringify(cell)}`);
    assert.equal(cell.title, 'alice', 'the whole value on hover');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px at ${width} px`);
    // A failure is shown where the Error column has given way.
    const shown = await table.locator('tbody tr').first().locator('.badge:visible', { hasText: 'Failed authentication' }).count();
    assert.equal(shown, 1, `the error is shown once at ${width} px`);
    await page.screenshot({ path: path.join(SHOTS, `table-${width}.png`), fullPage: false });
    await axeCheck(page, `timeline at ${width} px`);
    assert.deepEqual(problems, []);
    await ctx.close();
  }
});

for (const js of [true, false]) {
  test(`links keep the time range; pages without one pick a sensible one (JavaScript ${js ? 'on' : 'off'})`, async () => {
    const ctx = await context({ javaScriptEnabled: js });
    const problems = [];
    const page = await watchedPage(ctx, problems);
    // Nothing in the last 24 hours: the 24 hours up to the newest event, said so.
    await page.goto(`${server.base}/`);
    assert.match(await page.getByTestId('range-picked').textContent(), /Nothing happened in the last 24 hours: showing the 24 hours up to the newest event/);
    assert.ok(await count(page, 'kpi-events') > 0);
    // A principal from a 2021 view opens on that range.
    await page.goto(`${server.base}/?${DAY}&event=PutUserPolicy`);
    await page.locator('table.events-table tbody tr td.events-table__c-principal a').first().click();
    await page.waitForURL((u) => u.pathname.startsWith('/principals/'));
    assert.deepEqual([param(page, 'from')[0], param(page, 'to')[0]], ['2021-07-28T00:00', '2021-07-29T00:00']);
    await page.getByTestId('identity').waitFor();
    assert.ok(await count(page, 'kpi-events') > 0, 'events in the carried range');
    // Opened without a range: its own active period.
    await page.goto(`${server.base}/principals/arn:aws:iam::111122223333:user/bob`);
    assert.match(await page.getByTestId('range-picked').textContent(), /whole active period, first to last seen/);
    assert.equal(await count(page, 'kpi-events'), 41);
    if (js) await axeCheck(page, 'principal page');
    assert.deepEqual(problems, []);
    await ctx.close();
  });
}

test('addresses and access keys have pages; filters take ranges, parts and keys', async () => {
  const ctx = await context();
  const problems = [];
  const page = await watchedPage(ctx, problems);
  await page.goto(`${server.base}/?${DAY}&event=PutUserPolicy`);
  await page.locator('table.events-table tbody tr td.events-table__c-ip a').first().click();
  await page.waitForURL((u) => u.pathname === '/ips/198.51.100.23');
  await page.getByTestId('held-card').waitFor();
  const who = page.getByTestId('top-principal');
  await who.waitFor();
  assert.match(await who.textContent(), /Who used it/);
  assert.match(await who.textContent(), /alice/);
  assert.match(await page.getByTestId('held-card').textContent(), /IPv4, public/);
  await page.screenshot({ path: path.join(SHOTS, 'address.png'), fullPage: true });
  await axeCheck(page, 'address page');
  // The new key, from the event that used it: whose, created by which call.
  await page.goto(`${server.base}/?${DAY}&event=ListUsers`);
  await page.locator('table.events-table tbody tr td.events-table__c-time a').first().click();
  await page.waitForURL(/\/events\/\d+$/);
  await page.getByRole('link', { name: 'AKIAALICENEWKEY00002' }).click();
  await page.waitForURL((u) => u.pathname === '/access-keys/AKIAALICENEWKEY00002');
  await page.getByTestId('key-lifecycle').getByRole('link', { name: 'CreateAccessKey' }).waitFor();
  assert.match(await page.getByTestId('held-card').textContent(), /long-term key of an IAM user/);
  await axeCheck(page, 'access key page');
  // The principal filter takes a key and finds whose it is.
  await page.goto(`${server.base}/?${DAY}&principal=AKIAALICENEWKEY00002`);
  assert.equal(await count(page, 'kpi-events'), 7);
  // "Add filters": part of a user agent, a range of addresses.
  await page.goto(`${server.base}/?${DAY}`);
  await page.getByText('Add filters').click();
  await page.getByLabel('User agent', { exact: true }).fill('Boto3');
  await page.getByLabel('Source IP', { exact: true }).fill('198.51.100.0/24');
  await page.getByRole('button', { name: 'Apply' }).last().click();
  await page.waitForURL((u) => u.searchParams.get('user_agent') === 'Boto3');
  const chips = page.getByTestId('filter-chips');
  await chips.getByText('User agent contains Boto3').waitFor();
  await chips.getByText('Source IP is 198.51.100.0/24').waitFor();
  assert.equal(await count(page, 'kpi-events'), 1);
  // The timeline lists agents and keys too.
  await page.goto(`${server.base}/?${DAY}`);
  assert.match(await page.getByTestId('top-user_agent').textContent(), /command\/iam\.list-users/);
  assert.match(await page.getByTestId('top-access_key').textContent(), /AKIABOBKEY0000000003/);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('top lists say how many values there are and show them all', async () => {
  const ctx = await context();
  const problems = [];
  const page = await watchedPage(ctx, problems);
  await page.goto(`${server.base}/?${DAYS}`);
  const panel = page.getByTestId('top-event');
  assert.equal(await panel.getByTestId('top-count').textContent(), '8 of 13 values');
  await panel.getByTestId('show-all').click();
  await page.waitForURL((u) => u.pathname === '/top/event');
  await page.getByTestId('top-all').waitFor();
  assert.equal(await page.locator('[data-testid=top-all] tbody tr').count(), 13);
  await page.getByRole('link', { name: 'by name' }).click();
  await page.waitForURL((u) => u.searchParams.get('by') === 'value');
  await page.locator('[data-testid=top-all] tbody tr').first().getByText('ConsoleLogin').waitFor();
  const names = await page.locator('[data-testid=top-all] tbody th').allTextContents();
  assert.deepEqual(names, [...names].sort());
  await page.screenshot({ path: path.join(SHOTS, 'top-all.png'), fullPage: true });
  await axeCheck(page, 'all values page');
  const csv = await download(page, page.getByTestId('export-top'));
  const lines = csv.text.split('\r\n').filter((l) => l);
  assert.equal(lines.length, 14);
  assert.equal(lines[0], 'value,label,events,errors');
  assert.ok(lines[1].startsWith('ConsoleLogin,ConsoleLogin,3,2'), lines[1]);
  // A value leads back to the timeline with it as a filter.
  await page.locator('[data-testid=top-all] tbody th a').first().click();
  await page.waitForURL((u) => u.pathname === '/' && u.searchParams.get('event') === 'ConsoleLogin');
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('sort by any column, choose rows a page, jump to a time', async () => {
  const ctx = await context();
  const problems = [];
  const page = await watchedPage(ctx, problems);
  await page.goto(`${server.base}/?${DAY}`);
  await page.locator('th.events-table__c-ip a').click();
  await page.waitForURL((u) => u.searchParams.get('sort') === 'ip');
  await page.locator('th[aria-sort=ascending]').waitFor();
  const ips = await page.locator('table.events-table tbody td.events-table__c-ip').allTextContents();
  assert.deepEqual(ips, [...ips].sort());
  await page.locator('th.events-table__c-ip a').click();
  await page.waitForURL((u) => u.searchParams.get('sort') === '-ip');
  await page.locator('th[aria-sort=descending]').waitFor();
  assert.equal((await page.locator('table.events-table tbody td.events-table__c-ip').first().textContent()).trim(), 'cloudtrail.amazonaws.com');
  // Rows a page.
  await page.goto(`${server.base}/?${DAYS}`);
  await page.getByRole('link', { name: '1,000', exact: true }).click();
  await page.waitForURL((u) => u.searchParams.get('rows') === '1000');
  // With JavaScript the new page replaces the old once its data is in.
  await page.waitForFunction(() => document.querySelectorAll('table.events-table tbody tr').length === 1000);
  // Jump to a time: the list starts there.
  await page.goto(`${server.base}/?${DAYS}`);
  await page.getByLabel('Go to (UTC)').fill('2021-07-28 10:03');
  await page.getByRole('button', { name: 'Go' }).click();
  await page.waitForURL((u) => u.searchParams.has('cursor') && !u.searchParams.has('at'));
  await page.waitForFunction(() => document.querySelector('table.events-table tbody tr time')?.getAttribute('datetime') === '2021-07-28T10:03:00Z');
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('changes say what they compare with, and another period can be chosen', async () => {
  const ctx = await context();
  const problems = [];
  const page = await watchedPage(ctx, problems);
  await page.goto(`${server.base}/?from=2021-07-27&to=2021-07-28`);
  assert.match(await page.getByTestId('compare').textContent(), /Change against 2021-07-25 00:00:00 – 2021-07-27 00:00:00 UTC \(the period before\)/);
  await page.getByRole('link', { name: 'same time last week' }).click();
  await page.waitForURL((u) => u.searchParams.get('compare') === 'week');
  await page.getByTestId('compare').getByText(/the same time a week earlier/).waitFor();
  // All time: nothing before it, so no "new" everywhere.
  await page.goto(`${server.base}/?range=all`);
  assert.match(await page.getByTestId('compare').textContent(), /Not compared/);
  assert.equal(await page.getByText('▲ new').count(), 0);
  assert.deepEqual(problems, []);
  await ctx.close();
});

for (const js of [true, false]) {
  test(`an unreadable or reversed range says so and keeps what was typed (JavaScript ${js ? 'on' : 'off'})`, async () => {
    const ctx = await context({ javaScriptEnabled: js });
    const page = await ctx.newPage();
    await page.goto(`${server.base}/?${DAY}`);
    await page.getByLabel('From (UTC)').first().fill('2021-13-01');
    await page.getByRole('button', { name: 'Apply' }).first().click();
    await page.waitForURL((u) => u.searchParams.get('from') === '2021-13-01');
    assert.match(await page.getByTestId('range-problem').textContent(), /could not be read. “From” \(2021-13-01\) is not a date/);
    assert.equal(await page.getByLabel('From (UTC)').first().inputValue(), '2021-13-01');
    await page.goto(`${server.base}/?from=2021-07-29&to=2021-07-28`);
    assert.match(await page.getByTestId('range-problem').textContent(), /reversed/);
    assert.equal(await page.getByLabel('To (UTC)').first().inputValue(), '2021-07-28');
    await ctx.close();
  });
}

test('related events say when they are cut short, show the event in place and lead to all', async () => {
  const ctx = await context();
  const problems = [];
  const page = await watchedPage(ctx, problems);
  await page.goto(`${server.base}/?${DAY}&event=ListRoles`);
  await page.locator('table.events-table tbody tr td.events-table__c-time a').first().click();
  await page.waitForURL(/\/events\/\d+$/);
  const related = page.getByTestId('related');
  assert.match(await page.getByTestId('related-said').textContent(), /the 30 nearest.*There are more/);
  assert.equal(await related.locator('tbody tr[aria-current=true]').count(), 1);
  assert.match(await related.locator('tbody tr[aria-current=true]').textContent(), /ListRoles/);
  await page.getByTestId('related-all').click();
  await page.waitForURL((u) => u.pathname === '/' && u.searchParams.get('principal') === 'arn:aws:iam::111122223333:user/bob');
  assert.equal(await count(page, 'kpi-events'), 41);
  assert.deepEqual(problems, []);
  await ctx.close();
});

for (const js of [true, false]) {
  test(`pins confirm and undo; an investigation keeps its own links (JavaScript ${js ? 'on' : 'off'})`, async () => {
    const ctx = await context({ javaScriptEnabled: js });
    const page = await ctx.newPage();
    await page.goto(`${server.base}/?${DAY}&principal=arn:aws:iam::111122223333:user/alice`);
    await page.getByTestId('save-view').locator('summary').click();
    await page.getByLabel('Title').fill(`Alice's key ${js ? 'on' : 'off'}`);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.waitForURL(/\/investigations\/\d+$/);
    const inv = new URL(page.url()).pathname;
    // Sorting inside it stays inside it.
    await page.locator('table.events-table th.events-table__c-event a').click();
    await page.waitForURL((u) => u.pathname === inv && u.searchParams.get('sort') === 'event');
    await page.getByTestId('view-varied').waitFor();
    await page.getByRole('button', { name: 'Save this as the investigation’s view' }).click();
    await page.waitForURL((u) => u.pathname === inv && u.searchParams.get('saved') === '1');
    assert.equal(await page.getByTestId('view-varied').count(), 0, 'the saved view is the sorted one now');
    assert.match(await page.getByTestId('history').textContent(), /changed the view/);
    // Pin an event: confirmed, shown, undone.
    await page.locator('table.events-table tbody tr td.events-table__c-time a').first().click();
    await page.waitForURL(/\/events\/\d+$/);
    await page.getByTestId('pin-form').getByRole('button', { name: 'Pin' }).click();
    await page.waitForURL((u) => u.searchParams.has('pinned'));
    assert.match(await page.getByTestId('pin-notice').textContent(), /✓ Pinned to “Alice's key/);
    assert.match(await page.getByTestId('pinned-in').textContent(), /pinned to/);
    await page.getByTestId('pinned-in').getByRole('button', { name: 'Unpin' }).first().click();
    await page.waitForURL((u) => u.searchParams.has('unpinned'));
    assert.match(await page.getByTestId('pin-notice').textContent(), /Unpinned from/);
    await ctx.close();
  });
}

for (const js of [true, false]) {
  test(`forms give canonical URLs and chips show names (JavaScript ${js ? 'on' : 'off'})`, async () => {
    const ctx = await context({ javaScriptEnabled: js });
    const page = await ctx.newPage();
    await page.goto(`${server.base}/?${DAY}`);
    await page.getByText('Add filters').click();
    await page.getByLabel('Event name', { exact: true }).fill('GetBucketAcl');
    await page.getByRole('button', { name: 'Apply' }).last().click();
    await page.waitForURL((u) => u.searchParams.get('event') === 'GetBucketAcl');
    assert.equal(new URL(page.url()).search, '?from=2021-07-28T00:00&to=2021-07-29T00:00&event=GetBucketAcl');
    // A service principal's chip reads as its name.
    await page.locator('table.events-table tbody tr td.events-table__c-principal a').first().click();
    await page.waitForURL((u) => u.pathname.startsWith('/principals/'));
    await page.goto(`${server.base}/?${DAY}&principal=service:cloudtrail.amazonaws.com`);
    const chip = await page.getByTestId('filter-chips').locator('.chip__text').first().textContent();
    assert.equal(chip, 'Principal is cloudtrail.amazonaws.com');
    await ctx.close();
  });
}
