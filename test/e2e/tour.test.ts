// The README's five-minute tour, as a newcomer takes it: `posture start`, `posture demo agent`,
// then every console page in Chromium with what the demo left there — the Northwind tools in the
// inventory (the changed one marked), the refund waiting on the approvals desk with its real
// arguments, the calls in the audit explorer, the alerts, the findings and the policy. A
// screenshot of each page is kept in .posture/artefacts/screenshots/tour-*.png, and with
// POSTURE_UPDATE_SCREENSHOTS=1 in docs/screenshots/ for the README. Without /usr/bin/chromium the
// suite is skipped with the reason printed, except in CI.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHOTS, launchChromium, publishScreenshots, skipWithoutChromium } from './support/chromium.js';
import { BIN, startPosture, type StartedPosture } from './support/posture-start.js';

const run = promisify(execFile);
const WAIT = { timeout: 15_000 };

describe.skipIf(skipWithoutChromium('the tour'))(
  'the five-minute tour, in Chromium',
  { timeout: 60_000 },
  () => {
    let posture: StartedPosture;
    let context: BrowserContext;
    let page: Page;
    const taken: string[] = [];
    const pageErrors: string[] = [];

    const shot = async (name: string) => {
      await page.screenshot({ path: join(SHOTS, `tour-${name}.png`), fullPage: true });
      taken.push(`tour-${name}.png`);
    };
    const open = async (name: string) => {
      await page.locator('.sidebar nav a', { hasText: new RegExp(`^${name}`) }).click();
      await page.locator(`.app[data-page="${name.toLowerCase()}"][data-loaded="true"]`).waitFor(WAIT);
    };
    const text = () => page.locator('main').innerText();

    beforeAll(async () => {
      posture = await startPosture();
      await run('node', [BIN, 'demo', 'agent'], { cwd: posture.dir, encoding: 'utf8' });
      context = await launchChromium(join(posture.dir, 'profile'));
      page = context.pages()[0] ?? (await context.newPage());
      page.on('pageerror', (error) => pageErrors.push(error.message));
    }, 60_000);

    afterAll(async () => {
      await context?.close();
      await posture?.cleanup();
      publishScreenshots(taken);
    });

    it('signs in with the user and password `posture start` printed', async () => {
      expect(posture.consoleUser).toBe('dana');
      await page.goto(posture.consoleUrl!);
      await page.fill('input[name=user]', posture.consoleUser!);
      await page.fill('input[name=password]', posture.consolePassword!);
      await page.click('button[type=submit]');
      await page.locator('.app[data-page="overview"][data-loaded="true"]').waitFor(WAIT);
      await page.locator('.pillar-chart .bar').first().waitFor(WAIT);
      await shot('overview');
    });

    it('lists the Northwind tools with their tiers, the changed one marked, and the agent', async () => {
      await open('Inventory');
      await page.locator('tr[data-tool="northwind/issue_refund"]').waitFor(WAIT);
      expect(await page.locator('tr[data-tool="northwind/get_shipment"] .chip-status-changed').count()).toBe(
        1,
      );
      await shot('inventory');
    });

    it('shows the refund the agent asked for, with its real arguments and target', async () => {
      await open('Approvals');
      const refund = page.locator('tr', { hasText: 'northwind/issue_refund' }).first();
      await refund.waitFor(WAIT);
      await refund.click();
      const detail = page.locator('.approval-detail');
      await expect
        .poll(() => detail.locator('[data-field="tool"]').textContent(), WAIT)
        .toBe('northwind/issue_refund');
      expect(await detail.locator('[data-field="arguments"]').textContent()).toMatch(/amount/);
      expect(await detail.locator('[data-field="target"]').textContent()).toMatch(
        /examples\/demo\/server\.js/,
      );
      await shot('approvals');
    });

    it('finds the calls in the audit explorer, and one event in full', async () => {
      await open('Audit');
      await page.locator('tr[data-seq]').first().waitFor(WAIT);
      expect(await text()).toContain('northwind/');
      await shot('audit');
      await page.locator('tr[data-seq]', { hasText: 'get_customer' }).first().click();
      await page.locator('.event-detail pre.json').waitFor(WAIT);
      await shot('audit-event');
    });

    it('shows the alerts the demo raised, the findings and the policy', async () => {
      await open('Alerts');
      expect(await text()).toMatch(/definition|changed/i);
      await shot('alerts');
      await open('Findings');
      expect(await text()).toMatch(/PST-\d{3}/);
      await shot('findings');
      await open('Policy');
      expect(await text()).toContain('northwind');
      await shot('policy');
      expect(pageErrors).toEqual([]);
    });
  },
);
