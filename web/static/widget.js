/* Frontdesk website widget: plain JS, no build step, no third-party requests.
 *
 *   <script src="https://HOST/widget.js" data-key="pk_..." async></script>
 *
 * Script attributes: data-key (the bot's public key, required), data-server (base URL of the
 * Frontdesk server; default: where this script came from), data-user-id / data-user-hash /
 * data-user-name / data-user-email (the same as calling Frontdesk.identify), data-locale.
 * It renders in a shadow DOM attached to <div id="frontdesk-widget">, so the page's CSS and ours
 * never meet. JS API on window.Frontdesk: open, close, toggle, identify, setLocale, track, reset,
 * on (docs/widget.md). Speaks the websocket protocol in docs/protocol.md. Every text from the
 * server or the visitor goes in as text, never parsed as HTML.
 */
(() => {
  "use strict";

  const script = document.currentScript || document.querySelector("script[data-key]");
  const opts = (script && script.dataset) || {};
  const KEY = opts.key;
  const queued = Array.isArray(window.Frontdesk) ? window.Frontdesk : []; // calls made before we loaded
  if (!KEY) { console.warn("Frontdesk: the widget script needs data-key=\"pk_…\""); return; }
  if (window.Frontdesk && window.Frontdesk.version) return; // already on the page

  const PING_MS = 25000;
  const MAX_BACKOFF_MS = 30000;
  const BUSY_RETRY_MS = 2000;
  const MAX_LEN = 4000;
  const VOICE_MAX_MS = 60000; // the server refuses more than voice.max_seconds (60 s by default)
  const K = (name) => `frontdesk:${KEY}:${name}`;

  let BASE;
  try { BASE = new URL(opts.server || (script && script.src) || location.href); } catch (e) { BASE = new URL(location.href); }
  const url = (path) => new URL(path, BASE).href;
  const WS_URL = `${BASE.protocol === "https:" ? "wss:" : "ws:"}//${BASE.host}/ws/widget/${encodeURIComponent(KEY)}`;

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

  /** Resolve a URL against the server; only http(s) links are allowed (no javascript: etc.). */
  function safeUrl(raw) {
    if (!raw) return null;
    try {
      const u = new URL(String(raw), BASE);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch (e) { return null; }
  }

  /** A darker shade of a #rrggbb colour (for hover and gradients). */
  function darker(hex) {
    const n = parseInt(hex.slice(1), 16);
    const c = [n >> 16, (n >> 8) & 255, n & 255].map((v) => Math.round(v * 0.72).toString(16).padStart(2, "0"));
    return `#${c.join("")}`;
  }

  // ---- interface strings (docs/i18n.md): English and Simplified Chinese -----------------------
  // Picked from data-locale / Frontdesk.setLocale / the browser's language; bot-authored text is never translated.
  const STRINGS = {
    en: {
      chat: "Chat", close: "Close chat", typeMessage: "Type your message", placeholder: "Ask us anything…",
      send: "Send message", attach: "Attach a file", record: "Record a voice message", stopRecording: "Stop recording and send",
      listen: "Listen to the reply", sources: "Sources", source: "Source {n}", helpful: "Helpful", notHelpful: "Not helpful",
      thanksRating: "Thanks for your rating!", thanksFeedback: "Thanks for your feedback",
      error: "Something went wrong. Please try again.", csatTitle: "How would you rate this conversation?",
      csatWords: ["very poor", "poor", "okay", "good", "excellent"], csatScore: "{n} of 5, {word}",
      comment: "Comment (optional)", commentPlaceholder: "Anything to add? (optional)", sendRating: "Send rating", skip: "Skip",
      unreadOne: "{n} unread message", unreadMany: "{n} unread messages", suggested: "Suggested replies",
      queued: "A person will reply here soon.", connecting: "connecting…", reconnecting: "reconnecting…", connected: "connected",
      unavailable: "unavailable", refusedOrigin: "this website may not use this chat",
      connectFirstFile: "Connect to the chat before sending a file.", connectFirstVoice: "Connect to the chat before recording.",
      noMic: "The microphone is not available.", uploadFailed: "upload failed ({status})", voiceFailed: "voice message failed ({status})",
    },
    "zh-CN": {
      chat: "聊天", close: "关闭聊天", typeMessage: "输入你的消息", placeholder: "有什么可以帮你？",
      send: "发送消息", attach: "添加附件", record: "录制语音消息", stopRecording: "停止录音并发送",
      listen: "收听回复", sources: "来源", source: "来源 {n}", helpful: "有帮助", notHelpful: "没有帮助",
      thanksRating: "感谢你的评分！", thanksFeedback: "感谢你的反馈",
      error: "出了点问题，请重试。", csatTitle: "你如何评价这次对话？",
      csatWords: ["很差", "较差", "一般", "好", "非常好"], csatScore: "{n} 分（满分 5 分），{word}",
      comment: "评论（可选）", commentPlaceholder: "还有什么想补充的吗？（可选）", sendRating: "提交评分", skip: "跳过",
      unreadOne: "{n} 条未读消息", unreadMany: "{n} 条未读消息", suggested: "推荐回复",
      queued: "客服人员很快会在这里回复你。", connecting: "正在连接…", reconnecting: "正在重新连接…", connected: "已连接",
      unavailable: "暂不可用", refusedOrigin: "此网站无权使用该聊天",
      connectFirstFile: "请先连接聊天，再发送文件。", connectFirstVoice: "请先连接聊天，再录音。",
      noMic: "麦克风不可用。", uploadFailed: "上传失败（{status}）", voiceFailed: "语音消息发送失败（{status}）",
    },
  };

  /** The interface language for a BCP 47 tag: Simplified Chinese for zh (not Hant/TW/HK/MO), else English. */
  function uiLanguage(tag) {
    const parts = String(tag || "").toLowerCase().replace(/_/g, "-").split("-");
    return parts[0] === "zh" && !parts.slice(1).some((p) => ["hant", "tw", "hk", "mo"].includes(p)) ? "zh-CN" : "en";
  }

  /** An interface string in the current language, `{name}` placeholders filled from vars. */
  function t(key, vars) {
    const table = STRINGS[uiLanguage(locale)];
    const text = key in table ? table[key] : STRINGS.en[key];
    return typeof text === "string" ? text.replace(/\{(\w+)\}/g, (m, name) => (vars && name in vars ? String(vars[name]) : m)) : text;
  }

  // ---- events for the host page (Frontdesk.on) -----------------------------------------------
  const listeners = new Map(); // name -> Set of callbacks
  function emit(name, detail) {
    for (const cb of listeners.get(name) || []) {
      try { cb(detail); } catch (e) { console.error("Frontdesk listener failed", e); }
    }
  }

  // ---- state ----------------------------------------------------------------------------------
  let config = null;          // GET /api/v1/widget/{key}/config
  let ui = null;              // built once the config has arrived
  let botName = "";
  let conversationId = store.get(K("conversation_id"));
  let user = null;            // {id, hash, name, email} from identify()
  let locale = opts.locale || navigator.language || null;
  let status = "bot";         // the conversation's owner, from ready / status frames
  let ws = null;
  let isReady = false;        // `ready` received on the current socket
  let attempt = 0;            // reconnect attempts since the last `ready`
  let restartNow = false;     // reconnect at once (e.g. after unknown_conversation)
  let stopped = false;        // unknown key or refused origin: give up
  let reconnectTimer = null;
  let pingTimer = null;
  let lastSeen = 0;
  let inFlight = null;        // client id sent on this socket and still waiting for its final
  let greeted = false;
  let autoScroll = true;
  let isOpen = false;
  let botReplied = false;     // a bot reply is in this conversation (CSAT on close)
  let unread = Number(store.get(K("unread"))) || 0;
  const turns = new Map();    // client id -> { customer, typing, bot, done, busy }
  const pending = loadPending(); // client id -> text, in send order, until its `final` arrives
  const tracked = [];         // track() calls waiting for a conversation

  if (opts.userId) user = { id: opts.userId, hash: opts.userHash, name: opts.userName, email: opts.userEmail };

  function loadPending() {
    try {
      const list = JSON.parse(store.get(K("pending")) || "[]");
      return new Map(list.filter((m) => m && typeof m.id === "string" && typeof m.text === "string").map((m) => [m.id, m.text]));
    } catch (e) { return new Map(); }
  }
  function savePending() {
    store.set(K("pending"), pending.size ? JSON.stringify(Array.from(pending, ([id, text]) => ({ id, text }))) : null);
  }

  function setConversation(id) {
    if (!id || id === conversationId) return;
    store.set(K("conversation_id"), (conversationId = String(id)));
  }

  // ---- DOM (inside a shadow root) -------------------------------------------------------------
  function buildUI() {
    const host = el("div", { id: "frontdesk-widget" });
    const shadow = host.attachShadow({ mode: "open" });
    const app = el("div", { class: "fd-app", "data-position": config.position === "left" ? "left" : "right", hidden: true });
    const style = el("link", { rel: "stylesheet", href: url("/widget.css") });
    style.addEventListener("load", () => { app.hidden = false; });
    style.addEventListener("error", () => { app.hidden = false; });
    if (/^#[0-9a-f]{6}$/i.test(config.color || "")) {
      app.style.setProperty("--fd-brand", config.color);
      app.style.setProperty("--fd-brand-dark", darker(config.color));
    }
    const launcher = el("button", {
      type: "button", class: "fd-launcher", "aria-expanded": "false", "aria-controls": "fd-panel", "aria-label": config.launcher_label,
    });
    const badge = el("span", { class: "fd-badge", "aria-hidden": "true", hidden: true });
    launcher.append(el("span", { class: "fd-launcher-icon", "aria-hidden": "true" }), el("span", { class: "fd-launcher-label" }, config.launcher_label), badge);

    const root = el("section", {
      id: "fd-panel", class: "fd-root", role: "dialog", "aria-modal": "true", "aria-labelledby": "fd-title",
      "data-state": "idle", hidden: true,
    });
    const header = el("header", { class: "fd-header" }), heading = el("div", { class: "fd-heading" });
    const avatar = el("span", { class: "fd-avatar", "aria-hidden": "true" }, (botName || "?").charAt(0));
    const logo = safeUrl(config.logo_url);
    if (logo) avatar.replaceChildren(el("img", { src: logo, alt: "", class: "fd-logo" }));
    const title = el("h2", { id: "fd-title", class: "fd-title" }, botName || t("chat"));
    const statusLine = el("p", { id: "fd-status", class: "fd-status", role: "status" }, "");
    const closeButton = el("button", { type: "button", class: "fd-close", "aria-label": t("close") });
    closeButton.append(el("span", { "aria-hidden": "true" }, "×"));
    heading.append(title, statusLine);
    header.append(avatar, heading, closeButton);
    const messages = el("div", {
      id: "fd-messages", class: "fd-messages", role: "log", "aria-live": "polite",
      "aria-labelledby": "fd-title", tabindex: "0",
    });
    const form = el("form", { id: "fd-form", class: "fd-form", novalidate: true });
    const label = el("label", { for: "fd-input", class: "fd-sr-only" }, t("typeMessage"));
    const input = el("textarea", {
      id: "fd-input", class: "fd-input", rows: "1", maxlength: MAX_LEN,
      placeholder: t("placeholder"), autocomplete: "off", enterkeyhint: "send",
    });
    const send = el("button", { id: "fd-send", class: "fd-send", type: "submit", "aria-label": t("send"), disabled: true });
    send.append(el("span", { class: "fd-send-icon", "aria-hidden": "true" }));
    let attach = null, file = null;
    if (config.uploads) {
      file = el("input", { type: "file", class: "fd-sr-only", tabindex: "-1", accept: "image/png,image/jpeg,image/gif,image/webp,application/pdf" });
      attach = el("button", { type: "button", class: "fd-attach", "aria-label": t("attach"), title: t("attach") });
      attach.append(el("span", { "aria-hidden": "true" }, "📎"));
      form.append(file, attach);
    }
    let mic = null;
    if (config.voice && window.MediaRecorder && navigator.mediaDevices) {
      mic = el("button", { type: "button", class: "fd-mic", "aria-label": t("record"), "aria-pressed": "false", title: t("record") });
      mic.append(el("span", { "aria-hidden": "true" }, "🎤"));
      form.append(mic);
    }
    form.append(label, input, send);
    root.append(header, messages, form);
    app.append(launcher, root);
    shadow.append(style, app);
    document.body.append(host);
    return { host, app, launcher, badge, root, title, avatar, status: statusLine, closeButton, messages, form, label, input, send, attach, file, mic };
  }

  /** Re-label the fixed parts of the panel after Frontdesk.setLocale (new messages follow by themselves). */
  function relabel() {
    if (!botName) ui.title.textContent = t("chat");
    ui.closeButton.setAttribute("aria-label", t("close"));
    ui.label.textContent = t("typeMessage");
    ui.input.setAttribute("placeholder", t("placeholder"));
    ui.send.setAttribute("aria-label", t("send"));
    for (const b of [ui.attach, ui.mic]) {
      if (!b) continue;
      const text = b === ui.attach ? t("attach") : t(b.getAttribute("aria-pressed") === "true" ? "stopRecording" : "record");
      b.setAttribute("aria-label", text);
      b.setAttribute("title", text);
    }
    setUnread(unread);
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
    const list = el("ol", { class: "fd-citations", "aria-label": t("sources") });
    cites.forEach((c) => {
      const li = el("li", { class: "fd-citation", value: c.n });
      const label = [c.document, c.section].filter((s) => s != null && s !== "").map(String).join(" — ") || t("source", { n: c.n });
      const link = safeUrl(c.url);
      li.append(el(link ? "a" : "span", {
        class: "fd-citation-link", href: link, target: link && "_blank", rel: link && "noopener noreferrer",
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
    if (node.classList.contains("fd-bot")) botReplied = true;
    addFeedback(node);
  }

  /** 👍/👎 under a final bot reply: a `feedback` frame for its message id; `feedback_saved` thanks. */
  function addFeedback(node) {
    const messageId = node.getAttribute("data-message-id");
    const existing = node.querySelector(":scope > .fd-feedback");
    if (existing) return node.append(existing); // keep it last when the reply is re-rendered
    if (!messageId || !node.classList.contains("fd-bot") || node.classList.contains("fd-greeting")) return;
    const box = el("div", { class: "fd-feedback" });
    for (const [score, label, icon] of [[1, t("helpful"), "👍"], [-1, t("notHelpful"), "👎"]]) {
      const button = el("button", { type: "button", class: "fd-thumb", "aria-label": label, title: label }, icon);
      button.addEventListener("click", () => {
        if (!sendFrame({ type: "feedback", kind: "thumb", score, message_id: messageId })) return;
        box.querySelectorAll("button").forEach((b) => { b.disabled = true; });
        ui.input.focus(); // the pressed button is disabled, then replaced: keep keyboard focus in the panel
      });
      box.append(button);
    }
    node.append(box);
  }

  function onFeedbackSaved(f) {
    if (f.kind === "csat") {
      store.set(K(`csat:${conversationId}`), "done");
      const card = ui.messages.querySelector(".fd-csat");
      card?.replaceChildren(el("p", { class: "fd-feedback-thanks", role: "status" }, t("thanksRating")));
      return;
    }
    const box = findByMessageId(f.message_id)?.querySelector(":scope > .fd-feedback");
    box?.replaceChildren(el("span", { class: "fd-feedback-thanks", role: "status" }, t("thanksFeedback")));
  }

  function showError(message, code) {
    ui.messages.append(el("div", { class: "fd-error", "data-code": code || null }, message || t("error")));
    scrollDown();
  }

  // ---- CSAT: a 1-5 rating with an optional comment --------------------------------------------
  function csatDone() { return !conversationId || !!store.get(K(`csat:${conversationId}`)); } // rated or skipped

  /** Show the rating card once per conversation; returns whether it is on screen now. */
  function askCsat() {
    if (csatDone()) return false;
    if (ui.messages.querySelector(".fd-csat")) return true;
    const card = el("form", { class: "fd-csat", "aria-labelledby": "fd-csat-title" });
    card.append(el("p", { id: "fd-csat-title", class: "fd-csat-title" }, t("csatTitle")));
    const scale = el("div", { class: "fd-csat-scale", role: "radiogroup", "aria-labelledby": "fd-csat-title" });
    const words = t("csatWords");
    let score = 0;
    words.forEach((word, i) => {
      const b = el("button", { type: "button", class: "fd-csat-score", role: "radio", "aria-checked": "false", "aria-label": t("csatScore", { n: i + 1, word }), "data-score": i + 1 }, "★");
      b.addEventListener("click", () => {
        score = i + 1;
        scale.querySelectorAll("button").forEach((x, j) => { x.setAttribute("aria-checked", String(j === i)); x.classList.toggle("fd-on", j <= i); });
        submit.disabled = false;
      });
      scale.append(b);
    });
    const comment = el("textarea", { class: "fd-csat-comment", rows: "2", maxlength: "1000", "aria-label": t("comment"), placeholder: t("commentPlaceholder") });
    const submit = el("button", { type: "submit", class: "fd-csat-send", disabled: true }, t("sendRating"));
    const skip = el("button", { type: "button", class: "fd-csat-skip" }, t("skip"));
    skip.addEventListener("click", () => {
      store.set(K(`csat:${conversationId}`), "skipped");
      card.remove();
      if (closing) { closing = false; close(); ui.launcher.focus(); }
    });
    card.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (!score) return;
      const frame = { type: "feedback", kind: "csat", score };
      if (comment.value.trim()) frame.comment = comment.value.trim().slice(0, 1000);
      if (sendFrame(frame)) { submit.disabled = true; ui.input.focus(); }
    });
    card.append(scale, comment, el("div", { class: "fd-csat-actions" }, null));
    card.lastChild.append(submit, skip);
    ui.messages.append(card);
    scrollDown(true);
    return true;
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

  /** A bot or agent message arrived: tell the page, and count it as unread while the panel is closed. */
  function incoming(role, id, text, citations) {
    emit("message", { role, id: id || null, text: String(text == null ? "" : text), citations: citations || [] });
    if (!isOpen) setUnread(unread + 1);
  }

  function setUnread(n) {
    unread = n;
    store.set(K("unread"), n ? String(n) : null);
    if (!ui) return;
    ui.badge.hidden = !n;
    ui.badge.textContent = n > 9 ? "9+" : String(n);
    const label = config.launcher_label + (n ? `, ${t(n === 1 ? "unreadOne" : "unreadMany", { n })}` : "");
    ui.launcher.setAttribute("aria-label", label);
  }

  // ---- protocol -------------------------------------------------------------------------------
  function sendFrame(frame) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  function hello() {
    const frame = { type: "hello" };
    if (conversationId) frame.conversation_id = conversationId;
    if (user && user.id) {
      Object.assign(frame, { user_id: String(user.id), user_hash: user.hash == null ? null : String(user.hash) });
      if (user.name) frame.user_name = String(user.name);
      if (user.email) frame.user_email = String(user.email);
    }
    if (locale) frame.locale = String(locale).slice(0, 35);
    isReady = false;
    if (inFlight) { hideTyping(turnFor(inFlight)); inFlight = null; } // a new hello stops the reply; it is re-sent
    sendFrame(frame);
  }

  function onReady(f) {
    isReady = true;
    attempt = 0;
    if (f.conversation_id !== conversationId) { // another conversation (e.g. after identify): start clean
      if (conversationId) clearMessages();
      setConversation(f.conversation_id);
    }
    const bot = (f.bot && typeof f.bot === "object") ? f.bot : {};
    if (bot.name) setBotName(String(bot.name));
    const greeting = config.greeting || bot.greeting;
    if (!greeted && greeting) {
      greeted = true;
      const node = makeMsg("bot", greeting);
      node.classList.add("fd-greeting");
      ui.messages.prepend(node);
    }
    renderHistory(f.history);
    setStatus("connected", t("connected"));
    for (const frame of tracked.splice(0)) sendFrame(frame);
    pump();
    scrollDown();
    onStatus({ status: f.status });
    emit("ready", { conversationId, customer: f.customer || null });
  }

  function onStatus(f) {
    status = String(f.status || "bot");
    if (status === "resolved" && config.csat_on_resolve && askCsat() && !isOpen) setUnread(unread + 1);
  }

  function setBotName(name) {
    botName = name;
    ui.title.textContent = name;
    if (!ui.avatar.querySelector("img")) ui.avatar.textContent = name.charAt(0);
  }

  function clearMessages() {
    ui.messages.replaceChildren();
    turns.clear();
    greeted = botReplied = askedOnClose = false;
  }

  /** Show stored turns that are not on screen yet (first load, or messages missed while offline). */
  function renderHistory(history) {
    for (const h of Array.isArray(history) ? history : []) {
      if (!h || typeof h !== "object" || h.role === "system") continue;
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
        linkify(node);
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
    renderQuickReplies(bubble, f.quick_replies);
    turn.done = true;
    if (turn.customer) turn.customer.setAttribute("data-state", "sent");
    if (f.reply_to) finishTurn(String(f.reply_to));
    if (f.handoff) showNotice(t("queued"));
    incoming("bot", f.message_id, f.text, f.citations);
    scrollDown();
  }

  function onError(f) {
    const code = String(f.code || "error");
    if (code === "unknown_conversation" && !isReady) { // stored conversation is gone: start afresh
      store.set(K("conversation_id"), (conversationId = null));
      return hello();
    }
    if (code === "identity_invalid" && !isReady) { // never chat as someone we could not verify
      console.warn(`Frontdesk: identify() refused: ${f.message}`);
      emit("error", { code, message: String(f.message || "") });
      user = null;
      return hello();
    }
    const id = f.reply_to ? String(f.reply_to) : null;
    const turn = id ? turns.get(id) : null;
    if (turn && code === "busy" && id === inFlight && turn.busy < 10) { // server still busy: retry later
      inFlight = null;
      return setTimeout(pump, BUSY_RETRY_MS * ++turn.busy);
    }
    emit("error", { code, message: String(f.message || "") });
    showError(f.message ? String(f.message) : null, code);
    if (!turn) return;
    hideTyping(turn);
    if (turn.customer) turn.customer.setAttribute("data-state", code === "internal" ? "sent" : "failed");
    finishTurn(id);
  }

  // ---- quick replies (final frame `quick_replies`) ---------------------------------------------
  /** Buttons under a reply; a tap sends the button's payload as the customer's next message. */
  function renderQuickReplies(node, items) {
    clearQuickReplies();
    const list = (Array.isArray(items) ? items : []).filter((q) => q && typeof q === "object" && q.title != null);
    if (!list.length) return;
    const box = el("div", { class: "fd-quick-replies", role: "group", "aria-label": t("suggested") });
    for (const q of list) {
      const button = el("button", { type: "button", class: "fd-quick-reply" }, String(q.title));
      button.addEventListener("click", () => { // the buttons go away: keep focus in the panel
        sendText(String(q.payload == null ? q.title : q.payload));
        ui.input.focus();
      });
      box.append(button);
    }
    node.insertBefore(box, node.querySelector(":scope > .fd-feedback"));
  }

  function clearQuickReplies() { // only the latest reply offers buttons, until the customer answers
    ui.messages.querySelectorAll(".fd-quick-replies").forEach((box) => box.remove());
  }

  // ---- human handoff --------------------------------------------------------------------------

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
    showNotice(t("queued"));
    if (f.reply_to) finishTurn(String(f.reply_to));
  }

  function onAgentMessage(f) {
    if (findByMessageId(f.message_id)) return; // already shown (history after a reconnect)
    const node = makeMsg("agent", String(f.text == null ? "" : f.text));
    if (f.message_id != null) node.setAttribute("data-message-id", String(f.message_id));
    ui.messages.append(node);
    incoming("agent", f.message_id, f.text);
    scrollDown(true);
  }

  // ---- spoken replies (voice answers, and `audio` frames for typed messages) ----------------------
  /** An <audio controls> player for a reply, above its 👍/👎; one per reply; plays while the panel is open. */
  function attachAudio(bubble, src) {
    const link = safeUrl(src);
    if (!bubble || !link) return;
    bubble.querySelector(":scope > .fd-audio")?.remove();
    const player = el("audio", { class: "fd-audio", controls: true, preload: "auto", src: link, "aria-label": t("listen") });
    bubble.insertBefore(player, bubble.querySelector(":scope > .fd-feedback"));
    if (!isOpen) return;
    ui.messages.querySelectorAll("audio").forEach((other) => { if (other !== player) other.pause(); });
    player.play().catch(() => {}); // the browser may refuse autoplay: the controls stay
  }

  function onAudio(f) { // the bot speaks "always": the reply to a typed message, spoken
    attachAudio(findByMessageId(f.message_id), f.url);
  }

  // `pong`, `tracked` and `locale_set` need nothing beyond refreshing lastSeen; unknown types are ignored.
  const handlers = {
    ready: onReady, ack: onAck, chunk: onChunk, reset: onReset, final: onFinal, error: onError,
    queued: onQueued, agent_message: onAgentMessage, feedback_saved: onFeedbackSaved, status: onStatus,
    audio: onAudio,
  };

  // ---- connection -----------------------------------------------------------------------------
  function connect() {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    if (stopped || (ws && ws.readyState <= WebSocket.OPEN)) return;
    let sock;
    try { sock = new WebSocket(WS_URL); } catch (e) { scheduleReconnect(); return; }
    ws = sock;
    isReady = false;
    setStatus("connecting", t("connecting"));
    sock.onopen = () => {
      if (sock !== ws) return;
      lastSeen = Date.now();
      hello();
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
      if (ev.code !== 4404 && ev.code !== 4403) return scheduleReconnect();
      stop(ev.code === 4403 ? t("refusedOrigin") : t("unavailable"));
    };
  }

  function stop(reason) { // unknown key or refused origin: retrying will not help
    stopped = ui.input.disabled = ui.send.disabled = true;
    setStatus("unavailable", reason);
  }

  /** Exponential back-off with jitter: ~1 s, 2 s, 4 s … capped at 30 s; reset by `ready`. */
  function scheduleReconnect() {
    if (stopped || reconnectTimer) return;
    setStatus("reconnecting", t("reconnecting"));
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

  // ---- open / close, keyboard ------------------------------------------------------------------
  let closing = false; // the customer closed and a CSAT card is asking first
  let askedOnClose = false; // once per conversation (clearMessages starts a new one)

  let openWhenReady = false;

  function open() {
    if (!ui) { openWhenReady = true; return; }
    isOpen = true;
    closing = false;
    store.set(K("open"), "1");
    ui.root.hidden = false;
    ui.app.setAttribute("data-open", "true");
    ui.launcher.setAttribute("aria-expanded", "true");
    setUnread(0);
    if (!ws) connect(); else if (isReady) setStatus("connected", t("connected"));
    scrollDown(true);
    ui.input.focus();
    emit("open", {});
  }

  function close() {
    if (!ui || !isOpen) return;
    isOpen = closing = false;
    store.set(K("open"), null);
    ui.root.hidden = true;
    ui.app.removeAttribute("data-open");
    ui.launcher.setAttribute("aria-expanded", "false");
    emit("close", {});
  }

  /** The customer closes: ask for a rating first, once, when the bot has answered (config). */
  function userClose() {
    if (!closing && !askedOnClose && config.csat_on_close && botReplied && !csatDone() && askCsat()) {
      closing = askedOnClose = true;
      ui.messages.querySelector(".fd-csat-score")?.focus();
      return;
    }
    close();
    ui.launcher.focus();
  }

  function focusables() {
    return Array.from(ui.root.querySelectorAll("button, a[href], textarea, input:not([tabindex='-1']), [tabindex='0']"))
      .filter((n) => !n.disabled && n.getClientRects().length);
  }

  function onPanelKey(ev) {
    if (ev.key === "Escape") { ev.preventDefault(); userClose(); return; }
    if (ev.key !== "Tab") return;
    const items = focusables(); // a focus trap: Tab and Shift+Tab cycle inside the open panel
    if (!items.length) return;
    const active = ui.host.shadowRoot.activeElement;
    const first = items[0], last = items[items.length - 1];
    if (ev.shiftKey && (active === first || !ui.root.contains(active))) { ev.preventDefault(); last.focus(); }
    else if (!ev.shiftKey && active === last) { ev.preventDefault(); first.focus(); }
  }

  // ---- input ------------------------------------------------------------------------------------
  function updateSend() {
    ui.send.disabled = stopped || ui.input.value.trim() === "";
  }

  function autosize() {
    ui.input.style.height = "auto";
    ui.input.style.height = `${Math.min(ui.input.scrollHeight, 160)}px`;
  }

  function submit() {
    const text = ui.input.value.trim();
    if (!text || stopped) return;
    ui.input.value = "";
    autosize();
    updateSend();
    sendText(text);
  }

  /** Queue a customer message (typed, or a quick reply's payload) and send it when the socket allows. */
  function sendText(text) {
    if (!text) return;
    const id = newId();
    clearQuickReplies();
    pending.set(id, text.slice(0, MAX_LEN));
    savePending();
    startTurn(id, text.slice(0, MAX_LEN));
    emit("message", { role: "customer", id, text });
    scrollDown(true);
    if (!ws) connect();
    pump();
  }

  /** Links in a customer's message (an uploaded file's URL) become clickable; the rest stays text. */
  function linkify(node) {
    const body = node.querySelector(".fd-text"), text = body.textContent;
    const match = /https?:\/\/\S+/.exec(text);
    const link = match && safeUrl(match[0]);
    if (!link) return;
    body.replaceChildren(text.slice(0, match.index), el("a", { href: link, target: "_blank", rel: "noopener noreferrer" }, match[0]), text.slice(match.index + match[0].length));
  }

  async function upload(fileObj) {
    if (!fileObj || !conversationId || !isReady) return showError(t("connectFirstFile"), "upload");
    const body = new FormData();
    body.append("conversation_id", conversationId);
    body.append("file", fileObj, fileObj.name);
    ui.attach.disabled = true;
    try {
      const res = await fetch(url(`/api/v1/widget/${encodeURIComponent(KEY)}/uploads`), { method: "POST", body });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error((data.error && data.error.message) || t("uploadFailed", { status: res.status }));
      const node = makeMsg("customer", data.message.text);
      node.setAttribute("data-message-id", data.message.id);
      node.setAttribute("data-state", "sent");
      linkify(node);
      ui.messages.append(node);
      scrollDown(true);
    } catch (e) {
      showError(String(e.message || e), "upload");
    } finally {
      ui.attach.disabled = false;
      ui.file.value = "";
    }
  }

  // ---- voice messages (config.voice): record, upload, show the transcript, play the reply --------
  let recorder = null;
  async function toggleRecording() {
    if (recorder) return recorder.stop();
    if (!conversationId || !isReady) return showError(t("connectFirstVoice"), "voice");
    let stream;
    try { stream = await navigator.mediaDevices.getUserMedia({ audio: true }); } catch (e) {
      return showError(t("noMic"), "voice");
    }
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (ev) => { if (ev.data.size) chunks.push(ev.data); };
    recorder.onstop = () => {
      stream.getTracks().forEach((t) => t.stop());
      setMic(false);
      recorder = null;
      sendVoice(new Blob(chunks, { type: chunks[0] ? chunks[0].type : "audio/webm" }));
    };
    recorder.start();
    setMic(true);
    setTimeout(() => recorder && recorder.state === "recording" && recorder.stop(), VOICE_MAX_MS);
  }

  function setMic(on) {
    ui.mic.setAttribute("aria-pressed", String(on));
    ui.mic.setAttribute("aria-label", t(on ? "stopRecording" : "record"));
    ui.mic.classList.toggle("fd-recording", on);
  }

  async function sendVoice(blob) {
    if (!blob.size) return;
    const body = new FormData();
    body.append("audio", blob, "voice");
    const node = makeMsg("customer", "🎤 …");
    node.setAttribute("data-state", "sending");
    ui.messages.append(node);
    scrollDown(true);
    ui.mic.disabled = true;
    try {
      const res = await fetch(url(`/api/v1/widget/${encodeURIComponent(KEY)}/voice?conversation_id=${encodeURIComponent(conversationId)}&client_id=${newId()}`), { method: "POST", body });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error((data.error && data.error.message) || t("voiceFailed", { status: res.status }));
      node.querySelector(".fd-text").textContent = data.transcript.text;
      node.setAttribute("data-message-id", data.message.id);
      node.setAttribute("data-state", "sent");
      emit("message", { role: "customer", id: data.message.id, text: data.transcript.text, voice: true });
      const r = data.reply;
      if (r) {
        const bubble = makeMsg("bot", "");
        bubble.setAttribute("data-message-id", r.message_id);
        bubble.classList.toggle("fd-fallback", !!r.fallback);
        renderReply(bubble, r.text, r.citations);
        renderQuickReplies(bubble, r.quick_replies);
        ui.messages.append(bubble);
        if (data.audio) attachAudio(bubble, data.audio.url);
        incoming("bot", r.message_id, r.text, r.citations);
      } else if (data.status !== "bot") showNotice(t("queued"));
      scrollDown(true);
    } catch (e) {
      node.setAttribute("data-state", "failed");
      showError(String(e.message || e), "voice");
    } finally {
      ui.mic.disabled = false;
    }
  }

  function wire() {
    ui.form.addEventListener("submit", (ev) => { ev.preventDefault(); submit(); ui.input.focus(); });
    ui.input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) { ev.preventDefault(); submit(); }
    });
    ui.input.addEventListener("input", () => { updateSend(); autosize(); });
    ui.messages.addEventListener("scroll", () => {
      const m = ui.messages;
      autoScroll = m.scrollHeight - m.scrollTop - m.clientHeight < 60;
    });
    ui.launcher.addEventListener("click", () => (isOpen ? userClose() : open()));
    ui.closeButton.addEventListener("click", userClose);
    ui.root.addEventListener("keydown", onPanelKey);
    if (ui.attach) {
      ui.attach.addEventListener("click", () => ui.file.click());
      ui.file.addEventListener("change", () => upload(ui.file.files[0]));
    }
    if (ui.mic) ui.mic.addEventListener("click", toggleRecording);
    window.addEventListener("online", () => { if (reconnectTimer) { attempt = 0; connect(); } });
  }

  // ---- the JS API (window.Frontdesk) ----------------------------------------------------------
  const api = {
    version: "1",
    open, close,
    toggle() { isOpen ? close() : open(); },
    /** A logged-in customer: {id, hash, name?, email?}; hash = HMAC-SHA256(identity secret, id) hex. */
    identify(who) {
      if (!who || who.id == null) { user = null; return; }
      user = { id: String(who.id), hash: who.hash, name: who.name, email: who.email };
      if (ws && ws.readyState === WebSocket.OPEN) hello();
    },
    setLocale(value) {
      locale = value ? String(value) : null;
      if (ui) relabel();
      if (locale && isReady) sendFrame({ type: "locale", locale });
    },
    /** A page event for this conversation (stored as attributes.events[name]); kept until a conversation exists. */
    track(name, data) {
      const frame = { type: "event", name: String(name), data: data && typeof data === "object" ? data : {} };
      if (!isReady || !sendFrame(frame)) tracked.push(frame);
    },
    /** Forget the conversation and the customer (call it when the customer logs out). */
    reset() {
      user = null;
      store.set(K("conversation_id"), (conversationId = null));
      pending.clear();
      savePending();
      setUnread(0);
      if (ui) clearMessages();
      if (ws) { const old = ws; ws = null; isReady = false; old.close(); }
      if (isOpen) connect();
    },
    push(call) { // the pre-load queue keeps working after load: Frontdesk.push(["identify", {...}])
      if (Array.isArray(call) && typeof api[call[0]] === "function" && call[0] !== "push") api[call[0]](...call.slice(1));
    },
    on(name, cb) {
      if (typeof cb !== "function") return () => {};
      if (!listeners.has(name)) listeners.set(name, new Set());
      listeners.get(name).add(cb);
      return () => listeners.get(name).delete(cb);
    },
  };
  window.Frontdesk = api;
  queued.forEach(api.push); // window.Frontdesk = window.Frontdesk || []; Frontdesk.push(["identify", {...}])

  // ---- start: config first, then the UI; the socket opens with the panel or a stored conversation
  async function boot(tries) {
    let res;
    try {
      res = await fetch(url(`/api/v1/widget/${encodeURIComponent(KEY)}/config`), { credentials: "omit" });
    } catch (e) {
      if (tries < 6) setTimeout(() => boot(tries + 1), 1000 * 2 ** tries);
      return;
    }
    if (!res.ok) {
      const data = await res.json().catch(() => ({}));
      console.warn(`Frontdesk: widget not shown: ${(data.error && data.error.message) || res.status}`);
      return;
    }
    config = await res.json();
    botName = String((config.bot && config.bot.name) || "");
    ui = buildUI();
    wire();
    setUnread(unread);
    window.dispatchEvent(new CustomEvent("frontdesk:ready"));
    if (store.get(K("open")) || openWhenReady) open();
    else if (conversationId || pending.size) connect();
  }
  const start = () => boot(0);
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
