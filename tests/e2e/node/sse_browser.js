// Drives examples/dashboard.html in a real headless Chromium (playwright-core
// with the system browser), for test_browser_sse.py.
// Usage: node sse_browser.js PAGE_URL [CHROMIUM_PATH]
// Prints one JSON object per line: {"loaded":true} once the page is open,
// then one answer per command read from stdin (one JSON object per line):
//   {"waitStatus":"open","timeout":ms}           -> {"status":..,"history":[..]}
//   {"waitRow":{"offset":"1","channel":..},"timeout":ms} -> {"row":{..},"rows":[..]}
//   {"state":true}   -> {"status":..,"history":[..],"rows":[..],"pageId":..}
//   {"quit":true}    -> closes the browser and exits 0
// A failed command answers {"error":..,"state":{...}}. Console messages and
// page errors are collected and reported with {"state":true} as "console".
'use strict';
const readline = require('readline');
const { chromium } = require('playwright-core');

const [pageUrl, executablePath = '/usr/bin/chromium'] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

async function main() {
  const browser = await chromium.launch({
    executablePath,
    // As root Chromium needs --no-sandbox; the rest keeps it quiet and light.
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking'],
  });
  const page = await browser.newPage();
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  await page.goto(pageUrl, { waitUntil: 'load', timeout: 15000 });
  // A mark that a reload or navigation would wipe: the page must reconnect
  // by itself, not by being loaded again.
  const pageId = await page.evaluate(() => (window.__pageId = Math.random().toString(36).slice(2)));

  const rows = () => page.$$eval('#events tr', (trs) => trs.map((tr) => ({ ...tr.dataset })));
  const state = async () => ({
    status: await page.$eval('#status', (el) => el.dataset.state),
    history: await page.evaluate(() => window.statusHistory),
    rows: await rows(),
    pageId: await page.evaluate(() => window.__pageId),
    console: consoleLines,
  });

  out({ loaded: true, pageId });
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    const cmd = JSON.parse(line);
    try {
      if (cmd.quit) break;
      if (cmd.state) {
        out(await state());
      } else if (cmd.waitStatus) {
        await page.waitForFunction((s) => document.getElementById('status').dataset.state === s,
                                   cmd.waitStatus, { timeout: cmd.timeout || 10000 });
        const s = await state();
        out({ status: s.status, history: s.history });
      } else if (cmd.waitRow) {
        const handle = await page.waitForFunction((want) => {
          for (const tr of document.querySelectorAll('#events tr')) {
            if (Object.entries(want).every(([k, v]) => tr.dataset[k] === v)) {
              return { ...tr.dataset, text: tr.textContent };
            }
          }
          return null;
        }, cmd.waitRow, { timeout: cmd.timeout || 10000 });
        out({ row: await handle.jsonValue(), rows: await rows() });
      } else {
        out({ error: `unknown command ${line}` });
      }
    } catch (e) {
      out({ error: String(e), state: await state().catch(() => null) });
    }
  }
  await browser.close();
}

main().then(() => process.exit(0), (e) => {
  out({ error: String(e && e.stack || e) });
  process.exit(3);
});
