// Alerts in the browser: an admin adds a webhook destination (its URL and token never
// shown again), sends a test, sees it in the delivery log, and a finding made by a new
// import reaches the receiver and says so on its page; mistakes are refused with the
// reason; destinations are disabled and removed without JavaScript; a viewer cannot
// reach any of it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { SHOTS, startServer, tempDb, launch, watchedPage, addUser, signedInContext, axeCheck, importInto, writeRecords, incidentRecords, until } from './helpers.mjs';

const SLOW = { tries: 150, every: 200 };

let server, browser, receiver, rxBase;
const got = [];

before(async () => {
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      let json = null;
      try { json = JSON.parse(body); } catch { /* kept as null */ }
      got.push({ path: req.url, auth: req.headers.authorization, body: json });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  rxBase = `http://127.0.0.1:${receiver.address().port}`;
  const db = tempDb();
  addUser(db, 'ada', 'admin');
  addUser(db, 'vic', 'viewer');
  server = await startServer(db);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.stop();
  receiver?.close();
});

test('an admin adds a webhook, tests it, and a new finding reaches it', async () => {
  const problems = [];
  const ctx = await signedInContext(browser, server.base, 'ada', { viewport: { width: 1280, height: 900 } });
  const page = await watchedPage(ctx, problems);
  await page.goto(`${server.base}/admin/users`);
  await page.getByRole('navigation', { name: 'Administration' }).getByRole('link', { name: 'Alerts' }).click();
  await page.waitForURL((u) => u.pathname === '/admin/alerts');
  await page.getByTestId('no-destinations').waitFor();
  await axeCheck(page, 'alerts');

  const form = page.getByTestId('destination-form');
  await form.getByLabel('Name').fill('team-hook');
  await form.getByLabel('Kind').selectOption('webhook');
  await form.getByLabel('Webhook URL').fill(`${rxBase}/hook/secret-path-777?sig=abc`);
  await form.getByLabel('Bearer token').fill('tok-e2e-1');
  await form.getByLabel('Least severity').selectOption('informational');
  await form.getByRole('button', { name: 'Add destination' }).click();
  await page.waitForURL((u) => /^\/admin\/alerts\/\d+$/.test(u.pathname) && u.searchParams.get('done') === 'added');
  const facts = await page.getByTestId('destination-facts').textContent();
  assert.ok(facts.includes(rxBase), facts);
  const html = await page.content();
  for (const secret of ['secret-path-777', 'sig=abc', 'tok-e2e-1']) assert.ok(!html.includes(secret), `${secret} shown`);
  await axeCheck(page, 'destination');

  // A test now: delivered, logged, with the token.
  await page.getByRole('button', { name: 'Send a test alert' }).click();
  await page.waitForURL((u) => u.searchParams.get('done') === 'tested');
  const log = page.getByTestId('deliveries-table').locator('tbody tr');
  await until(() => log.first().textContent(), (t) => t?.includes('test') && t.includes('delivered'), 'the test in the log', SLOW);
  const test = got.find((g) => g.body?.type === 'cairn.test');
  assert.ok(test, JSON.stringify(got));
  assert.equal(test.path, '/hook/secret-path-777?sig=abc');
  assert.equal(test.auth, 'Bearer tok-e2e-1');
  await page.screenshot({ path: path.join(SHOTS, 'alert-destination.png'), fullPage: true });

  // A new import makes findings; the server sends them within its poll.
  importInto(server.db, [writeRecords(incidentRecords(50))]);
  const finding = await until(() => got.find((g) => g.body?.type === 'cairn.finding'), Boolean, 'a finding alert', SLOW);
  const f = finding.body.finding;
  assert.ok(f.title && f.severity && f.events > 0, JSON.stringify(f));
  await page.goto(`${server.base}${f.url}`);
  const alerts = page.getByTestId('finding-alerts');
  await until(() => alerts.textContent(), (t) => t?.includes('team-hook') && t.includes('sent'), 'the finding says it was sent', SLOW);
  await page.goto(`${server.base}/admin/alerts`);
  const row = page.getByTestId('destinations-table').locator('tbody tr').first();
  assert.ok((await row.textContent()).includes('team-hook'));
  for (const width of [390, 1920]) {
    await page.setViewportSize({ width, height: 900 });
    const over = await page.evaluate(() => [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1 && !e.closest('.table-wrap')).length);
    assert.equal(over, 0, `nothing wider than ${width} px`);
    await page.screenshot({ path: path.join(SHOTS, `alerts-${width}.png`), fullPage: true });
  }
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('without JavaScript: mistakes are refused, a destination is disabled and removed', async () => {
  const problems = [];
  const ctx = await signedInContext(browser, server.base, 'ada', { javaScriptEnabled: false });
  const page = await watchedPage(ctx, problems);
  await page.goto(`${server.base}/admin/alerts`);
  const form = page.getByTestId('destination-form');
  await form.getByLabel('Name').fill('bad-topic');
  await form.getByLabel('Kind').selectOption('sns');
  await form.getByLabel('Topic or bus ARN').fill('arn:aws:sqs:us-east-1:123456789012:not-a-topic');
  await form.getByRole('button', { name: 'Add destination' }).click();
  await page.waitForURL((u) => u.pathname === '/admin/alerts' && u.searchParams.has('error'));
  assert.match(await page.locator('.error-panel').textContent(), /topic's ARN/);

  await page.getByTestId('destination-form').getByLabel('Name').fill('sec-bus');
  await page.getByTestId('destination-form').getByLabel('Kind').selectOption('eventbridge');
  await page.getByTestId('destination-form').getByLabel('Topic or bus ARN').fill('arn:aws:events:eu-west-1:123456789012:event-bus/security');
  await page.getByTestId('destination-form').getByLabel('Least severity').selectOption('critical');
  await page.getByTestId('destination-form').getByRole('button', { name: 'Add destination' }).click();
  await page.waitForURL((u) => u.searchParams.get('done') === 'added');
  assert.match(await page.getByTestId('destination-facts').textContent(), /critical/);
  await page.getByRole('button', { name: 'Disable' }).click();
  await page.waitForURL((u) => u.searchParams.get('done') === 'disabled');
  assert.match(await page.getByTestId('destination-facts').textContent(), /disabled/);
  await page.getByRole('button', { name: 'Remove destination' }).click();
  await page.waitForURL((u) => u.pathname === '/admin/alerts' && u.searchParams.get('done') === 'removed');
  assert.equal(await page.getByRole('link', { name: 'sec-bus' }).count(), 0);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('a viewer cannot reach the alerts', async () => {
  const viewer = await signedInContext(browser, server.base, 'vic');
  const page = await viewer.newPage();
  const r = await page.goto(`${server.base}/admin/alerts`);
  assert.equal(r.status(), 403);
  const posted = await page.request.post(`${server.base}/admin/alert-actions/add`, {
    form: { name: 'x', kind: 'webhook', url: 'http://127.0.0.1:1/' }, headers: { Origin: server.base },
  });
  assert.equal(posted.status(), 403);
  await viewer.close();
});
