// Insights episodes in the browser: a RunInstances call-rate spike found by Cairn and an
// Insights event delivered by AWS, each a finding with its figures, drawn as a band on
// the timeline's chart and opening the timeline of its calls; hostile values in the
// attributions stay text; with JavaScript and without, from a phone's width to a wide
// screen.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { SHOTS, startServer, tempDb, launch, watchedPage, addUser, signedInContext, axeCheck, importInto, writeRecords } from './helpers.mjs';

const ACCT = '111122223333';
const DAY = 86_400_000;
// Monday 2024-01-01 00:00 UTC.
const T0 = Date.UTC(2024, 0, 1);
const HOSTILE = '<img src=x onerror="window.__pwned=1">';

let server, browser;
let n = 0;

function call(ms, user, name, agent = 'aws-cli/2.15.30') {
  n += 1;
  return {
    eventVersion: '1.09', eventTime: new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z'),
    eventSource: 'ec2.amazonaws.com', eventName: name, awsRegion: 'us-east-1',
    eventID: `20000000-0000-4000-8000-${String(n).padStart(12, '0')}`, eventType: 'AwsApiCall',
    recipientAccountId: ACCT, sourceIPAddress: '198.51.100.9', userAgent: agent,
    userIdentity: { type: 'IAMUser', arn: `arn:aws:iam::${ACCT}:user/${user}`, accountId: ACCT, userName: user },
    readOnly: false, managementEvent: true, eventCategory: 'Management',
  };
}

function awsInsight(id, time, state, duration) {
  const statistics = { baseline: { average: 0.5 }, insight: { average: 120 } };
  if (duration) statistics.insightDuration = duration;
  return {
    eventVersion: '1.07', eventTime: time, awsRegion: 'us-east-1', eventID: id,
    eventType: 'AwsCloudTrailInsight', recipientAccountId: ACCT, sharedEventID: 'a1b2c3d4-shared',
    insightDetails: {
      state, eventSource: 'iam.amazonaws.com', eventName: 'CreateAccessKey', insightType: 'ApiCallRateInsight',
      insightContext: { statistics, attributions: [{ attribute: 'userAgent', insight: [{ value: HOSTILE, average: 120 }], baseline: [] }] },
    },
    eventCategory: 'Insight',
  };
}

before(async () => {
  const db = tempDb();
  const records = [];
  // Five days of routine: RunInstances every two hours.
  for (let day = 0; day < 5; day++) {
    for (let h = 0; h < 24; h += 2) records.push(call(T0 + day * DAY + h * 3_600_000 + 17 * 60_000, 'ops', 'RunInstances'));
  }
  // Day 5, 10:00: 40 a minute for 10 minutes, by someone else, with a hostile user agent.
  const spike = T0 + 5 * DAY + 10 * 3_600_000;
  for (let m = 0; m < 10; m++) {
    for (let i = 0; i < 40; i++) records.push(call(spike + m * 60_000 + i * 1_000, 'intruder', 'RunInstances', HOSTILE));
  }
  records.push(awsInsight('30000000-0000-4000-8000-000000000001', '2024-01-06T12:00:00Z', 'Start'));
  records.push(awsInsight('30000000-0000-4000-8000-000000000002', '2024-01-06T12:05:00Z', 'End', 5));
  importInto(db, [writeRecords(records)]);
  addUser(db, 'ivan', 'analyst');
  server = await startServer(db);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.stop();
});

for (const js of [true, false]) {
  test(`an episode is a finding, a band and a way into its calls (JavaScript ${js ? 'on' : 'off'})`, async () => {
    const problems = [];
    const ctx = await signedInContext(browser, server.base, 'ivan', { javaScriptEnabled: js, viewport: { width: 1400, height: 1000 } });
    const page = await watchedPage(ctx, problems);

    // Cairn's episode: the figures, the top values, who found it.
    await page.goto(`${server.base}/findings?rule=cairn-insight-call-rate`);
    const row = page.getByTestId('findings').locator('tbody tr', { hasText: 'Call rate out of its usual range' });
    assert.match(await row.textContent(), /RunInstances \(ec2\.amazonaws\.com\) in 111122223333 us-east-1: 400 write calls in 10 minutes, 40\.0 a minute/);
    await row.locator('td').nth(1).locator('a').first().click();
    await page.waitForURL((u) => /^\/findings\/\d+$/.test(u.pathname));
    const episode = page.getByTestId('episode');
    assert.equal((await episode.getByTestId('episode-by').textContent()).trim(), 'Cairn');
    assert.match(await episode.getByTestId('episode-insight').textContent(), /40\.0 a minute over 10 minutes, at most 40 in a minute \(400 calls\)/);
    assert.match(await episode.getByTestId('episode-baseline').textContent(), /a minute over 5 days, at most 1 in a minute/);
    const principals = episode.locator('table', { hasText: 'Principals' });
    assert.match(await principals.textContent(), /user\/intruder/);
    assert.match(await principals.textContent(), /user\/ops/);
    // The hostile user agent is text.
    assert.ok((await episode.locator('table', { hasText: 'User agents' }).textContent()).includes(HOSTILE));
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    if (js) {
      await axeCheck(page, 'episode finding');
      await page.screenshot({ path: path.join(SHOTS, 'insight-finding.png'), fullPage: true });
    }

    // Into the timeline of its calls, over its window, where it is drawn as a band.
    await episode.getByTestId('episode-timeline').click();
    await page.waitForURL((u) => u.pathname === '/' && u.searchParams.get('event') === 'RunInstances');
    const url = new URL(page.url());
    assert.equal(url.searchParams.get('access'), 'write');
    assert.equal(url.searchParams.get('account'), ACCT);
    assert.equal(url.searchParams.get('region'), 'us-east-1');
    assert.equal(url.searchParams.get('from'), '2024-01-06T10:00');
    assert.equal(url.searchParams.get('to'), '2024-01-06T10:10');
    await page.locator('table.events-table tbody tr').first().waitFor();
    assert.equal(await page.locator('svg .chart__episode').count(), 1);
    const listed = page.getByTestId('chart-episodes');
    assert.match(await listed.locator('summary').textContent(), /1 Insights episode/);

    // A day's timeline shows Cairn's band and AWS's.
    await page.goto(`${server.base}/?from=2024-01-06&to=2024-01-06`);
    await page.getByTestId('chart-episodes').waitFor();
    assert.equal(await page.locator('svg .chart__episode').count(), 2);
    assert.equal(await page.locator('svg .chart__episode--aws').count(), 1);
    if (js) {
      await axeCheck(page, 'timeline with episodes');
      await page.screenshot({ path: path.join(SHOTS, 'insight-timeline.png'), fullPage: true });
    }

    // AWS's episode, marked as AWS's, with AWS's figures.
    await page.goto(`${server.base}/findings?rule=cairn-aws-insight`);
    await page.getByTestId('findings').locator('tbody tr').first().locator('td').nth(1).locator('a').first().click();
    await page.waitForURL((u) => /^\/findings\/\d+$/.test(u.pathname));
    assert.equal((await page.getByTestId('episode-by').textContent()).trim(), 'AWS CloudTrail Insights');
    assert.match(await page.getByTestId('finding-summary').textContent(),
      /AWS CloudTrail Insights: CreateAccessKey \(iam\.amazonaws\.com\) call rate at 120 a minute against 0\.50 a minute, for 5 minutes/);
    assert.ok((await page.getByTestId('episode').textContent()).includes(HOSTILE));
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    if (js) await axeCheck(page, 'AWS episode finding');
    assert.deepEqual(problems, []);
    await ctx.close();
  });
}

test('episodes read at every width', async () => {
  const ctx = await signedInContext(browser, server.base, 'ivan', { viewport: { width: 390, height: 900 } });
  const problems = [];
  const page = await watchedPage(ctx, problems);
  await page.goto(`${server.base}/findings?rule=cairn-insight-call-rate`);
  const href = await page.getByTestId('findings').locator('tbody tr').first().locator('td').nth(1).locator('a').first().getAttribute('href');
  for (const width of [390, 768, 1920]) {
    await page.setViewportSize({ width, height: 900 });
    for (const [where, url] of [['finding', href], ['timeline', '/?from=2024-01-06&to=2024-01-06']]) {
      await page.goto(`${server.base}${url}`);
      await page.getByTestId(where === 'finding' ? 'episode' : 'chart-episodes').waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 1, `${where} at ${width}px: the page is ${overflow}px too wide`);
      await page.screenshot({ path: path.join(SHOTS, `insight-${where}-${width}.png`), fullPage: true });
    }
  }
  assert.deepEqual(problems, []);
  await ctx.close();
});
