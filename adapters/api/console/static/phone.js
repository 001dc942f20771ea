// The phone simulator: the e-CPS app in plain JavaScript. Its device key is a WebCrypto ECDSA
// P-256 key (the private half never leaves the page); every call after the request carries a
// DPoP proof signed with it, dated by the server's clock so that "skip ahead" stays consistent.
"use strict";
(function () {
  const sim = document.getElementById("sim");
  if (!sim) { return; }
  const $ = (id) => document.getElementById(id);
  const enc = new TextEncoder();
  const pinLength = Number(sim.dataset.pinLength);
  const codeDigits = Number(sim.dataset.codeDigits);
  let keys = null, jwk = null, aid = null, state = null, pinMode = "set", busy = false, polling = false, drawn = "";
  let approving = null, watched = null, loginDrawn = "", portalLid = null, portalDone = true;

  function b64u(bytes) {
    let s = "";
    new Uint8Array(bytes).forEach((b) => { s += String.fromCharCode(b); });
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  async function serverNow() {
    const r = await fetch("/console/phone/now", { cache: "no-store" });
    return (await r.json()).now;
  }
  async function proof(method, path) {
    const header = { typ: "dpop+jwt", alg: "ES256", jwk: jwk };
    const claims = { htm: method, htu: location.origin + path, iat: Math.floor(await serverNow()),
                     jti: crypto.randomUUID(), activation_id: aid };
    const input = b64u(enc.encode(JSON.stringify(header))) + "." + b64u(enc.encode(JSON.stringify(claims)));
    const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, keys.privateKey, enc.encode(input));
    return input + "." + b64u(sig);
  }
  async function api(method, path, body) {
    const headers = { "Content-Type": "application/json" };
    if (aid) { headers.DPoP = await proof(method, path); }
    const r = await fetch(path, { method: method, headers: headers, cache: "no-store",
                                  body: body === undefined ? undefined : JSON.stringify(body) });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) {
      const e = data.error || {};
      let text = e.message || ("HTTP " + r.status);
      if (e.attempts_left !== null && e.attempts_left !== undefined) { text += " (" + e.attempts_left + " attempt(s) left)"; }
      throw new Error(text);
    }
    return data;
  }
  async function helper(method, path) {
    const r = await fetch(path, { method: method, cache: "no-store" });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) { throw new Error(data.error || ("HTTP " + r.status)); }
    return data;
  }
  function say(text) { $("phone-error").textContent = text || ""; }
  function show(id) {
    const screen = $(id);
    if (!screen.hidden) { return; }
    document.querySelectorAll(".screen").forEach((s) => { s.hidden = s.id !== id; });
    const first = screen.querySelector("input, button");
    if (first) { first.focus(); }  // a keyboard user goes on where the new screen starts
  }
  const screens = { requested: "s-mail", emailed: "s-mail", scanned: "s-sms",
                    sms_verified: "s-pin", pin_set: "s-pin", active: "s-pin" };
  function render() {
    $("phone-state").textContent = state || "none";
    $("phone-aid").textContent = aid ? "(" + aid + ")" : "";
    if (!aid) { show("s-id"); return; }
    const id = screens[state] || "s-end";
    const mode = state === "pin_set" ? "confirm" : state !== "active" ? "set" : approving ? "approve" : "login";
    if (mode !== pinMode) { pinMode = mode; $("pin").value = ""; }
    $("pin-label").textContent = { set: "Choose your PIN", confirm: "Confirm your PIN",
                                   login: "Your e-CPS is active: log in with your PIN",
                                   approve: approving ? "Approve " + approving.name + " (" + approving.binding
                                            + ") with your PIN" : "" }[pinMode];
    $("logins").hidden = state !== "active";
    $("end-text").textContent = "This activation is " + state + ".";
    show(id);
  }
  let latest = 0;
  async function refresh() {
    if (!aid) { return; }
    const mine = ++latest;
    const seenState = (await api("GET", "/activations/" + aid)).state;
    if (mine !== latest) { return; }  // a newer refresh started meanwhile: its answer wins
    state = seenState;
    if (state === "active") { await showLogins((await api("GET", "/activations/" + aid + "/logins")).logins); }
    render();
    await drawLogin();
    const box = await helper("GET", "/console/phone/" + aid + "/inbox");
    showMail(box.emails);
    showSms(box.sms);
    const seen = await fetch("/console/phone/" + aid + "/stamp", { cache: "no-store" });
    const now = seen.ok ? await seen.text() : "";
    if (now === drawn) { return; }  // the diagram is drawn again only when the activation changed
    const d = await fetch("/console/phone/" + aid + "/diagram", { cache: "no-store" });
    if (d.ok) { $("phone-diagram").innerHTML = await d.text(); drawn = now; }
  }
  function left(seconds) {
    const s = Math.max(0, Math.round(seconds));
    return (s >= 60 ? Math.floor(s / 60) + " min " : "") + (s % 60) + " s left";
  }
  async function showLogins(pending) {  // what the app lists: portal, binding message, time left
    const box = $("login-list");
    const now = await serverNow();
    if (approving && !pending.some((p) => p.login_id === approving.id)) { approving = null; }
    const ids = pending.map((p) => p.login_id).join(" ");
    if (box.dataset.ids !== ids) {
      box.dataset.ids = ids;
      box.innerHTML = pending.length ? "" : '<p class="note">No login waiting.</p>';
      pending.forEach((p) => {
        const item = document.createElement("article");
        item.className = "push";
        item.dataset.login = p.login_id;
        const what = document.createElement("p");
        const name = document.createElement("strong");
        name.textContent = p.client_name;
        const code = document.createElement("strong");
        code.className = "binding";
        code.textContent = p.binding_message;
        what.append(name, " asks to log you in. Code shown by the portal: ", code);
        const time = document.createElement("p");
        time.className = "left note";
        const row = document.createElement("div");
        row.className = "row";
        const yes = document.createElement("button");
        yes.type = "button";
        yes.textContent = "Approve";
        yes.addEventListener("click", () => {
          approving = { id: p.login_id, name: p.client_name, binding: p.binding_message };
          watched = p.login_id;
          render();
          $("pin").focus();
        });
        const no = document.createElement("button");
        no.type = "button";
        no.className = "secondary";
        no.textContent = "Deny";
        no.addEventListener("click", () => act(async () => {
          watched = p.login_id;
          await api("POST", "/logins/" + p.login_id + "/deny");
          $("phone-note").textContent = "Login denied.";
        }));
        yes.setAttribute("aria-label", "Approve " + p.client_name + " (" + p.binding_message + ")");
        no.setAttribute("aria-label", "Deny " + p.client_name + " (" + p.binding_message + ")");
        row.append(yes, no);
        item.append(what, time, row);
        box.append(item);
      });
      if (pending.length && !watched) { watched = pending[pending.length - 1].login_id; }
    }
    pending.forEach((p) => {
      const item = box.querySelector('[data-login="' + p.login_id + '"] .left');
      if (item) { item.textContent = left(Date.parse(p.expires_at) / 1000 - now); }
    });
  }
  async function drawLogin() {  // the watched login's diagram, drawn again when it changed
    if (!watched) { return; }
    const seen = await fetch("/console/phone/logins/" + watched + "/stamp", { cache: "no-store" });
    const now = seen.ok ? watched + (await seen.text()) : "";
    if (!now || now === loginDrawn) { return; }
    const d = await fetch("/console/phone/logins/" + watched + "/diagram", { cache: "no-store" });
    if (d.ok) { $("login-diagram").innerHTML = await d.text(); loginDrawn = now; }
  }
  async function portal(method, path, body) {
    const r = await fetch(path, { method: method, cache: "no-store", headers: { "Content-Type": "application/json" },
                                  body: body === undefined ? undefined : JSON.stringify(body) });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) { throw new Error((data.error && data.error.message) || data.error || ("HTTP " + r.status)); }
    return data;
  }
  function showPortal(answer) {
    $("portal-state").textContent = answer.state + (answer.closed_reason ? " (" + answer.closed_reason + ")" : "");
    if (!answer.claims) { return; }
    const list = $("portal-claims");
    list.innerHTML = "";
    Object.keys(answer.claims).forEach((k) => {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.className = "claim-" + k;
      const v = answer.claims[k];
      dd.textContent = Array.isArray(v) ? v.join(" ") : String(v);
      list.append(dt, dd);
    });
  }
  async function pollPortal() {
    if (!portalLid || portalDone) { return; }
    const answer = await portal("GET", "/console/phone/portal/logins/" + portalLid);
    showPortal(answer);
    portalDone = !["requested", "notified", "approved"].includes(answer.state);
  }
  function showMail(mails) {
    const box = $("mails");
    if (!mails.length || box.dataset.shown === mails[mails.length - 1].id) { return; }
    const m = mails[mails.length - 1];
    box.dataset.shown = m.id;
    box.innerHTML = "";
    const div = document.createElement("article");
    div.className = "mail";
    const h = document.createElement("h4");
    h.textContent = m.subject;
    const body = document.createElement("div");
    body.innerHTML = m.html; // the mailer's own HTML; scripts cannot run under the page's CSP
    const scan = document.createElement("button");
    scan.type = "button";
    scan.id = "b-scan";
    scan.textContent = "Scan the QR code";
    scan.addEventListener("click", () => act(async () => {
      const seen = await helper("POST", "/console/phone/" + aid + "/mail/" + m.id + "/scan");
      await api("POST", "/activations/" + aid + "/scan", { qr_payload: seen.payload });
    }));
    div.append(h, body, scan);
    box.append(div);
  }
  function showSms(list) {
    const box = $("smss");
    if (!list.length || box.dataset.count === String(list.length)) { return; }
    box.dataset.count = String(list.length);
    box.innerHTML = "";
    list.forEach((s) => {
      const p = document.createElement("p");
      p.className = "sms";
      p.textContent = s.text;
      box.append(p);
    });
  }
  function lastCode() {
    const all = $("smss").querySelectorAll(".sms");
    if (!all.length) { return ""; }
    const found = all[all.length - 1].textContent.match(new RegExp("\\b\\d{" + codeDigits + "}\\b"));
    return found ? found[0] : "";
  }
  let queue = Promise.resolve();
  function act(step) {  // actions run one after the other, none is dropped
    queue = queue.then(() => run(step));
    return queue;
  }
  async function run(step) {
    busy = true;
    say("");
    $("phone-note").textContent = "";
    try { await step(); } catch (e) { say(e.message); }
    try { await refresh(); } catch (e) { say(e.message); }
    busy = false;
    sim.dataset.idle = String(Date.now());
  }
  $("f-request").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act(async () => {
      keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
      const full = await crypto.subtle.exportKey("jwk", keys.publicKey);
      jwk = { kty: full.kty, crv: full.crv, x: full.x, y: full.y };
      const started = await api("POST", "/activations", { national_id: $("nid").value.trim(),
                                                         device_id: "phone-simulator", device_key: jwk });
      $("m-email").textContent = started.masked_email;
      $("m-phone").textContent = started.masked_phone;
      aid = started.activation_id;
    });
  });
  $("b-resend-email").addEventListener("click", () => act(() => api("POST", "/activations/" + aid + "/email/resend")));
  $("b-resend-sms").addEventListener("click", () => act(() => api("POST", "/activations/" + aid + "/sms/resend")));
  $("b-fill").addEventListener("click", () => { $("code").value = lastCode(); $("code").focus(); });
  $("f-code").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act(async () => {
      const code = $("code").value.trim();
      $("code").value = "";
      await api("POST", "/activations/" + aid + "/sms", { code: code });
    });
  });
  document.querySelectorAll(".key").forEach((k) => k.addEventListener("click", () => {
    const pin = $("pin");
    if (k.dataset.key === "del") { pin.value = pin.value.slice(0, -1); }
    else if (pin.value.length < pinLength) { pin.value += k.dataset.key; }
  }));
  $("f-pin").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const pin = $("pin").value;
    $("pin").value = "";
    if (pinMode === "approve") {
      const lid = approving.id;
      act(async () => {
        await api("POST", "/logins/" + lid + "/approve", { pin: pin });
        approving = null;
        $("phone-note").textContent = "Login approved.";
      });
      return;
    }
    const path = { set: "/pin", confirm: "/pin/confirm", login: "/authenticate" }[pinMode];
    act(async () => {
      const out = await api("POST", "/activations/" + aid + path, { pin: pin });
      if (pinMode === "login" && out.authenticated) { $("phone-note").textContent = "Logged in."; }
    });
  });
  document.querySelectorAll(".skip-ahead").forEach((b) => b.addEventListener("click",
    () => act(() => helper("POST", "/console/phone/skip/" + b.dataset.skip))));
  $("f-portal").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("portal-error").textContent = "";
    $("portal-claims").innerHTML = "";
    try {
      const started = await portal("POST", "/console/phone/portal/logins", {
        national_id: $("nid").value.trim(), client_name: $("p-name").value, binding_message: $("p-binding").value });
      portalLid = started.login_id;
      portalDone = false;
      watched = portalLid;
      $("portal-lid").textContent = "(" + portalLid + ")";
      showPortal(started);
    } catch (e) { $("portal-error").textContent = e.message; }
  });
  $("b-again").addEventListener("click", () => {
    aid = null; state = null; keys = null; drawn = ""; approving = null;
    $("mails").dataset.shown = ""; $("smss").dataset.count = "";
    $("mails").innerHTML = ""; $("smss").innerHTML = "";
    $("phone-diagram").innerHTML = "";
    render();
  });
  async function poll() {
    if (aid && !busy && !polling) {  // an action's own refresh follows it; polls never block one
      polling = true;
      try { await refresh(); } catch (e) { if (!busy) { say(e.message); } }
      polling = false;
    }
    try { await pollPortal(); } catch (e) { $("portal-error").textContent = e.message; }
    setTimeout(poll, 1000);
  }
  render();
  poll();
})();
