// Detections in the browser: the findings list and its filters in the address, a finding
// worked through (status, assignee, note, history, saved as an investigation), the
// pre-filtered timeline, findings where people already look (top bar, principal page,
// event page), the CIS controls, rules written, back-tested, enabled, disabled and
// suppressed; with JavaScript and without, as an analyst and as a viewer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { SHOTS, demoInto, startServer, tempDb, launch, watchedPage, addUser, signedInContext, axeCheck, until } from './helpers.mjs';

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

const rows = (page) => page.getByTestId('findings').locator('tbody tr');

for (const js of [true, false]) {
  test(`an analyst works a finding through (JavaScript ${js ? 'on' : 'off'})`, async () => {
    const problems = [];
    const ctx = await signedInContext(browser, server.base, 'ivan', { javaScriptEnabled: js });
    const page = await watchedPage(ctx, problems);
    await page.goto(`${server.base}/`);
    // The top bar counts the open findings.
    const badge = page.getByTestId('nav-findings').locator('.topbar__count');
    const open = Number(await badge.textContent());
    assert.ok(open > 0, 'the demo data makes open findings');
    await page.getByTestId('nav-findings').click();
    await page.waitForURL((u) => u.pathname === '/findings');
    await rows(page).first().waitFor();
    if (js) await axeCheck(page, 'findings');

    // Filters go into the address: only critical ones.
    await page.getByTestId('findings-form').getByLabel('Severity').selectOption('critical');
    await page.getByTestId('findings-form').getByRole('button', { name: 'Show' }).click();
    await page.waitForURL((u) => u.searchParams.get('severity') === 'critical');
    await until(() => rows(page).locator('.sev').allTextContents(),
      (sevs) => sevs.length > 0 && sevs.every((s) => s === 'Critical'), 'only critical findings');
    const title = (await rows(page).first().locator('td').nth(1).locator('a').textContent()).trim();
    assert.match(title, /logging stopped/i);

    // The finding's page: what happened, its events, the rule's reasons.
    await rows(page).first().locator('td').nth(1).locator('a').click();
    await page.waitForURL((u) => /^\/findings\/\d+$/.test(u.pathname));
    const findingUrl = page.url();
    await page.getByTestId('finding-title').waitFor();
    assert.equal((await page.getByTestId('finding-title').textContent()).trim(), title);
    const names = await page.locator('table.events-table tbody tr td.events-table__c-event a').allTextContents();
    assert.ok(names.includes('StopLogging') || names.includes('DeleteTrail'), `events: ${names}`);
    if (js) await axeCheck(page, 'finding');
    if (js) await page.screenshot({ path: path.join(SHOTS, 'finding.png'), fullPage: true });

    // Work on it: acknowledged, assigned, a note; each change is in its history.
    const form = page.getByTestId('finding-form');
    await form.getByLabel('Status').selectOption('acknowledged');
    await form.getByLabel('Assignee').fill(js ? 'ivan' : 'ivan-nojs');
    await form.getByLabel('Note').fill('<b>checked</b> with the team');
    await form.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL((u) => u.searchParams.has('saved'));
    const history = page.getByTestId('finding-history');
    await history.getByText(/status: (Open|Acknowledged) → Acknowledged/).waitFor();
    await history.getByText(/assigned to ivan/).first().waitFor();
    // The note is text, not markup.
    await history.getByText('<b>checked</b> with the team').first().waitFor();
    assert.equal(await history.locator('b').count(), 0);

    // The pre-filtered timeline shows the finding's events.
    await page.getByTestId('finding-timeline').click();
    await page.waitForURL((u) => u.pathname === '/' && u.searchParams.has('event'));
    await until(() => page.locator('table.events-table tbody tr td.events-table__c-event a').allTextContents(),
      (shown) => shown.length > 0 && shown.every((n) => names.includes(n.trim())), 'the timeline shows the finding’s events');

    // The event's page says which rules it matched, and links back to the finding.
    await page.goto(findingUrl);
    await page.locator('table.events-table tbody tr td.events-table__c-event a').first().click();
    await page.waitForURL((u) => u.pathname.startsWith('/events/'));
    const flag = page.getByTestId('event-findings');
    await flag.waitFor();
    await flag.getByRole('link', { name: new URL(findingUrl).pathname.replace('/findings/', 'finding #') }).waitFor();
    if (js) await axeCheck(page, 'event with findings');

    // Saved as an investigation, with the finding's view.
    await page.goto(findingUrl);
    await page.getByTestId('finding-investigate').getByRole('button', { name: 'Save as investigation' }).click();
    await page.waitForURL((u) => /^\/investigations\/\d+$/.test(u.pathname));
    assert.match(await page.getByTestId('investigation-title').textContent(), /^Finding #\d+: /);
    assert.deepEqual(problems, []);
    await ctx.close();
  });
}

test('findings show on principal pages; the CIS controls list all fifteen', async () => {
  const problems = [];
  const ctx = await signedInContext(browser, server.base, 'wanda');
  const page = await watchedPage(ctx, problems);
  await page.goto(`${server.base}/findings?status=any`);
  const who = rows(page).first().locator('td').nth(2).locator('a');
  await who.click();
  await page.waitForURL((u) => u.pathname.startsWith('/principals/'));
  await page.getByTestId('findings-panel').waitFor();
  assert.ok((await page.getByTestId('findings-panel').locator('tbody tr').count()) > 0);
  await axeCheck(page, 'principal with findings');

  await page.goto(`${server.base}/compliance`);
  const controls = page.getByTestId('controls').locator('tbody tr');
  assert.equal(await controls.count(), 15);
  const first = (await controls.first().locator('th').textContent()).trim();
  assert.match(first, /^CIS 4\.1\b/);
  await axeCheck(page, 'compliance');

  // A viewer reads findings but has no form to change them, and a post is refused.
  await page.goto(`${server.base}/findings?status=any`);
  await rows(page).first().locator('td').nth(1).locator('a').click();
  await page.getByTestId('finding-title').waitFor();
  assert.equal(await page.getByTestId('finding-form').count(), 0);
  const id = new URL(page.url()).pathname.split('/').pop();
  const r = await page.request.post(`${server.base}/findings/${id}/update`, {
    form: { status: 'resolved' }, headers: { origin: server.base }, maxRedirects: 0,
  });
  assert.equal(r.status(), 403);
  assert.deepEqual(problems, []);
  await ctx.close();
});

for (const js of [true, false]) {
  test(`an analyst writes a rule, back-tests it, enables it and suppresses (JavaScript ${js ? 'on' : 'off'})`, async () => {
    const problems = [];
    const ctx = await signedInContext(browser, server.base, 'ivan', { javaScriptEnabled: js });
    const page = await watchedPage(ctx, problems);
    const id = js ? 'demo-stop-logging' : 'demo-stop-logging-nojs';
    await page.goto(`${server.base}/rules`);
    assert.ok((await page.getByTestId('rules').locator('tbody tr').count()) >= 29);
    if (js) await axeCheck(page, 'rules');
    await page.getByTestId('new-rule').click();
    await page.waitForURL((u) => u.pathname === '/rules/new');
    const form = page.getByTestId('rule-form');

    // A mistake goes back to the form with what was typed.
    await form.getByLabel(/^Id/).fill(id);
    await form.getByLabel('Title').fill('Logging stopped (ours)');
    await form.getByLabel('Body').fill('{ $.eventName = "StopLogging" ');
    await form.getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('rule-problem').waitFor();
    assert.equal(await page.getByTestId('rule-form').getByLabel('Body').inputValue(), '{ $.eventName = "StopLogging" ');

    // Back-test over stored history: the draft is in the address.
    await page.getByTestId('rule-form').getByLabel('Body').fill('{ ($.eventName = "StopLogging") || ($.eventName = "DeleteTrail") }');
    await page.getByTestId('back-test-button').click();
    await page.waitForURL((u) => u.searchParams.get('test') === '1' && u.searchParams.has('body'));
    const sentence = await page.getByTestId('back-test-sentence').textContent();
    assert.match(sentence, /It would have matched [1-9]\d* events?, 1 principal, last .* ago, making 1 finding\./);
    assert.ok((await page.getByTestId('back-test').locator('table.events-table tbody tr').count()) >= 1);
    if (js) await page.screenshot({ path: path.join(SHOTS, 'rule-back-test.png'), fullPage: true });

    // Saved enabled; its versions say so.
    await page.getByTestId('rule-form').getByLabel('Enabled').check();
    await page.getByTestId('rule-form').getByRole('button', { name: 'Save' }).click();
    await page.waitForURL((u) => u.pathname === `/rules/${id}` && u.searchParams.has('saved'));
    assert.equal((await page.getByTestId('rule-state').textContent()).trim(), 'Enabled');
    await page.getByTestId('rule-versions').getByText(/Version 1 .* ivan created \(enabled\)/).waitFor();
    if (js) await axeCheck(page, 'rule');

    // Disabled, then a suppression added and removed.
    await page.getByTestId('rule-toggle').getByRole('button', { name: 'Disable' }).click();
    await page.waitForURL((u) => u.searchParams.has('saved'));
    await page.getByTestId('rule-state').getByText('Disabled').waitFor();
    await page.getByTestId('rule-versions').getByText(/Version 2 .* ivan disabled/).waitFor();
    const sup = page.getByTestId('suppress-form');
    await sup.getByLabel(/Not for this/).selectOption('source_ip');
    await sup.getByLabel('Value').fill('198.51.100.7');
    await sup.getByLabel('Reason').fill('the red team’s address');
    await sup.getByRole('button', { name: 'Suppress' }).click();
    await page.waitForURL((u) => u.searchParams.has('saved'));
    const list = page.getByTestId('suppressions');
    await list.getByText('198.51.100.7').waitFor();
    await list.getByRole('button', { name: 'Remove' }).click();
    await page.waitForURL((u) => u.searchParams.has('saved'));
    await list.getByText('None.').waitFor();
    assert.deepEqual(problems, []);
    await ctx.close();
  });
}
