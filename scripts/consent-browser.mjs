#!/usr/bin/env node
// consent-browser.mjs — drive mcpgate's consent page in headless Chromium (playwright-core).
//
//   node consent-browser.mjs AUTHORIZE_URL approve|deny SCREENSHOT.png
//
// Plays a native MCP client: listens on a free loopback port and puts that port into the
// authorization URL's (loopback) redirect_uri, as RFC 8252 allows. Opens the URL, checks the
// page renders, clicks the chosen button and lets the browser follow the redirects until it
// reaches the listener. Prints one JSON line:
//   {"final": "<redirect URI with query>", "redirect_uri": "...", "title": "...", "text": "..."}
// Exit 0 when the redirect URI was reached, 1 otherwise.
import http from 'node:http';
import { chromium } from 'playwright-core';

const [authorizeUrl, choice, shot] = process.argv.slice(2);
if (!authorizeUrl || !['approve', 'deny'].includes(choice)) {
  console.error('usage: consent-browser.mjs AUTHORIZE_URL approve|deny [SCREENSHOT]');
  process.exit(2);
}
let final;
let resolveFinal;
const reached = new Promise((r) => { resolveFinal = r; });
const listener = http.createServer((req, res) => {
  // The browser asks for /favicon.ico afterwards: keep the first (the redirect) only.
  final ??= `http://127.0.0.1:${listener.address().port}${req.url}`;
  res.writeHead(200, { 'content-type': 'text/plain' }).end('client received the answer');
  resolveFinal();
});
await new Promise((r) => listener.listen(0, '127.0.0.1', r));
const url = new URL(authorizeUrl);
const redirect = new URL(url.searchParams.get('redirect_uri'));
redirect.port = String(listener.address().port);
url.searchParams.set('redirect_uri', redirect.href);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  const resp = await page.goto(url.href);
  if (!resp || resp.status() !== 200) throw new Error(`consent page answered ${resp?.status()}`);
  const title = await page.title();
  const text = (await page.locator('body').innerText()).replace(/\s+/g, ' ').slice(0, 600);
  if (shot) await page.screenshot({ path: shot, fullPage: true });
  const button = page.getByRole('button', { name: choice === 'approve' ? 'Approve' : 'Deny' });
  await button.click();
  await Promise.race([reached, new Promise((_, rej) => setTimeout(() => rej(new Error('the redirect URI was never reached')), 15000))]);
  console.log(JSON.stringify({ final, redirect_uri: redirect.href, title, text }));
} catch (e) {
  console.log(JSON.stringify({ final, error: String(e?.message ?? e) }));
  process.exitCode = 1;
} finally {
  await browser.close();
  listener.closeAllConnections();
  listener.close();
}
process.exit(process.exitCode ?? 0);
