// The page and the docs in a real browser (Debian's Chromium, driven by playwright-core) against
// the running local stack at API_URL. Screenshots of each step go to target/screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { chromium } from "playwright-core";

const API_URL = process.env.API_URL;
const SHOTS = new URL("../../target/screenshots/", import.meta.url).pathname;
const REDOC = new URL("../../node_modules/redoc/bundles/redoc.standalone.js", import.meta.url).pathname;
let browser;

before(async () => {
  assert.ok(API_URL, "API_URL is not set: run through scripts/with-stack.sh");
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--no-first-run", "--disable-quic"],
  });
});

after(async () => { await browser?.close(); });

const randomPhone = () => "+7999" + String(Math.floor(Math.random() * 1e7)).padStart(7, "0");
const nationalFormat = (p) => `8 (${p.slice(2, 5)}) ${p.slice(5, 8)}-${p.slice(8, 10)}-${p.slice(10)}`;

async function newPage(name, viewport = { width: 390, height: 844 }) {
  // A phone-sized window by default: the page must work there.
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.shot = (step) => page.screenshot({ path: `${SHOTS}${name}-${step}.png`, fullPage: true });
  return page;
}

/** Logs in through the form (with the keyboard), returning the invite code shown. */
async function logIn(page, phone, name) {
  await page.goto(API_URL + "/");
  await page.getByLabel("Phone number").fill(nationalFormat(phone));
  await page.keyboard.press("Enter");
  await page.getByText(/Demo mode: your code is \d+/).waitFor();
  await page.shot("1-code-sent");
  const code = (await page.locator("#demo-code").textContent()).match(/(\d+)/)[1];
  assert.equal(await page.getByLabel("Code from the SMS").inputValue(), code);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.locator("#profile").waitFor({ state: "visible" });
  await page.shot("2-profile");
  assert.equal(await page.locator("#my-phone").textContent(), phone);
  const invite = await page.locator("#my-invite-code").textContent();
  assert.match(invite, /^[A-Z0-9]{6}$/);
  return invite;
}

test("two users log in, one activates the other's code, and the referral shows up", async () => {
  const first = await newPage("first");
  const second = await newPage("second");
  const firstPhone = randomPhone();
  const secondPhone = randomPhone();
  const firstCode = await logIn(first, firstPhone);
  await logIn(second, secondPhone);

  // A code that is not 6 letters or digits, then one nobody has: both explained in words.
  await second.getByLabel("A friend's invite code").fill("abc");
  await second.getByRole("button", { name: "Activate" }).click();
  await second.getByText("An invite code is 6 letters or digits.").waitFor();
  await second.shot("3-invalid-invite-code");

  await second.getByLabel("A friend's invite code").fill(firstCode.toLowerCase());
  await second.getByRole("button", { name: "Activate" }).click();
  await second.getByText(`Activated ${firstCode}`).waitFor();
  assert.equal(await second.locator("#activated-code").textContent(), firstCode);
  assert.ok(await second.locator("#activate-form").isHidden(), "the form goes away once a code is activated");
  await second.shot("4-activated");

  await first.reload();
  await first.locator("#referrals li").first().waitFor();
  assert.equal(await first.locator("#referrals li span").first().textContent(), secondPhone);
  assert.equal(await first.locator("#referrals-count").textContent(), "1");
  await first.shot("5-referral-listed");

  // Logging out ends the session; reloading does not bring it back.
  await first.getByRole("button", { name: "Log out" }).click();
  await first.getByText("You are logged out.").waitFor();
  assert.equal(await first.evaluate(() => sessionStorage.length), 0);
  await first.reload();
  assert.ok(await first.locator("#login").isVisible());
  await first.shot("6-logged-out");
});

test("a user deletes their account after confirming, lands on the login form and the number registers anew", async () => {
  const referrer = await newPage("delete-referrer");
  const page = await newPage("delete");
  const referrerCode = await logIn(referrer, randomPhone());
  const phone = randomPhone();
  const oldCode = await logIn(page, phone);
  await page.getByLabel("A friend's invite code").fill(referrerCode);
  await page.getByRole("button", { name: "Activate" }).click();
  await page.getByText(`Activated ${referrerCode}`).waitFor();
  await referrer.reload();
  await referrer.locator("#referrals li").first().waitFor();
  assert.equal(await referrer.locator("#referrals-count").textContent(), "1");

  // The first click only asks; "Keep my account" takes the question back, nothing deleted.
  await page.getByRole("button", { name: "Delete my account" }).click();
  await page.getByText("Delete your account for good?").waitFor();
  await page.shot("1-confirm");
  await page.getByRole("button", { name: "Keep my account" }).click();
  assert.ok(await page.locator("#delete-confirm").isHidden());
  assert.ok(await page.locator("#profile").isVisible());

  await page.getByRole("button", { name: "Delete my account" }).click();
  const [deleted] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/v1/profile") && r.request().method() === "DELETE"),
    page.getByRole("button", { name: "Yes, delete my account" }).click(),
  ]);
  assert.equal(deleted.status(), 204);
  await page.getByText("Your account was deleted.").waitFor();
  assert.ok(await page.locator("#login").isVisible(), "back to the login form");
  assert.ok(await page.locator("#profile").isHidden());
  assert.ok(await page.locator("#delete-section").isHidden());
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  await page.shot("2-deleted");

  // The referrer's count and list no longer hold the deleted user.
  await referrer.reload();
  await referrer.locator("#profile").waitFor({ state: "visible" });
  assert.equal(await referrer.locator("#referrals-count").textContent(), "0");
  assert.equal(await referrer.locator("#referrals li").count(), 0);

  // The same number logs in as a new user with a new invite code.
  const newCode = await logIn(page, phone);
  assert.notEqual(newCode, oldCode);
  assert.equal(await page.locator("#activated-code").textContent(), "none yet");
  await page.shot("3-new-account");
});

test("a wrong code is explained with the tries left", async () => {
  const page = await newPage("wrong-code");
  await page.goto(API_URL + "/");
  // The local stack runs in demo mode: the page must say so before anything is typed.
  assert.ok(await page.getByText("Demo mode: codes are shown on screen.").isVisible());
  await page.getByLabel("Phone number").fill(randomPhone());
  await page.getByRole("button", { name: "Send code" }).click();
  await page.getByText(/Demo mode: your code is \d+/).waitFor();
  const code = await page.getByLabel("Code from the SMS").inputValue();
  assert.match(code, /^\d{4}$/);
  const wrong = String((Number(code) + 1) % 10000).padStart(4, "0");
  await page.getByLabel("Code from the SMS").fill(wrong);
  await page.getByLabel("Code from the SMS").press("Enter");
  await page.getByText("Wrong code. 4 tries left.").waitFor();
  await page.shot("1-wrong-code");
});

test("a code with no live code behind it is explained without tries left", async () => {
  const page = await newPage("no-live-code");
  // send-code's answer is passed on with another phone in it, one nobody sent a code to, so the
  // page verifies the shown code against a phone with no code pending: the API's real answer.
  await page.route("**/v1/auth/send-code", async (route) => {
    const response = await route.fetch();
    const json = await response.json();
    await route.fulfill({ response, json: { ...json, phone: randomPhone() } });
  });
  await page.goto(API_URL + "/");
  await page.getByLabel("Phone number").fill(randomPhone());
  await page.getByRole("button", { name: "Send code" }).click();
  await page.getByText(/Demo mode: your code is \d+/).waitFor();
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByText("This code is not valid: it is wrong, has expired or was already used.", { exact: false }).waitFor();
  assert.equal(await page.getByText(/tries? left/).count(), 0);
  await page.shot("1-invalid-code");
});

// A stand-in for a provider's widget script, answering as Turnstile's and hCaptcha's explicit
// rendering API does: `render(element, {sitekey, callback})` hands the page a token, `reset(id)` a
// fresh one; the script calls the page's `onload` function once loaded, as the real ones do.
const FAKE_WIDGET = (name) => `
  (() => {
    let issued = 0, rendered = null;
    const token = () => "fake-${name}-token-" + (++issued);
    window.${name} = {
      render(element, options) {
        rendered = options;
        element.textContent = "widget for " + options.sitekey;
        setTimeout(() => options.callback(token()), 0);
        return "widget-1";
      },
      reset(id) { if (id === "widget-1") setTimeout(() => rendered.callback(token()), 0); },
    };
    const onload = new URL(document.currentScript.src).searchParams.get("onload");
    window[onload]();
  })();`;

for (const [provider, origin] of [["turnstile", "https://challenges.cloudflare.com/**"], ["hcaptcha", "https://js.hcaptcha.com/**"]]) {
  test(`the page shows the ${provider} widget and sends a fresh token with every code it asks for`, async () => {
    // The local stack runs without a CAPTCHA, so the page comes as the web function renders it
    // with one (xtask page), with its Content-Security-Policy; the API calls go to the stack,
    // which ignores the token.
    const { html, csp } = JSON.parse(execFileSync("cargo", ["run", "-q", "-p", "xtask", "--", "page", provider, "test-site-key"], { encoding: "utf8" }));
    const page = await newPage(`captcha-${provider}`);
    await page.route(API_URL + "/", (route) =>
      route.fulfill({ status: 200, contentType: "text/html; charset=utf-8", headers: { "content-security-policy": csp }, body: html }));
    // The provider's script, loaded from its own origin: the page's CSP must allow it.
    await page.route(origin, (route) =>
      route.fulfill({ status: 200, contentType: "application/javascript", body: FAKE_WIDGET(provider) }));
    const tokens = [];
    await page.route("**/v1/auth/send-code", (route) => {
      tokens.push(route.request().postDataJSON().captcha_token);
      return route.continue();
    });
    await page.goto(API_URL + "/");
    await page.getByText("widget for test-site-key").waitFor();
    await page.shot("1-widget");
    // Each send carries the token the widget gave; after it the widget is reset, since tokens
    // are single-use, and the next send carries the new one.
    for (const expected of [1, 2]) {
      await page.getByLabel("Phone number").fill(randomPhone());
      const [sent] = await Promise.all([
        page.waitForResponse("**/v1/auth/send-code"),
        page.getByRole("button", { name: "Send code" }).click(),
      ]);
      assert.equal(sent.status(), 200);
      assert.equal(tokens.at(-1), `fake-${provider}-token-${expected}`);
    }
    await page.getByText(/Demo mode: your code is \d+/).waitFor();
    assert.deepEqual(tokens, [`fake-${provider}-token-1`, `fake-${provider}-token-2`]);
    await page.shot("2-code-sent");
  });
}

test("the docs render every operation with ReDoc served by web itself, with no internet", async () => {
  const page = await newPage("docs", { width: 1280, height: 900 });
  // Every request that leaves this machine is refused: the docs must need none.
  const outside = [];
  await page.route("**", (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === "127.0.0.1") return route.continue();
    outside.push(url.href);
    return route.abort("internetdisconnected");
  });
  const refused = [];
  page.on("console", (m) => { if (m.type() === "error" && /Content Security Policy/.test(m.text())) refused.push(m.text()); });
  const [script] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname.startsWith("/docs/redoc-")),
    page.goto(API_URL + "/docs"),
  ]);
  await page.getByText("Referral API").first().waitFor();
  // Each operation is a heading in the rendered reference.
  const operations = ["Send a login code", "Log in with the code", "Log out", "My profile", "Activate an invite code", "My referrals, page by page", "Delete my account"];
  await page.locator("h2", { hasText: "My referrals, page by page" }).waitFor({ state: "attached" });
  const headings = await page.locator("h2").evaluateAll((hs) => hs.map((h) => h.textContent.trim()));
  for (const operation of operations) {
    assert.ok(headings.includes(operation), `ReDoc shows no "${operation}": ${headings.join(" | ")}`);
  }
  // The script came from this origin (the browser checked it against docs.html's integrity
  // hash before running it) and is the pinned npm package's bundle, byte for byte.
  assert.equal(new URL(script.url()).origin, new URL(API_URL).origin);
  assert.equal(script.status(), 200);
  assert.ok((await script.body()).equals(readFileSync(REDOC)), "the served ReDoc is not node_modules/redoc's bundle");
  // Search runs in a worker ReDoc makes from a blob, which the docs' CSP allows.
  await page.getByPlaceholder("Search...").fill("referrals");
  await page.locator("[data-role='search:results'] li").first().waitFor();
  assert.deepEqual(outside, [], "the docs asked for something from the internet");
  // ReDoc's footer logo is an image on its CDN: the CSP refuses it, and ReDoc hides it when it
  // fails to load. Nothing else may be refused.
  assert.deepEqual(refused.filter((t) => !t.includes("https://cdn.redoc.ly/redoc/logo-mini.svg")), []);
  await page.shot("1-redoc");
});
