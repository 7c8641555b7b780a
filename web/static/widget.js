/* Frontdesk chat widget: plain JS, no build step, no external requests.
 *
 *   <script src="/static/widget.js" data-bot="demo" defer></script>
 *
 * Script attributes: data-bot (bot slug, default "demo"), data-target (CSS selector of the element to
 * mount into; default #fd-widget, else a floating panel appended to <body>), data-server (base URL of
 * the Frontdesk server; default this page), data-user-id (sent in `hello`).
 * Speaks the websocket protocol in docs/protocol.md. Every text that comes from the server or the
 * user is inserted with textContent / text nodes, never parsed as HTML.
 */
(() => {
  "use strict";

  const script = document.currentScript || document.querySelector("script[data-bot]");
  const opts = (script && script.dataset) || {};
  const BOT = opts.bot || "demo";
  const PING_MS = 25000;
  const MAX_BACKOFF_MS = 30000;
  const BUSY_RETRY_MS = 2000;
  const MAX_LEN = 4000;
  const KEY_CONV = `frontdesk:${BOT}:conversation_id`;
  const KEY_PENDING = `frontdesk:${BOT}:pending`;

  let BASE;
  try { BASE = new URL(opts.server || location.href); } catch (e) { BASE = new URL(location.href); }
  const WS_URL = `${BASE.protocol === "https:" ? "wss:" : "ws:"}//${BASE.host}/ws/chat/${encodeURIComponent(BOT)}`;

  // ---- small helpers -------------------------------------------------------------------------
  const store = { // localStorage can throw (privacy modes, sandboxed frames): then nothing is kept
    get(key) { try { return localStorage.getItem(key); } catch (e) { return null; } },
    set(key, value) { try { value == null ? localStorage.removeItem(key) : localStorage.setItem(key, value); } catch (e) { /* */ } },
  };

  /** Create an element; attributes with null/undefined/false values are skipped. Text goes in as text. */
  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value != null && value !== false) node.setAttribute(name, value === true ? "" : String(value));
    }
    if (text != null) node.textContent = String(text);
    return node;
  }

  function newId() {
    const bytes = crypto.getRandomValues(new Uint8Array(8));
    return `m_${Date.now().toString(36)}_${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  }

  /** Resolve a citation URL against the server; only http(s) links are allowed (no javascript: etc.). */
  function safeUrl(raw) {
    if (!raw) return null;
    try {
      const url = new URL(String(raw), BASE);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (e) { return null; }
  }

  // ---- DOM -----------------------------------------------------------------------------------
  function buildUI() {
    let mount = (opts.target && document.querySelector(opts.target)) || document.getElementById("fd-widget");
    if (!mount) document.body.append((mount = el("div", { id: "fd-widget", class: "fd-floating" })));
    const root = el("section", { class: "fd-root", "aria-labelledby": "fd-title", "data-state": "connecting" });
    const header = el("header", { class: "fd-header" }), heading = el("div", { class: "fd-heading" });
    const avatar = el("span", { class: "fd-avatar", "aria-hidden": "true" }, "N");
    const title = el("h2", { id: "fd-title", class: "fd-title" }, opts.title || "Chat with us");
    const status = el("p", { id: "fd-status", class: "fd-status", role: "status" }, "connecting…");
    heading.append(title, status);
    header.append(avatar, heading);
    const messages = el("div", {
      id: "fd-messages", class: "fd-messages", role: "log", "aria-live": "polite",
      "aria-labelledby": "fd-title", tabindex: "0",
    });
    const form = el("form", { id: "fd-form", class: "fd-form", novalidate: true });
    const label = el("label", { for: "fd-input", class: "fd-sr-only" }, "Type your message");
    const input = el("textarea", {
      id: "fd-input", class: "fd-input", rows: "1", maxlength: MAX_LEN,
      placeholder: "Ask us anything…", autocomplete: "off", enterkeyhint: "send",
    });
    const send = el("button", { id: "fd-send", class: "fd-send", type: "submit", "aria-label": "Send message", disabled: true });
    send.append(el("span", { class: "fd-send-icon", "aria-hidden": "true" }));
    form.append(label, input, send);
    root.append(header, messages, form);
    mount.replaceChildren(root);
    return { root, title, status, messages, form, input, send, avatar };
  }

  const ui = buildUI();
  let botName = "Northwind Goods";
  let conversationId = store.get(KEY_CONV);
  let ws = null;
  let isReady = false;        // `ready` received on the current socket
  let attempt = 0;            // reconnect attempts since the last `ready`
  let restartNow = false;     // reconnect at once (e.g. after unknown_conversation)
  let stopped = false;        // unknown bot: give up
  let reconnectTimer = null;
  let pingTimer = null;
  let lastSeen = 0;
  let inFlight = null;        // client id sent on this socket and still waiting for its final
  let greeted = false;
  let autoScroll = true;
  const turns = new Map();    // client id -> { customer, typing, bot, done, busy }
  const pending = loadPending(); // client id -> text, in send order, until its `final` arrives

  function loadPending() {
    try {
      const list = JSON.parse(store.get(KEY_PENDING) || "[]");
      return new Map(list.filter((m) => m && typeof m.id === "string" && typeof m.text === "string").map((m) => [m.id, m.text]));
    } catch (e) { return new Map(); }
  }
  function savePending() {
    store.set(KEY_PENDING, pending.size ? JSON.stringify(Array.from(pending, ([id, text]) => ({ id, text }))) : null);
  }

  function setConversation(id) {
    if (id) store.set(KEY_CONV, (conversationId = String(id)));
  }

  function setStatus(state, text) {
    ui.root.setAttribute("data-state", state);
    ui.status.textContent = text;
  }

  function scrollDown(force) {
    if (force) autoScroll = true;
    if (autoScroll) ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function makeMsg(role, text) {
    const node = el("div", { class: `fd-msg fd-${role}` });
    node.append(el("div", { class: "fd-text" }, text == null ? "" : text));
    return node;
  }

  function findByMessageId(id) {
    return id ? ui.messages.querySelector(`[data-message-id="${CSS.escape(String(id))}"]`) : null;
  }

  /** Put reply text in, showing `[n]` markers that match a citation as small reference badges. */
  function setReplyText(body, text, numbers) {
    body.textContent = "";
    let last = 0;
    for (const m of text.matchAll(/\[(\d{1,3})\]/g)) {
      if (!numbers.has(Number(m[1]))) continue;
      body.append(text.slice(last, m.index), el("span", { class: "fd-cite-ref" }, m[0]));
      last = m.index + m[0].length;
    }
    body.append(text.slice(last));
  }

  function renderSources(cites) {
    const box = el("div", { class: "fd-sources" });
    const list = el("ol", { class: "fd-citations", "aria-label": "Sources" });
    cites.forEach((c) => {
      const li = el("li", { class: "fd-citation", value: c.n });
      const label = [c.document, c.section].filter((s) => s != null && s !== "").map(String).join(" — ") || `Source ${c.n}`;
      const url = safeUrl(c.url);
      li.append(el(url ? "a" : "span", {
        class: "fd-citation-link", href: url, target: url && "_blank", rel: url && "noopener noreferrer",
        title: c.snippet ? String(c.snippet) : null,
      }, label));
      list.append(li);
    });
    box.append(el("p", { class: "fd-sources-title", "aria-hidden": "true" }, "Sources"), list);
    return box;
  }

  /** Render a complete bot reply (final frame or history entry) into `node`. */
  function renderReply(node, text, citations) {
    const cites = (Array.isArray(citations) ? citations : [])
      .filter((c) => c && typeof c === "object")
      .map((c, i) => ({ ...c, n: Number.isInteger(c.n) && c.n > 0 ? c.n : i + 1 }));
    setReplyText(node.querySelector(".fd-text"), String(text == null ? "" : text), new Set(cites.map((c) => c.n)));
    node.querySelector(".fd-sources")?.remove();
    if (cites.length) node.append(renderSources(cites));
    node.setAttribute("data-final", "true");
    node.removeAttribute("aria-busy");
    addFeedback(node);
  }

  /** 👍/👎 under a final bot reply: POST a thumb for its message id, then thank the customer. */
  function addFeedback(node) {
    const messageId = node.getAttribute("data-message-id");
    const existing = node.querySelector(":scope > .fd-feedback");
    if (existing) return node.append(existing); // keep it last when the reply is re-rendered
    if (!messageId || !conversationId || !node.classList.contains("fd-bot")) return;
    const box = el("div", { class: "fd-feedback" });
    const url = new URL(`/api/v1/conversations/${encodeURIComponent(conversationId)}/feedback`, BASE).href;
    const send = async (score) => {
      box.querySelectorAll("button").forEach((b) => { b.disabled = true; });
      try {
        const res = await fetch(url, {
          method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ kind: "thumb", score, message_id: messageId }),
        });
        if (!res.ok) throw new Error(String(res.status));
        box.replaceChildren(el("span", { class: "fd-feedback-thanks", role: "status" }, "Thanks for your feedback"));
      } catch (e) {
        box.querySelectorAll("button").forEach((b) => { b.disabled = false; });
      }
    };
    for (const [score, label, icon] of [[1, "Helpful", "👍"], [-1, "Not helpful", "👎"]]) {
      const button = el("button", { type: "button", class: "fd-thumb", "aria-label": label, title: label }, icon);
      button.addEventListener("click", () => send(score));
      box.append(button);
    }
    node.append(box);
  }

  function showError(message, code) {
    ui.messages.append(el("div", { class: "fd-error", "data-code": code || null }, message || "Something went wrong. Please try again."));
    scrollDown();
  }

  // ---- turns (one customer message and its reply) --------------------------------------------
  function startTurn(id, text, customer) {
    if (text != null) customer = makeMsg("customer", text);
    if (customer) {
      customer.setAttribute("data-client-id", id);
      if (!customer.hasAttribute("data-state")) customer.setAttribute("data-state", "queued");
      if (!customer.isConnected) ui.messages.append(customer);
    }
    const turn = { customer: customer || null, typing: null, bot: null, done: false, busy: 0 };
    turns.set(id, turn);
    return turn;
  }

  /** The turn a reply belongs to (a reply to a message sent elsewhere gets a turn of its own). */
  function turnFor(id) {
    return turns.get(id) || startTurn(id || newId(), null, null);
  }

  function showTyping(turn) {
    if (turn.typing || turn.bot) return;
    turn.typing = el("div", { class: "fd-typing" });
    turn.typing.append(el("span", { class: "fd-sr-only" }, `${botName} is typing…`));
    for (let i = 0; i < 3; i++) turn.typing.append(el("span", { class: "fd-dot", "aria-hidden": "true" }));
    ui.messages.append(turn.typing);
  }

  function hideTyping(turn) {
    turn.typing?.remove();
    turn.typing = null;
  }

  /** The bot bubble for a turn, created in place of its typing indicator. */
  function botBubble(turn) {
    if (!turn.bot) {
      turn.bot = makeMsg("bot");
      if (turn.typing) turn.typing.replaceWith(turn.bot); else ui.messages.append(turn.bot);
      turn.typing = null;
    }
    return turn.bot;
  }

  /** Send the oldest pending message (one at a time, so replies never interleave). */
  function pump() {
    if (!isReady || inFlight || !pending.size || !ws || ws.readyState !== WebSocket.OPEN) return;
    const [id, text] = pending.entries().next().value;
    const turn = turns.get(id) || startTurn(id, text);
    if (turn.bot && !turn.done) { // the reply was cut off mid-stream: it will be streamed again
      turn.bot.remove();
      turn.bot = null;
    }
    inFlight = id;
    if (turn.customer && turn.customer.getAttribute("data-state") === "queued") turn.customer.setAttribute("data-state", "sending");
    showTyping(turn);
    sendFrame({ type: "message", id, text });
    scrollDown();
  }

  function finishTurn(id) {
    pending.delete(id);
    savePending();
    if (inFlight === id) inFlight = null;
    pump();
  }

  // ---- protocol -------------------------------------------------------------------------------
  function sendFrame(frame) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
  }

  function onReady(f) {
    isReady = true;
    attempt = 0;
    setConversation(f.conversation_id);
    const bot = (f.bot && typeof f.bot === "object") ? f.bot : {};
    if (bot.name) { botName = String(bot.name); ui.title.textContent = botName; ui.avatar.textContent = botName.charAt(0); }
    if (!greeted && bot.greeting) {
      greeted = true;
      const greeting = makeMsg("bot", bot.greeting);
      greeting.classList.add("fd-greeting");
      ui.messages.prepend(greeting);
    }
    renderHistory(f.history);
    setStatus("connected", "connected");
    pump();
    scrollDown();
  }

  /** Show stored turns that are not on screen yet (first load, or messages missed while offline). */
  function renderHistory(history) {
    for (const h of Array.isArray(history) ? history : []) {
      if (!h || typeof h !== "object") continue;
      const role = h.role === "customer" ? "customer" : h.role === "agent" ? "agent" : "bot";
      if (findByMessageId(h.id)) continue;
      if (role === "customer" && h.client_id && turns.has(String(h.client_id))) {
        const known = turns.get(String(h.client_id)).customer;
        if (known && h.id != null) known.setAttribute("data-message-id", String(h.id));
        continue;
      }
      const node = makeMsg(role, role === "customer" ? String(h.text == null ? "" : h.text) : "");
      if (h.id != null) node.setAttribute("data-message-id", String(h.id));
      node.setAttribute("data-history", "true");
      if (role === "customer") {
        node.setAttribute("data-state", "sent");
        if (h.client_id) startTurn(String(h.client_id), null, node);
        else ui.messages.append(node);
      } else {
        renderReply(node, h.text, h.citations);
        ui.messages.append(node);
      }
    }
    for (const [id, text] of pending) if (!turns.has(id)) startTurn(id, text);
  }

  function onAck(f) {
    const turn = turns.get(f.id);
    if (turn && turn.customer) {
      turn.customer.setAttribute("data-state", "sent");
      if (f.message_id) turn.customer.setAttribute("data-message-id", String(f.message_id));
    }
    setConversation(f.conversation_id);
  }

  function onChunk(f) {
    const turn = turnFor(f.reply_to);
    if (turn.done || f.text == null) return;
    const bubble = botBubble(turn);
    bubble.setAttribute("aria-busy", "true");
    bubble.querySelector(".fd-text").append(String(f.text));
    scrollDown();
  }

  function onReset(f) { // the server discards what it streamed so far; a fallback answer follows
    const turn = turnFor(f.reply_to);
    if (turn.done || !turn.bot) return;
    turn.bot.querySelector(".fd-text").textContent = "";
  }

  function onFinal(f) {
    const turn = turnFor(f.reply_to);
    const existing = findByMessageId(f.message_id);
    if (existing && existing !== turn.bot) { // already on screen (from history): update it in place
      turn.bot?.remove();
      hideTyping(turn);
      turn.bot = existing;
    }
    const bubble = botBubble(turn);
    if (f.message_id) bubble.setAttribute("data-message-id", String(f.message_id));
    if (f.intent) bubble.setAttribute("data-intent", String(f.intent));
    bubble.classList.toggle("fd-fallback", !!f.fallback);
    renderReply(bubble, f.text, f.citations);
    turn.done = true;
    if (turn.customer) turn.customer.setAttribute("data-state", "sent");
    if (f.reply_to) finishTurn(String(f.reply_to));
    if (f.handoff) showNotice(QUEUED_NOTICE);
    scrollDown();
  }

  function onError(f) {
    const code = String(f.code || "error");
    if (code === "unknown_conversation" && !isReady) { // stored conversation is gone: start afresh
      store.set(KEY_CONV, (conversationId = null));
      restartNow = true;
      return ws && ws.close();
    }
    const id = f.reply_to ? String(f.reply_to) : null;
    const turn = id ? turns.get(id) : null;
    if (turn && code === "busy" && id === inFlight && turn.busy < 10) { // server still busy: retry later
      inFlight = null;
      return setTimeout(pump, BUSY_RETRY_MS * ++turn.busy);
    }
    showError(f.message ? String(f.message) : null, code);
    if (!turn) return;
    hideTyping(turn);
    if (turn.customer) turn.customer.setAttribute("data-state", code === "internal" ? "sent" : "failed");
    finishTurn(id);
  }

  // ---- human handoff --------------------------------------------------------------------------
  const QUEUED_NOTICE = "A person will reply here soon.";

  function showNotice(text) { // one inline notice, not one per message
    const last = ui.messages.lastElementChild;
    if (last && last.classList.contains("fd-notice") && last.textContent === text) return;
    ui.messages.append(el("div", { class: "fd-notice", role: "status" }, text));
    scrollDown();
  }

  function onQueued(f) { // a person holds the conversation: no bot reply will come for this message
    const turn = turnFor(f.reply_to);
    hideTyping(turn);
    turn.done = true;
    if (turn.customer) turn.customer.setAttribute("data-state", "sent");
    showNotice(QUEUED_NOTICE);
    if (f.reply_to) finishTurn(String(f.reply_to));
  }

  function onAgentMessage(f) {
    if (findByMessageId(f.message_id)) return; // already shown (history after a reconnect)
    const node = makeMsg("agent", String(f.text == null ? "" : f.text));
    if (f.message_id != null) node.setAttribute("data-message-id", String(f.message_id));
    ui.messages.append(node);
    scrollDown(true);
  }

  // `pong` needs no handling beyond refreshing lastSeen; unknown (future) frame types are ignored.
  const handlers = {
    ready: onReady, ack: onAck, chunk: onChunk, reset: onReset, final: onFinal, error: onError,
    queued: onQueued, agent_message: onAgentMessage,
  };

  // ---- connection -----------------------------------------------------------------------------
  function connect() {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    if (stopped) return;
    let sock;
    try { sock = new WebSocket(WS_URL); } catch (e) { scheduleReconnect(); return; }
    ws = sock;
    isReady = false;
    sock.onopen = () => {
      if (sock !== ws) return;
      lastSeen = Date.now();
      const hello = { type: "hello" };
      if (conversationId) hello.conversation_id = conversationId;
      if (opts.userId) hello.user_id = opts.userId;
      if (navigator.language) hello.locale = navigator.language;
      sock.send(JSON.stringify(hello));
      clearInterval(pingTimer);
      pingTimer = setInterval(ping, PING_MS);
    };
    sock.onmessage = (ev) => {
      if (sock !== ws || sock.readyState !== WebSocket.OPEN) return;
      lastSeen = Date.now();
      let frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      if (frame && typeof frame === "object" && Object.hasOwn(handlers, frame.type)) handlers[frame.type](frame);
    };
    sock.onclose = (ev) => {
      if (sock !== ws) return;
      ws = inFlight = null;
      isReady = false;
      clearInterval(pingTimer);
      turns.forEach(hideTyping);
      if (ev.code !== 4404) return scheduleReconnect();
      stopped = ui.input.disabled = ui.send.disabled = true; // unknown bot: retrying will not help
      setStatus("unavailable", "unavailable");
    };
  }

  /** Exponential back-off with jitter: ~1 s, 2 s, 4 s … capped at 30 s; reset by `ready`. */
  function scheduleReconnect() {
    if (stopped || reconnectTimer) return;
    setStatus("reconnecting", "reconnecting…");
    const delay = restartNow ? 0 : Math.min(MAX_BACKOFF_MS, 1000 * 2 ** attempt) * (0.75 + Math.random() * 0.5);
    restartNow = false;
    attempt = Math.min(attempt + 1, 10);
    reconnectTimer = setTimeout(connect, delay);
  }

  function ping() {
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (Date.now() - lastSeen > 2 * PING_MS + 10000) { ws.close(); return; } // silent socket: start over
    sendFrame({ type: "ping" });
  }

  // ---- input ------------------------------------------------------------------------------------
  function updateSend() {
    ui.send.disabled = ui.input.value.trim() === "";
  }

  function autosize() {
    ui.input.style.height = "auto";
    ui.input.style.height = `${Math.min(ui.input.scrollHeight, 160)}px`;
  }

  function submit() {
    const text = ui.input.value.trim();
    if (!text) return;
    const id = newId();
    pending.set(id, text);
    savePending();
    startTurn(id, text);
    ui.input.value = "";
    autosize();
    updateSend();
    scrollDown(true);
    pump();
  }

  ui.form.addEventListener("submit", (ev) => { ev.preventDefault(); submit(); ui.input.focus(); });
  ui.input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) { ev.preventDefault(); submit(); }
  });
  ui.input.addEventListener("input", () => { updateSend(); autosize(); });
  ui.messages.addEventListener("scroll", () => {
    const m = ui.messages;
    autoScroll = m.scrollHeight - m.scrollTop - m.clientHeight < 60;
  });
  window.addEventListener("online", () => { if (reconnectTimer) { attempt = 0; connect(); } });

  connect();
})();
