/* ecozone — shared by the app (/) and the editors' page (/editor): language, API calls, errors.
 * Plain JS, no build step; everything is loaded from this service. */
(function () {
  "use strict";

  var ROOT = (document.documentElement.getAttribute("data-root") || "").replace(/\/$/, "");
  var LANG_KEY = "ecozone.lang";
  var tables = [];
  var listeners = [];
  var lang = "zh";
  try {
    var saved = window.localStorage.getItem(LANG_KEY);
    if (saved === "zh" || saved === "en") lang = saved;
  } catch (e) { /* storage may be off: stay in Chinese */ }

  var COMMON = {
    lang_toggle: { zh: "English", en: "中文" },
    lang_toggle_title: { zh: "Switch to English", en: "切换到中文" },
    error: { zh: "错误", en: "Error" },
    error_where: { zh: "位置", en: "Where" },
    network_error: { zh: "无法连接服务", en: "Could not reach the service" },
    loading: { zh: "加载中…", en: "Loading…" },
    nav_impact: { zh: "变更影响", en: "Change impact" }
  };

  /* Verdicts and effects: both languages always shown, one colour each, on every page. */
  var VERDICT = {
    prohibited: { zh: "禁止", en: "prohibited" },
    restricted: { zh: "限制", en: "restricted" },
    notice: { zh: "提示", en: "notice" },
    permitted: { zh: "未见限制", en: "permitted" },
    not_covered: { zh: "不在已载入规划范围内", en: "not covered — nothing was checked" }
  };
  var EFFECT_COLOR = { prohibited: "#c0392b", restricted: "#d9730d", notice: "#2874a6", permitted: "#2e8b57", not_covered: "#6c757d" };

  /* The bearer token: the editors' page's key, in this tab's sessionStorage only. */
  var TOKEN_KEY = "ecozone.token";
  function getToken() {
    try { return window.sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
  }
  function setToken(value) {
    try {
      if (value) window.sessionStorage.setItem(TOKEN_KEY, value);
      else window.sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* storage may be off: the token then lives in the field only */ }
  }

  function t(key, vars) {
    var entry = null;
    for (var i = tables.length - 1; i >= 0 && !entry; i--) entry = tables[i][key];
    entry = entry || COMMON[key];
    var text = entry ? (entry[lang] != null ? entry[lang] : entry.zh) : key;
    if (vars) {
      text = text.replace(/\{(\w+)\}/g, function (m, name) { return vars[name] != null ? vars[name] : m; });
    }
    return text;
  }

  /* A {zh, en} object from the API → text in the current language (falls back to the other). */
  function pick(obj) {
    if (obj == null) return "";
    if (typeof obj === "string") return obj;
    return obj[lang] || obj.zh || obj.en || "";
  }

  function applyStatic(root) {
    var scope = root || document;
    scope.querySelectorAll("[data-i18n]").forEach(function (el) { el.textContent = t(el.getAttribute("data-i18n")); });
    scope.querySelectorAll("[data-i18n-placeholder]").forEach(function (el) {
      el.setAttribute("placeholder", t(el.getAttribute("data-i18n-placeholder")));
    });
    scope.querySelectorAll("[data-i18n-title]").forEach(function (el) {
      el.setAttribute("title", t(el.getAttribute("data-i18n-title")));
    });
    scope.querySelectorAll("[data-i18n-aria]").forEach(function (el) {
      el.setAttribute("aria-label", t(el.getAttribute("data-i18n-aria")));
    });
  }

  function setLang(next) {
    lang = next === "en" ? "en" : "zh";
    try { window.localStorage.setItem(LANG_KEY, lang); } catch (e) { /* ignore */ }
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.documentElement.setAttribute("data-lang", lang);
    if (document.title && t("page_title") !== "page_title") document.title = t("page_title");
    applyStatic();
    listeners.forEach(function (fn) { fn(lang); });
  }

  function escapeHtml(value) {
    return String(value == null ? "" : value)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }

  /* An element: el("p", {class: "x", text: "…"}, [children]). */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v == null || v === false) return;
      if (k === "text") node.textContent = v;
      else if (k === "html") node.innerHTML = v;
      else if (k === "class") node.className = v;
      else if (k.slice(0, 2) === "on" && typeof v === "function") node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    });
    (children || []).forEach(function (c) {
      if (c == null || c === false) return;
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  /* An API error in the contract's shape → {status, code, message: {zh, en}, detail}. */
  function ApiError(status, body) {
    var err = (body && body.error) || {};
    this.status = status;
    this.code = err.code || ("http_" + status);
    this.message = err.message || { zh: "请求失败（HTTP " + status + "）", en: "Request failed (HTTP " + status + ")" };
    this.detail = err.detail || {};
  }

  function api(path, options) {
    var opts = options || {};
    var init = { method: opts.method || "GET", headers: Object.assign({ Accept: "application/json" }, opts.headers || {}) };
    if (opts.json !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(opts.json);
    } else if (opts.body !== undefined) {
      init.body = opts.body;
    }
    return fetch(ROOT + path, init).then(function (r) {
      var type = r.headers.get("content-type") || "";
      var parsed = type.indexOf("json") >= 0 ? r.json().catch(function () { return null; }) : r.text();
      return parsed.then(function (body) {
        if (!r.ok) throw new ApiError(r.status, typeof body === "object" ? body : null);
        return body;
      });
    }, function () {
      throw new ApiError(0, { error: { code: "network", message: { zh: COMMON.network_error.zh, en: COMMON.network_error.en } } });
    });
  }

  /* An error box: code, the message in both languages (current one first) and detail.where. */
  function errorBox(error) {
    var e = error instanceof ApiError ? error : new ApiError(0, { error: { code: "client", message: { zh: String(error), en: String(error) } } });
    var other = lang === "zh" ? "en" : "zh";
    var where = e.detail && (e.detail.where || e.detail.field);
    return el("div", { class: "error-box", role: "alert", "data-code": e.code }, [
      el("div", { class: "error-head" }, [
        el("strong", { text: t("error") }), " ",
        el("code", { class: "error-code", text: e.code + (e.status ? " · HTTP " + e.status : "") })
      ]),
      el("p", { class: "error-msg", lang: lang === "zh" ? "zh-CN" : "en", text: e.message[lang] || "" }),
      el("p", { class: "error-msg other", lang: other === "zh" ? "zh-CN" : "en", text: e.message[other] || "" }),
      where ? el("p", { class: "error-where" }, [t("error_where") + ": ", el("code", { text: String(where) })]) : null
    ]);
  }

  function fmtNumber(value, digits) {
    if (value == null || isNaN(value)) return "—";
    return Number(value).toLocaleString("en-US", { minimumFractionDigits: digits || 0, maximumFractionDigits: digits || 0 });
  }

  window.EZ = {
    root: ROOT,
    t: t,
    pick: pick,
    addStrings: function (table) { tables.push(table); },
    lang: function () { return lang; },
    setLang: setLang,
    onLang: function (fn) { listeners.push(fn); },
    applyStatic: applyStatic,
    escapeHtml: escapeHtml,
    el: el,
    api: api,
    ApiError: ApiError,
    errorBox: errorBox,
    fmtNumber: fmtNumber,
    getToken: getToken,
    setToken: setToken,
    VERDICT: VERDICT,
    EFFECT_COLOR: EFFECT_COLOR,
    /* Wire the language button and apply the language once the page's strings are added. */
    start: function () {
      var button = document.getElementById("lang-toggle");
      if (button) button.addEventListener("click", function () { setLang(lang === "zh" ? "en" : "zh"); });
      setLang(lang);
    }
  };
})();
