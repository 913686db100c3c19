// Journeys: single sign-on through a real OpenID Connect provider started here
// (oauth2-mock-server: discovery, authorization with PKCE, tokens signed with its own
// keys). Signing in, the role from groups, a refusal without a group, signing out; and
// the answers Cairn must refuse: a wrong audience or issuer, an expired token, a bad
// signature, an unknown key, a nonce mismatch, a missing, forged or replayed state.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { OAuth2Server } from 'oauth2-mock-server';
import { generateKeyPairSync, sign } from 'node:crypto';
import { BIN, SHOTS, demoInto, startServer, tempDb, launch, watchedPage, axeCheck, PASSWORD, until } from './helpers.mjs';

const CLIENT_ID = 'cairn-dashboard';
let provider, server, browser, db, issuer;

// What the provider says of the person signing in, and what the test does to its
// answers. Each test sets these; `reset()` puts back an honest provider.
let who;
let tweakIdToken = null; // (payload, header) => void, before the ID token is signed
let tweakResponse = null; // (body) => void, the token endpoint's answer
let tweakRedirect = null; // (url) => void, the redirect back to Cairn
function reset() {
  who = { sub: 'u-1001', email: 'ana@example.com', groups: ['secops'] };
  tweakIdToken = tweakResponse = tweakRedirect = null;
}

before(async () => {
  reset();
  provider = new OAuth2Server();
  await provider.issuer.keys.generate('RS256');
  await provider.start(0, '127.0.0.1');
  issuer = provider.issuer.url;
  provider.service.on('beforeTokenSigning', (token) => {
    if (token.payload.aud === undefined) return; // the access token
    Object.assign(token.payload, { sub: who.sub, email: who.email, groups: who.groups });
    tweakIdToken?.(token.payload, token.header);
  });
  provider.service.on('beforeResponse', (response) => tweakResponse?.(response.body));
  provider.service.on('beforeAuthorizeRedirect', (redirect) => tweakRedirect?.(redirect.url));

  const dir = mkdtempSync(path.join(tmpdir(), 'cairn-sso-'));
  const secret = path.join(dir, 'client-secret');
  writeFileSync(secret, 'not-a-real-secret\n', { mode: 0o600 });
  db = tempDb();
  demoInto(db, 1000);
  server = await startServer(db, (base) => [
    '--public-url', base,
    '--oidc-issuer', issuer,
    '--oidc-client-id', CLIENT_ID,
    '--oidc-client-secret-file', secret,
    '--oidc-name', 'Example SSO',
    '--oidc-admin-groups', 'cairn-admins',
    '--oidc-analyst-groups', 'secops,incident-response',
    '--oidc-viewer-groups', 'auditors',
  ]);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.stop();
  await provider?.stop();
});

/** Clicks "Sign in with Example SSO" on the sign-in page and waits to be back at Cairn. */
async function ssoSignIn(page, from = '/') {
  await page.goto(`${server.base}${from}`);
  await page.getByTestId('sso-sign-in').click();
  // Back at Cairn: signed in somewhere, or on the sign-in page saying why not.
  await page.waitForURL((u) => u.origin === server.base && !u.pathname.startsWith('/auth/')
    && (u.pathname !== '/login' || u.searchParams.has('error')));
}

async function signedInAs(page) {
  const el = page.getByTestId('signed-in-as');
  return (await el.count()) ? (await el.textContent()).replace(/\s+/g, ' ').trim() : null;
}

function audit() {
  return execFileSync(BIN, ['--db', db, 'audit', '--json', '--limit', '10000'], { encoding: 'utf8' });
}

test('sign in through the provider: the user is made with the role their groups give, and signs out', async () => {
  reset();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const problems = [];
  const page = await watchedPage(context, problems);
  // No user exists yet: with single sign-on the sign-in page is offered, not the set-up.
  await page.goto(`${server.base}/?range=7d&event=ConsoleLogin`);
  assert.equal(new URL(page.url()).pathname, '/login');
  const button = page.getByTestId('sso-sign-in');
  assert.equal((await button.textContent()).trim(), 'Sign in with Example SSO');
  assert.ok(await page.getByLabel('Password').isVisible(), 'password sign-in stays on');
  await page.screenshot({ path: path.join(SHOTS, 'sso-login.png') });
  await axeCheck(page, 'sign-in page with single sign-on');

  // The provider is asked with PKCE, state and nonce; the deep link survives.
  const asked = [];
  page.on('request', (r) => { if (r.url().startsWith(issuer)) asked.push(new URL(r.url())); });
  await button.click();
  await page.waitForURL((u) => u.origin === server.base && u.pathname === '/');
  const url = new URL(page.url());
  assert.equal(url.searchParams.get('range'), '7d');
  assert.equal(url.searchParams.get('event'), 'ConsoleLogin');
  const authorize = asked.find((u) => u.pathname === '/authorize');
  assert.ok(authorize, 'the browser went to the provider');
  assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
  assert.ok(authorize.searchParams.get('state')?.length >= 16);
  assert.ok(authorize.searchParams.get('nonce')?.length >= 16);
  assert.equal(authorize.searchParams.get('client_id'), CLIENT_ID);
  assert.equal(authorize.searchParams.get('redirect_uri'), `${server.base}/auth/oidc/callback`);
  assert.match(authorize.searchParams.get('scope'), /openid/);
  assert.match(await signedInAs(page), /ana@example\.com.*analyst/);

  // An analyst cannot reach the Admin pages.
  const r = await page.request.get(`${server.base}/admin/users`, { maxRedirects: 0 });
  assert.equal(r.status(), 403);

  // Signing out ends the session.
  await page.goto(`${server.base}/`);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/login\?signed_out=1/);
  await page.goto(`${server.base}/investigations`);
  assert.equal(new URL(page.url()).pathname, '/login');
  assert.deepEqual(problems, []);
  const log = audit();
  assert.match(log, /"action":"user.create","target":"ana@example.com","detail":"role analyst, from the groups claim \(single sign-on through Example SSO\)"/);
  assert.match(log, /"actor":"ana@example.com","action":"login",.*"detail":"single sign-on through Example SSO, as analyst"/);
  assert.match(log, /"actor":"ana@example.com","action":"logout"/);
  await context.close();
});

test('the role follows the groups at every sign-in; in no group, the user is refused and their sessions end', async () => {
  reset();
  // Ana is moved to the admins' group: her next sign-in is as an admin.
  who.groups = ['auditors', 'cairn-admins'];
  const first = await browser.newContext();
  const page = await first.newPage();
  await ssoSignIn(page, '/login?next=%2Fadmin%2Fusers');
  assert.equal(new URL(page.url()).pathname, '/admin/users');
  assert.match(await signedInAs(page), /ana@example\.com.*admin/);
  const row = page.getByTestId('users-table').locator('tr', { hasText: 'ana@example.com' });
  assert.match(await row.textContent(), /single sign-on/);
  await page.screenshot({ path: path.join(SHOTS, 'sso-admin-users.png'), fullPage: true });

  // Her email changes at the provider: the same user (by subject) gets the new name.
  who.email = 'ana.lopez@example.com';
  const second = await browser.newContext();
  const page2 = await second.newPage();
  await ssoSignIn(page2);
  assert.match(await signedInAs(page2), /ana\.lopez@example\.com.*admin/);
  await second.close();

  // Now she is in no group that gives a role: refused, with a page that says so.
  who.groups = ['payroll'];
  const third = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const refused = await third.newPage();
  await ssoSignIn(refused);
  assert.equal(new URL(refused.url()).searchParams.get('error'), 'sso-refused');
  assert.match(await refused.getByTestId('login-error').textContent(), /none of the groups allowed to use Cairn/);
  await refused.screenshot({ path: path.join(SHOTS, 'sso-refused.png') });
  await axeCheck(refused, 'refused single sign-on');
  await refused.goto(`${server.base}/`);
  assert.equal(new URL(refused.url()).pathname, '/login');
  // The session she opened before is over too.
  await page.goto(`${server.base}/admin/users`);
  assert.equal(new URL(page.url()).pathname, '/login');
  const log = audit();
  assert.match(log, /"action":"user.role","target":"ana@example.com","detail":"analyst → admin, from the groups claim/);
  assert.match(log, /"action":"user.rename","target":"ana.lopez@example.com","detail":"was \\"ana@example.com\\"/);
  assert.match(log, /"action":"login.refused","target":"ana.lopez@example.com","detail":"single sign-on through Example SSO: in none of the groups that give a role; their sessions have ended"/);
  await first.close();
  await third.close();
});

/** The ID token in a token response, its header and claims changed by `change`, and
 *  signed again by `key` (RS256), or left with its old signature without one. */
function rewrite(body, change, key) {
  const [h, p, sig] = body.id_token.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const claims = JSON.parse(Buffer.from(p, 'base64url'));
  change(header, claims);
  const head = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const signature = key ? sign('sha256', Buffer.from(head), key).toString('base64url') : sig;
  body.id_token = `${head}.${signature}`;
}

// Answers a provider (or someone in the middle) could send that must not sign anyone in:
// [what, what the server's log and audit log say, how the provider is made to send it].
const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const forged = [
  ['a token for another audience', 'Invalid audiences', () => { tweakIdToken = (p) => { p.aud = 'some-other-app'; }; }],
  ['a token from another issuer', 'Invalid issuer', () => { tweakIdToken = (p) => { p.iss = 'https://login.attacker.example'; }; }],
  ['an expired token', 'Expired', () => {
    tweakIdToken = (p) => { const now = Math.floor(Date.now() / 1000); p.iat = now - 7200; p.nbf = now - 7200; p.exp = now - 3600; };
  }],
  ['a nonce that is not the one sent', 'Invalid nonce', () => { tweakIdToken = (p) => { p.nonce = 'not-the-nonce-cairn-sent'; }; }],
  ['claims changed after signing (a viewer made admin)', 'Signature verification failed', () => {
    tweakResponse = (body) => rewrite(body, (_h, c) => { c.groups = ['cairn-admins']; });
  }],
  ['a token signed by a key the provider never published, under its key id', 'Signature verification failed', () => {
    tweakResponse = (body) => rewrite(body, (_h, c) => { c.groups = ['cairn-admins']; }, stranger);
  }],
  ['a token naming a key the provider does not have', 'Signature verification failed', () => {
    tweakResponse = (body) => rewrite(body, (h) => { h.kid = 'no-such-key'; }, stranger);
  }],
];

test('answers that must be refused: wrong audience or issuer, expired, bad signature, unknown key, nonce mismatch', async () => {
  for (const [what, logged, arrange] of forged) {
    reset();
    who.groups = ['auditors'];
    arrange();
    const context = await browser.newContext();
    const page = await context.newPage();
    const seen = server.log().length;
    await ssoSignIn(page);
    const url = new URL(page.url());
    assert.equal(url.pathname, '/login', what);
    assert.equal(url.searchParams.get('error'), 'sso-failed', what);
    assert.match(await page.getByTestId('login-error').textContent(), /could not be verified/, what);
    await page.goto(`${server.base}/`);
    assert.equal(new URL(page.url()).pathname, '/login', `${what}: not signed in`);
    await until(() => server.log().slice(seen), (l) => l.includes(logged), `${what}: the server's log says why`);
    if (what.includes('does not have')) {
      assert.match(server.log().slice(seen), /reading the provider's keys again/, 'an unknown key id has the keys read again');
    }
    await context.close();
  }
  reset();
  const log = audit();
  for (const reason of ['Invalid audiences', 'Invalid issuer', 'Expired', 'Invalid nonce', 'Signature verification failed']) {
    assert.match(log, new RegExp(`"action":"login.refused",[^}]*the ID token was refused: ${reason}`), reason);
  }
});

test('a state that is missing, forged or replayed is refused', async () => {
  reset();
  // Missing, and not the one this browser was given.
  for (const [what, tweak] of [
    ['missing', (u) => u.searchParams.delete('state')],
    ['forged', (u) => u.searchParams.set('state', 'a-state-from-somewhere-else')],
  ]) {
    tweakRedirect = tweak;
    const context = await browser.newContext();
    const page = await context.newPage();
    await ssoSignIn(page);
    assert.equal(new URL(page.url()).searchParams.get('error'), 'sso-state', what);
    assert.match(await page.getByTestId('login-error').textContent(), /could not be matched/, what);
    await page.goto(`${server.base}/`);
    assert.equal(new URL(page.url()).pathname, '/login', `${what}: not signed in`);
    await context.close();
  }
  tweakRedirect = null;

  // Replayed: the provider's answer, used once, is worth nothing the second time, in
  // the same browser after signing out or in another one.
  who.groups = ['auditors'];
  const context = await browser.newContext();
  const page = await context.newPage();
  let answer;
  page.on('request', (r) => { if (r.url().includes('/auth/oidc/callback')) answer = r.url(); });
  await ssoSignIn(page);
  assert.match(await signedInAs(page), /viewer/);
  assert.ok(answer);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/signed_out=1/);
  await page.goto(answer);
  assert.equal(new URL(page.url()).searchParams.get('error'), 'sso-state');
  const other = await browser.newContext();
  const thief = await other.newPage();
  await thief.goto(answer);
  assert.equal(new URL(thief.url()).searchParams.get('error'), 'sso-state');
  await thief.goto(`${server.base}/`);
  assert.equal(new URL(thief.url()).pathname, '/login');
  assert.match(audit(), /"action":"login.refused",[^}]*the answer's state matches no sign-in started in this browser/);
  assert.match(audit(), /"action":"login.refused",[^}]*the answer has no state/);
  await context.close();
  await other.close();
});

test('a key the provider adds later is fetched when a token names it', async () => {
  reset();
  const added = await provider.issuer.keys.generate('RS256');
  // The provider now signs ID tokens with the new key: Cairn reads its keys again.
  const seen = server.log().length;
  const context = await browser.newContext();
  const page = await context.newPage();
  let signedWith;
  tweakResponse = (body) => { signedWith = JSON.parse(Buffer.from(body.id_token.split('.')[0], 'base64url')).kid; };
  await ssoSignIn(page);
  assert.match(await signedInAs(page), /analyst/);
  assert.equal(signedWith, added.kid, 'the ID token was signed with the new key');
  assert.match(server.log().slice(seen), /reading the provider's keys again/);
  await context.close();
});

test('with JavaScript off, single sign-on works the same', async () => {
  reset();
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await ssoSignIn(page, '/login?next=%2Finvestigations');
  assert.equal(new URL(page.url()).pathname, '/investigations');
  assert.match(await signedInAs(page), /ana@example\.com.*analyst/);
  await context.close();
});

test('with password sign-in off, passwords are refused and the shell still manages users', async () => {
  reset();
  const offDb = tempDb();
  // The break-glass admin, from the shell.
  const note = execFileSync(BIN, ['--db', offDb, 'user', 'add', 'breakglass', '--role', 'admin', '--password-stdin'], {
    input: `${PASSWORD}\n`, env: { ...process.env, CAIRN_PASSWORD_LOGIN: 'off' }, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'],
  });
  assert.match(note, /added breakglass/);
  const off = await startServer(offDb, (base) => [
    '--public-url', base, '--oidc-issuer', issuer, '--oidc-client-id', CLIENT_ID,
    '--oidc-analyst-groups', 'secops', '--password-login', 'off',
  ]);
  try {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    await page.goto(`${off.base}/setup`);
    assert.equal(new URL(page.url()).pathname, '/login');
    assert.ok(await page.getByTestId('password-off').isVisible());
    assert.equal(await page.getByLabel('Password').count(), 0);
    await page.screenshot({ path: path.join(SHOTS, 'sso-password-off.png') });
    await axeCheck(page, 'sign-in page with passwords off');
    // A password posted anyway is refused.
    const r = await page.request.post(`${off.base}/auth/login`, {
      form: { name: 'breakglass', password: PASSWORD }, headers: { origin: off.base }, maxRedirects: 0,
    });
    assert.equal(r.status(), 303);
    assert.match(r.headers().location, /error=password-off/);
    await page.goto(`${off.base}/login?error=password-off`);
    assert.match(await page.getByTestId('login-error').textContent(), /turned off/);
    // The provider still lets people in (its name is the issuer's host by default).
    assert.equal((await page.getByTestId('sso-sign-in').textContent()).trim(), `Sign in with ${new URL(issuer).hostname}`);
    await page.getByTestId('sso-sign-in').click();
    await page.waitForURL((u) => u.origin === off.base && u.pathname === '/');
    assert.match(await signedInAs(page), /ana@example\.com.*analyst/);
    await context.close();
  } finally {
    off.stop();
  }
  const help = execFileSync(BIN, ['user', '--help'], { encoding: 'utf8' });
  assert.match(help, /break-glass/);
});
