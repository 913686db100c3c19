// Journeys: first-run admin creation, sign-in, sign-out, a deep link surviving sign-in,
// user management, and the same sign-in with JavaScript disabled.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { SHOTS, demoInto, startServer, tempDb, launch, watchedPage, signIn, addUser , axeCheck } from './helpers.mjs';

let server, browser;

before(async () => {
  const db = tempDb();
  demoInto(db, 2000);
  server = await startServer(db);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.stop();
});

test('first run: the set-up page creates the first admin, who manages users', async () => {
  const context = await browser.newContext({ viewport: { width: 1300, height: 900 } });
  const problems = [];
  const page = await watchedPage(context, problems);
  await page.goto(`${server.base}/?range=7d`);
  assert.equal(new URL(page.url()).pathname, '/setup');
  await page.screenshot({ path: path.join(SHOTS, 'setup.png') });
  await page.getByLabel('Name').fill('ada');
  await page.getByLabel('Password (10 characters or more)').fill('first admin password');
  await page.getByLabel('Password again').fill('first admin password');
  await page.getByRole('button', { name: 'Create admin and sign in' }).click();
  await page.waitForURL(`${server.base}/`);
  assert.match(await page.getByTestId('signed-in-as').textContent(), /ada.*admin/);
  // The set-up page is gone for good.
  await page.goto(`${server.base}/setup`);
  assert.equal(new URL(page.url()).pathname, '/');

  // Add a viewer through the admin page.
  await page.getByRole('link', { name: 'Admin', exact: true }).click();
  await page.waitForURL(/\/admin\/users/);
  const add = page.locator('form[action="/admin/users/add"]');
  await add.getByLabel('Name').fill('vic');
  await add.getByLabel('Role').selectOption('viewer');
  await add.getByLabel('Password').fill('viewer password 1');
  await add.getByRole('button', { name: 'Add user' }).click();
  await page.waitForURL(/done=added/);
  assert.ok(await page.getByText('User added.').isVisible());
  const rows = page.getByTestId('users-table').locator('tbody tr');
  assert.equal(await rows.count(), 2);
  await page.screenshot({ path: path.join(SHOTS, 'admin-users.png'), fullPage: true });
  await axeCheck(page, 'users page');
  // The audit log shows what happened.
  await page.getByRole('link', { name: 'Audit log' }).click();
  await page.waitForURL(/\/admin\/audit/);
  const audit = await page.getByTestId('audit-table').textContent();
  assert.ok(audit.includes('user.create') && audit.includes('user.add'), audit);
  await page.screenshot({ path: path.join(SHOTS, 'admin-audit.png'), fullPage: true });
  await axeCheck(page, 'audit log');

  // Sign out ends the session: the dashboard asks to sign in again.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/login\?signed_out=1/);
  assert.ok(await page.getByText('You are signed out.').isVisible());
  await page.goto(`${server.base}/`);
  assert.equal(new URL(page.url()).pathname, '/login');
  assert.deepEqual(problems, []);
  await context.close();

  // The viewer cannot reach the admin pages.
  const viewer = await browser.newContext();
  const vpage = await viewer.newPage();
  await signIn(vpage, server.base, 'vic', 'viewer password 1');
  assert.equal(await vpage.getByRole('link', { name: 'Admin', exact: true }).count(), 0);
  const r = await vpage.goto(`${server.base}/admin/users`);
  assert.equal(r.status(), 403);
  assert.ok((await vpage.textContent('body')).includes('your role does not allow this'));
  await viewer.close();
});

test('a deep link survives sign-in, and a wrong password says so plainly', async () => {
  addUser(server.db, 'deep', 'analyst');
  const context = await browser.newContext({ viewport: { width: 1300, height: 900 } });
  const problems = [];
  const page = await watchedPage(context, problems);
  const link = '/?from=2021-07-28T00:00&to=2021-08-04T00:00&cursor=99999999999999';
  await page.goto(`${server.base}${link}`);
  assert.equal(new URL(page.url()).pathname, '/login');
  await page.getByLabel('Name').fill('deep');
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/error=invalid/);
  assert.equal(await page.getByTestId('login-error').textContent(), 'Wrong name or password.');
  await page.screenshot({ path: path.join(SHOTS, 'login-error.png') });
  await axeCheck(page, 'sign-in page');
  await page.getByLabel('Name').fill('deep');
  await page.getByLabel('Password').fill('a long enough password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => u.pathname === '/');
  const u = new URL(page.url());
  assert.equal(u.pathname + u.search, link, 'back at the very link, query string and all');
  assert.deepEqual(problems, []);
  await context.close();
});

test('sign-in and sign-out work with JavaScript disabled', async () => {
  addUser(server.db, 'nojs', 'viewer');
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`${server.base}/events/1?x=1`);
  await signInHere(page, 'nojs');
  assert.equal(new URL(page.url()).pathname, '/events/1');
  await page.goto(`${server.base}/?range=all`);
  assert.ok(await page.getByTestId('kpi-events').isVisible());
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/signed_out=1/);
  await context.close();
});

async function signInHere(page, name) {
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Password').fill('a long enough password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}
