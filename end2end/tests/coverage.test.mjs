// Journeys: coverage, so that an empty stretch of the timeline is not read as "nothing
// happened". The written incident of server/tests/fixtures/coverage-incident.json: the
// trail `main` stopped for four hours, and S3 data events on `falsimentis-eng` turned on
// only on the evening of the second day. An analyst looking at the bucket, at the
// timeline and at the coverage chart is told both, with JavaScript on and off.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SHOTS, startServer, tempDb, launch, watchedPage, signedInContext, addUser, axeCheck, importInto } from './helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.resolve(here, '../../server/tests/fixtures/coverage-incident.json');
const BUCKET_GAP = 'S3 data events for falsimentis-eng were not recorded before 2021-07-29 23:53:00 UTC: reads and writes before then are invisible.';
const STOP_GAP = 'Management events in 444455556666 us-east-1 were not recorded from 2021-07-28 14:00:00 UTC to 2021-07-28 18:00:00 UTC: calls in that time are invisible.';
const RANGE = 'from=2021-07-28T09:00&to=2021-07-30T06:00';

let server, browser;

before(async () => {
  const db = tempDb();
  const s = importInto(db, [FIXTURE]);
  assert.equal(s.events_new, 89);
  addUser(db, 'ana', 'viewer');
  server = await startServer(db);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.stop();
});

test('the timeline, the bucket and the coverage chart say what was not recorded (JavaScript on, 1920 px)', async () => {
  const context = await signedInContext(browser, server.base, 'ana', { viewport: { width: 1920, height: 1080 } });
  const problems = [];
  const page = await watchedPage(context, problems);

  // The timeline over the incident: both stretches, each with the events that made them.
  await page.goto(`${server.base}/?${RANGE}`);
  const notice = page.getByTestId('coverage-gaps');
  await notice.waitFor();
  const items = await notice.getByTestId('coverage-gap').allInnerTexts();
  assert.equal(items.length, 2, items.join('\n'));
  assert.ok(items[0].startsWith(BUCKET_GAP), items[0]);
  assert.ok(items[1].startsWith(STOP_GAP), items[1]);
  assert.match(items[1], /began with StopLogging by mallory; ended with StartLogging by ops/);
  await axeCheck(page, 'timeline with a coverage warning');
  await page.screenshot({ path: path.join(SHOTS, 'coverage-timeline-1920.png'), fullPage: true });

  // The event that began the stop is one click away.
  await notice.getByRole('link', { name: 'the event that began it' }).click();
  await page.waitForURL(/\/events\//);
  await page.getByText('StopLogging').first().waitFor();

  // The last day is long after both: no warning; back: it returns.
  await page.goBack();
  await page.getByTestId('coverage-gaps').waitFor();
  await page.getByRole('link', { name: '24h', exact: true }).click();
  await page.waitForURL(/range=24h/);
  await page.getByTestId('coverage-gaps').waitFor({ state: 'detached' });
  await page.goBack();
  await page.getByTestId('coverage-gaps').getByTestId('coverage-gap').nth(1).waitFor();

  // The bucket's page: its data events only.
  await page.goto(`${server.base}/resources/arn:aws:s3:::falsimentis-eng?${RANGE}`);
  const bucket = page.getByTestId('coverage-gaps');
  await bucket.waitFor();
  const bucketItems = await bucket.getByTestId('coverage-gap').allInnerTexts();
  assert.equal(bucketItems.length, 1, bucketItems.join('\n'));
  assert.ok(bucketItems[0].startsWith(BUCKET_GAP));
  await axeCheck(page, 'resource with a coverage warning');

  // The chart, reached from the warning.
  await bucket.getByRole('link', { name: 'See the coverage of every account' }).click();
  await page.waitForURL(/\/coverage\?/);
  const account = page.getByTestId('coverage-account');
  await account.waitFor();
  assert.equal(await account.getByTestId('coverage-row').count(), 2);
  const strip = await account.locator('svg.cov-strip').first().getAttribute('aria-label');
  assert.match(strip, /^Management events in us-east-1: unknown from 2021-07-28 09:00 to 2021-07-28 14:00; not recorded from 2021-07-28 14:00 to 2021-07-28 18:00;/);
  assert.equal(await account.locator('rect.cov--no').count(), 2);
  await axeCheck(page, 'coverage');
  await page.screenshot({ path: path.join(SHOTS, 'coverage-1920.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await context.close();
});

test('without JavaScript at 390 px the warning and the chart are in the page as served', async () => {
  const context = await signedInContext(browser, server.base, 'ana', { javaScriptEnabled: false, viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  await page.goto(`${server.base}/principals/arn:aws:iam::444455556666:user/ops?${RANGE}`);
  const items = await page.getByTestId('coverage-gap').allInnerTexts();
  assert.equal(items.length, 2, items.join('\n'));
  await page.screenshot({ path: path.join(SHOTS, 'coverage-principal-390.png'), fullPage: true });
  await page.goto(`${server.base}/coverage`);
  await page.getByTestId('coverage-account').waitFor();
  // The range form is a GET form: a narrower range keeps only the stop.
  await page.getByLabel('From (UTC)').fill('2021-07-28 12:00');
  await page.getByLabel('To (UTC)').fill('2021-07-28 20:00');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForURL(/from=2021-07-28/);
  const gaps = await page.getByTestId('coverage-gap').allInnerTexts();
  assert.equal(gaps.length, 2, gaps.join('\n'));
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `the page is ${width} px wide at 390`);
  await page.screenshot({ path: path.join(SHOTS, 'coverage-390.png'), fullPage: true });
  await context.close();
});
