// shelfwise web chat: plain JavaScript, no build step.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const store = {
    get(k) { try { return window.localStorage.getItem(k); } catch (e) { return null; } },
    set(k, v) { try { window.localStorage.setItem(k, v); } catch (e) { /* private mode */ } },
  };

  function newId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID().replace(/-/g, "");
    }
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  let userId = store.get("shelfwise.user");
  if (!userId) { userId = "web-" + newId().slice(0, 16); store.set("shelfwise.user", userId); }
  const conversationId = "conv-" + newId().slice(0, 16);
  let apiKey = store.get("shelfwise.apiKey") || "";
  let slate = null;
  const blobUrls = [];

  function headers(json) {
    const h = {};
    if (json) h["Content-Type"] = "application/json";
    if (apiKey) h["X-API-Key"] = apiKey;
    return h;
  }

  async function api(path, body) {
    const res = await fetch(path, {
      method: body === undefined ? "GET" : "POST",
      headers: headers(body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      let msg = (data && (data.message || data.detail)) || res.statusText;
      if (typeof msg !== "string") msg = JSON.stringify(msg);
      if (res.status === 401) { $("settings").open = true; msg += " (enter the API key in Settings)"; }
      const err = new Error(msg);
      err.status = res.status;
      throw err;
    }
    return data;
  }

  function addMessage(who, text) {
    const li = document.createElement("li");
    li.className = "msg " + who;
    const name = document.createElement("span");
    name.className = "who";
    name.textContent = who === "user" ? "You" : who === "error" ? "Error" : "Assistant";
    const body = document.createElement("p");
    body.textContent = text;
    li.append(name, body);
    $("log").append(li);
    li.scrollIntoView({ block: "nearest" });
  }

  function setStatus(text) { $("status").textContent = text; }

  function money(price, currency) {
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency: currency || "USD" }).format(price);
    } catch (e) {
      return (currency || "") + " " + Number(price).toFixed(2);
    }
  }

  // Images go through fetch so that the API key header travels with them when one is set.
  async function loadImage(img, url) {
    if (!url) { img.remove(); return; }
    if (!apiKey) { img.src = url; return; }
    try {
      const res = await fetch(url, { headers: headers(false) });
      if (!res.ok) throw new Error(res.statusText);
      const blobUrl = URL.createObjectURL(await res.blob());
      blobUrls.push(blobUrl);
      img.src = blobUrl;
    } catch (e) { img.alt += " (image unavailable)"; }
  }

  function button(label, action, item, extraClass) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.className = "act " + (extraClass || "");
    b.dataset.action = action;
    b.setAttribute("aria-label", label + ": " + item.product.title);
    b.addEventListener("click", () => react(action, item, b));
    return b;
  }

  // A product with a page in the shop gets a real link: it opens the page in a new tab and
  // records the click like the "Open" button does.
  function openLink(item) {
    const p = item.product;
    const a = document.createElement("a");
    a.className = "act open-link";
    a.href = p.url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    a.textContent = "Open";
    a.dataset.action = "open";
    a.setAttribute("aria-label", "Open: " + p.title + " (shop page, new tab)");
    a.addEventListener("click", () => {
      if (!slate || !slate.slate_id) return;
      api("/feedback", { event_id: newId(), slate_id: slate.slate_id, product_id: p.id,
                         kind: "click" }).catch((e) => setStatus("Could not record that: " + e.message));
    });
    return a;
  }

  function hasPage(p) { return typeof p.url === "string" && /^https?:\/\//i.test(p.url); }

  function renderSlate(s, why) {
    slate = s;
    while (blobUrls.length) URL.revokeObjectURL(blobUrls.pop());
    const ul = $("cards");
    ul.replaceChildren();
    if (!s || !s.items.length) {
      $("why").hidden = true;
      return;
    }
    s.items.forEach((item, i) => {
      const p = item.product;
      const li = document.createElement("li");
      li.className = "card";
      li.dataset.productId = p.id;
      const art = document.createElement("article");
      art.setAttribute("aria-labelledby", "card-title-" + i);
      const img = document.createElement("img");
      img.alt = p.title;
      img.width = 256; img.height = 256;
      img.decoding = "async";
      const h = document.createElement("h3");
      h.id = "card-title-" + i;
      h.textContent = (i + 1) + ". " + p.title;
      const price = document.createElement("p");
      price.className = "price";
      price.textContent = money(p.price, p.currency) + (p.in_stock ? "" : " · out of stock");
      const reason = document.createElement("p");
      reason.className = "reason";
      reason.textContent = item.reason;
      const actions = document.createElement("div");
      actions.className = "actions";
      actions.setAttribute("role", "group");
      actions.setAttribute("aria-label", "Actions for " + p.title);
      actions.append(hasPage(p) ? openLink(item) : button("Open", "open", item),
                     button("Like", "like", item),
                     button("Buy", "buy", item, "buy"));
      if (item.sponsored) {
        // paid placement is always labelled, before the title for screen readers too
        li.classList.add("sponsored");
        const tag = document.createElement("p");
        tag.className = "sponsored-label";
        tag.textContent = "Sponsored";
        art.append(tag);
      }
      art.append(img, h, price, reason, actions);
      li.append(art);
      ul.append(li);
      loadImage(img, p.image_url);
    });
    renderWhy(s, why);
  }

  function ordinal(n) {
    const t = n % 100, u = n % 10;
    return n + (t >= 11 && t <= 13 ? "th" : u === 1 ? "st" : u === 2 ? "nd" : u === 3 ? "rd" : "th");
  }

  // "Why these?" in words, one sentence per product: the server's sentences (which candidate
  // source found it, what the policy and the model thought), else ranks from the slate's scores.
  function renderWhy(s, why) {
    const list = $("why-list");
    list.replaceChildren();
    const n = s.items.length;
    const rank = (key) => {
      const order = s.items.map((it, i) => [Number(it[key]), i]).sort((a, b) => b[0] - a[0]);
      const out = new Array(n);
      order.forEach(([, i], r) => { out[i] = r + 1; });
      return out;
    };
    const pol = rank("policy_score");
    const llm = s.items.every((it) => it.llm_score !== null && it.llm_score !== undefined) ? rank("llm_score") : null;
    s.items.forEach((item, i) => {
      const li = document.createElement("li");
      let text = why && why[i];
      if (!text) {
        text = "\u201c" + item.product.title + "\u201d: the slate policy (" + s.policy + ") ranked it " +
          ordinal(pol[i]) + " of " + n + (llm ? "; the language model rated it " + ordinal(llm[i]) + " of " + n
            : "; no language model scored it") + ".";
      }
      li.textContent = (i + 1) + ". " + text;
      list.append(li);
    });
    $("why-caption").textContent = s.reranked
      ? "The order blends the slate policy with the language model's ratings."
      : s.llm_fallback ? "The language model did not answer, so the policy's order is shown."
        : "The order is the slate policy's (" + s.policy + ").";
    $("why").hidden = false;
  }

  async function react(action, item, btn) {
    if (!slate || !slate.slate_id) return;
    const kind = action === "buy" ? "purchase" : "click";
    btn.disabled = true;
    try {
      const res = await api("/feedback", {
        event_id: newId(), slate_id: slate.slate_id, product_id: item.product.id, kind: kind,
      });
      if (action === "buy") {
        setStatus("Bought " + item.product.title + " for " + money(res.value, item.product.currency) + ".");
        btn.textContent = "Bought";
      } else if (action === "like") {
        setStatus("Noted: you like " + item.product.title + ".");
        btn.setAttribute("aria-pressed", "true");
        btn.textContent = "Liked";
      } else {
        btn.disabled = false;
        showDetail(item);
      }
      if (action !== "open") btn.classList.add("done");
    } catch (e) {
      btn.disabled = false;
      setStatus("Could not record that: " + e.message);
    }
  }

  function showDetail(item) {
    const p = item.product;
    $("detail-title").textContent = p.title;
    $("detail-price").textContent = money(p.price, p.currency);
    $("detail-desc").textContent = p.description;
    const img = $("detail-img");
    img.alt = p.title;
    img.removeAttribute("src");
    loadImage(img, p.image_url);
    const dl = $("detail-attrs");
    dl.replaceChildren();
    Object.entries(p.attributes || {}).forEach(([k, v]) => {
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = v;
      dl.append(dt, dd);
    });
    const dlg = $("detail");
    if (typeof dlg.showModal === "function") dlg.showModal(); else dlg.setAttribute("open", "");
  }

  async function send(ev) {
    ev.preventDefault();
    const input = $("message");
    const text = input.value.trim();
    if (!text) return;
    addMessage("user", text);
    input.value = "";
    const btn = $("send");
    btn.disabled = true;
    $("cards").setAttribute("aria-busy", "true");
    try {
      const res = await api("/chat", { conversation_id: conversationId, user_id: userId, message: text });
      // the bubble summarises ("Found 8 rain jackets up to $150."); the cards carry the detail
      addMessage("assistant", res.summary || res.reply);
      if (res.slate) renderSlate(res.slate, res.why);
      setStatus(res.slate && res.slate.items.length ? res.slate.items.length + " products shown." : "");
    } catch (e) {
      addMessage("error", e.message);
    } finally {
      btn.disabled = false;
      $("cards").removeAttribute("aria-busy");
      input.focus();
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("chat-form").addEventListener("submit", send);
    $("api-key").value = apiKey;
    $("settings-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      apiKey = $("api-key").value.trim();
      store.set("shelfwise.apiKey", apiKey);
      $("settings").open = false;
      setStatus("Settings saved.");
    });
    document.body.dataset.ready = "true";
  });
})();
