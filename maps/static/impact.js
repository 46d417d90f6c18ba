/* ecozone change-impact page: the projects with their saved checks (GET /v1/projects,
 * /v1/projects/{id}) and the saved checks whose verdict or binding rules changed when a layer or
 * the rule catalog changed (GET /v1/impact), newest first: before → after, the rules that came
 * or went and the layer versions responsible. Read-only; plain JS, everything from the service. */
(function () {
  "use strict";

  var EZ = window.EZ;
  var t = EZ.t, pick = EZ.pick, el = EZ.el;

  EZ.addStrings({
    page_title: { zh: "ecozone · 项目与变更影响", en: "ecozone · Projects and change impact" },
    impact_title: { zh: "项目与变更影响", en: "Projects and change impact" },
    nav_app: { zh: "选址核查", en: "Siting check" },
    nav_editor: { zh: "图层编辑", en: "Layer editor" },
    nav_api: { zh: "接口文档", en: "API docs" },
    impact_heading: { zh: "变更影响", en: "Change impact" },
    impact_hint: {
      zh: "图层或规则变更后，已保存的核查会自动重新核查；下表列出结论或约束条款发生变化的核查（最新在前），以及造成变化的条款和图层版本。",
      en: "Saved checks are re-run whenever a layer or the rules change; these are the ones whose verdict or binding rules changed (newest first), with the rules and the layer versions that made the difference."
    },
    since_label: { zh: "自此时间起", en: "Since" },
    filter: { zh: "筛选", en: "Filter" },
    show_all: { zh: "全部", en: "All" },
    impact_count: { zh: "共 {n} 条变化", en: "{n} changes" },
    impact_none: { zh: "暂无变化：已保存的核查结论均未因数据变更而改变。", en: "No changes: no saved check's answer has changed with the data." },
    col_time: { zh: "时间", en: "Time" },
    col_project: { zh: "项目", en: "Project" },
    col_check: { zh: "核查", en: "Check" },
    col_change: { zh: "结论：之前 → 之后", en: "Verdict: before → after" },
    col_added: { zh: "新增条款", en: "Rules added" },
    col_removed: { zh: "移除条款", en: "Rules removed" },
    col_layers: { zh: "图层版本", en: "Layer versions" },
    col_cause: { zh: "原因", en: "Cause" },
    col_label: { zh: "标注", en: "Label" },
    col_site: { zh: "场地", en: "Site" },
    col_types: { zh: "项目类型", en: "Project type" },
    col_verdict: { zh: "结论", en: "Verdict" },
    col_rules: { zh: "条款", en: "Rules" },
    col_saved: { zh: "保存时间", en: "Saved" },
    col_updated: { zh: "最近核查", en: "Last re-run" },
    col_data: { zh: "数据版本", en: "Data version" },
    projects_heading: { zh: "项目与已保存核查", en: "Projects and saved checks" },
    projects_hint: {
      zh: "在选址核查页的结论面板中“保存到项目”。每个核查都按当前数据重新核查后的结论显示。",
      en: "Save checks from the verdict panel of the siting page (“Save to project”). Each shows its answer on the current data."
    },
    projects_none: { zh: "暂无项目。", en: "No projects yet." },
    checks_none: { zh: "该项目尚无已保存的核查。", en: "No saved checks in this project." },
    created_by: { zh: "由 {by} 创建于", en: "created by {by} at" },
    changed_n: { zh: "已变更 ×{n}", en: "changed ×{n}" },
    site_point: { zh: "点", en: "Point" },
    site_line: { zh: "线", en: "Line" },
    site_polygon: { zh: "面", en: "Polygon" },
    vertices: { zh: "{n} 个顶点", en: "{n} vertices" },
    all_types: { zh: "全部（未指定）", en: "all (none given)" },
    none: { zh: "—", en: "—" },
    no_label: { zh: "（无标注）", en: "(no label)" }
  });

  var VERDICT = EZ.VERDICT, COLOR = EZ.EFFECT_COLOR;

  var state = { types: {}, projects: [], details: {}, impact: [], since: "" };

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  /* An ISO time → "2026-11-30 20:14:27" in the browser's time zone; the ISO stays in datetime. */
  function timeNode(iso) {
    if (!iso) return el("span", { text: "—" });
    var d = new Date(iso);
    var text = isNaN(d) ? iso : d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    return el("time", { datetime: iso, title: iso, text: text });
  }

  function badge(verdict) {
    var v = VERDICT[verdict] || { zh: verdict || "?", en: verdict || "?" };
    return el("span", { class: "effect-badge effect-" + verdict, "data-verdict": verdict, style: "--c:" + (COLOR[verdict] || "#555") }, [
      el("span", { lang: "zh-CN", text: v.zh }), " ", el("span", { lang: "en", class: "en", text: v.en })
    ]);
  }

  function ruleList(ids, cls) {
    if (!ids || !ids.length) return el("span", { class: "hint", text: t("none") });
    return el("ul", { class: "rule-list " + cls }, ids.map(function (id) { return el("li", { "data-rule": id }, [el("code", { text: id })]); }));
  }

  function typeName(code) {
    var ty = state.types[code];
    return ty ? pick(ty.name) : code;
  }

  function siteText(request) {
    var site = (request && request.site) || {};
    var input = (request && request.input) || {};
    var kind = site.type || "";
    var text;
    if (kind === "Point") {
      text = t("site_point") + " " + site.coordinates[0].toFixed(5) + ", " + site.coordinates[1].toFixed(5);
    } else if (kind.indexOf("Line") >= 0) {
      var n = kind === "LineString" ? site.coordinates.length : site.coordinates.reduce(function (a, l) { return a + l.length; }, 0);
      text = t("site_line") + " · " + t("vertices", { n: n });
    } else if (kind.indexOf("Polygon") >= 0) {
      text = t("site_polygon");
    } else {
      text = kind;
    }
    if (input.crs && input.crs !== "EPSG:4326") text += " (" + input.crs + ")";
    return text;
  }

  function projectName(id) {
    var p = state.projects.filter(function (x) { return x.id === id; })[0];
    return p ? p.name : id;
  }

  /* Newest first: by time, then by the entry's id (entries of one publish share a time). */
  function newestFirst(entries) {
    return entries.slice().sort(function (a, b) {
      var ta = Date.parse(a.at) || 0, tb = Date.parse(b.at) || 0;
      return tb - ta || (b.id > a.id ? 1 : b.id < a.id ? -1 : 0);
    });
  }

  function renderImpact() {
    var box = document.getElementById("impact-list");
    box.innerHTML = "";
    var entries = newestFirst(state.impact);
    document.getElementById("impact-count").textContent = t("impact_count", { n: entries.length });
    if (!entries.length) {
      box.appendChild(el("p", { class: "empty-note", id: "impact-none", text: t("impact_none") }));
      return;
    }
    var rows = entries.map(function (e) {
      var before = e.before || {}, after = e.after || {};
      return el("tr", { "data-entry": e.id, "data-check": e.check_id, "data-project": e.project_id,
        "data-before": before.verdict, "data-after": after.verdict }, [
        el("td", { class: "c-time" }, [timeNode(e.at)]),
        el("td", { class: "c-project" }, [el("a", { href: "#project-" + e.project_id, text: projectName(e.project_id) })]),
        el("td", { class: "c-check" }, [e.label ? el("span", { class: "check-label", text: e.label }) : el("span", { class: "hint", text: t("no_label") }),
          el("br"), el("code", { class: "hint", text: e.check_id })]),
        el("td", { class: "c-change verdict-change" }, [badge(before.verdict), el("span", { class: "arrow", text: "→" }), badge(after.verdict)]),
        el("td", { class: "c-added" }, [ruleList(e.rules_added, "added")]),
        el("td", { class: "c-removed" }, [ruleList(e.rules_removed, "removed")]),
        el("td", { class: "c-layers" }, [(e.layers || []).length ? el("ul", { class: "rule-list" }, e.layers.map(function (l) {
          return el("li", { class: "layer-versions", "data-layer": l.id, text: l.id + " v" + l.version_before + " → v" + l.version_after });
        })) : el("span", { class: "hint", text: t("none") })]),
        el("td", { class: "c-cause" }, [el("code", { text: e.cause || "" })])
      ]);
    });
    box.appendChild(el("div", { class: "table-scroll impact-scroll" }, [
      el("table", { class: "data impact-table", id: "impact-table" }, [
        el("thead", {}, [el("tr", {}, ["col_time", "col_project", "col_check", "col_change", "col_added", "col_removed", "col_layers", "col_cause"]
          .map(function (k) { return el("th", { text: t(k) }); }))]),
        el("tbody", {}, rows)
      ])
    ]));
  }

  function renderProjects() {
    var box = document.getElementById("projects");
    box.innerHTML = "";
    if (!state.projects.length) {
      box.appendChild(el("p", { class: "empty-note", text: t("projects_none") }));
      return;
    }
    var changed = {};
    state.impact.forEach(function (e) { changed[e.check_id] = (changed[e.check_id] || 0) + 1; });
    state.projects.forEach(function (p) {
      var detail = state.details[p.id] || { checks: [] };
      var checks = detail.checks || [];
      var block = el("article", { class: "project-block", id: "project-" + p.id, "data-project": p.id }, [
        el("h3", {}, [el("span", { class: "project-name", text: p.name }),
          el("span", { class: "hint" }, [el("code", { text: p.id }), " · ", t("created_by", { by: p.created_by || "?" }), " ", timeNode(p.created_at)])])
      ]);
      if (!checks.length) {
        block.appendChild(el("p", { class: "empty-note", text: t("checks_none") }));
      } else {
        block.appendChild(el("div", { class: "table-scroll" }, [el("table", { class: "data checks-table" }, [
          el("thead", {}, [el("tr", {}, ["col_label", "col_site", "col_types", "col_verdict", "col_rules", "col_saved", "col_updated", "col_data"]
            .map(function (k) { return el("th", { text: t(k) }); }))]),
          el("tbody", {}, checks.map(function (c) {
            var summary = c.summary || {};
            var req = c.request || {};
            var types = req.project_types || [];
            var n = changed[c.id] || 0;
            return el("tr", { "data-check": c.id, "data-verdict": summary.verdict, class: n ? "changed" : "" }, [
              el("td", { class: "c-label" }, [req.label ? el("span", { text: req.label }) : el("span", { class: "hint", text: t("no_label") }),
                n ? el("span", { class: "tag tag-illustrative", text: " " + t("changed_n", { n: n }) }) : null]),
              el("td", { class: "c-site", text: siteText(req) }),
              el("td", { class: "c-types", text: types.length ? types.map(typeName).join(" + ") : t("all_types") }),
              el("td", { class: "c-verdict" }, [badge(summary.verdict)]),
              el("td", { class: "c-rules" }, [ruleList(summary.rule_ids, "plain")]),
              el("td", {}, [timeNode(c.created_at)]),
              el("td", {}, [timeNode(c.updated_at)]),
              el("td", {}, [el("code", { text: c.data_version || summary.data_version || "" })])
            ]);
          }))
        ])]));
      }
      box.appendChild(block);
    });
  }

  function loadImpact() {
    var q = state.since ? "?since=" + encodeURIComponent(state.since) : "";
    return EZ.api("/v1/impact" + q).then(function (list) { state.impact = list; });
  }

  function loadProjects() {
    return EZ.api("/v1/projects").then(function (projects) {
      state.projects = projects.slice().sort(function (a, b) { return (Date.parse(b.created_at) || 0) - (Date.parse(a.created_at) || 0); });
      return Promise.all(state.projects.map(function (p) {
        return EZ.api("/v1/projects/" + encodeURIComponent(p.id)).then(function (d) { state.details[p.id] = d; });
      }));
    });
  }

  function fail(where, err) {
    var box = document.getElementById(where);
    box.innerHTML = "";
    box.appendChild(EZ.errorBox(err));
  }

  document.getElementById("impact-filter").addEventListener("submit", function (e) {
    e.preventDefault();
    var value = document.getElementById("impact-since").value;
    var d = value ? new Date(value) : null;
    state.since = d && !isNaN(d) ? d.toISOString() : "";
    loadImpact().then(function () { renderImpact(); renderProjects(); }, function (err) { fail("impact-list", err); });
  });
  document.getElementById("impact-all").addEventListener("click", function () {
    document.getElementById("impact-since").value = "";
    state.since = "";
    loadImpact().then(function () { renderImpact(); renderProjects(); }, function (err) { fail("impact-list", err); });
  });

  EZ.onLang(function () {
    if (document.body.getAttribute("data-ready")) { renderImpact(); renderProjects(); }
  });

  EZ.start();
  var ready = Promise.all([
    EZ.api("/v1/project-types").then(function (types) { types.forEach(function (ty) { state.types[ty.code] = ty; }); }),
    loadProjects(),
    loadImpact()
  ]).then(function () {
    renderImpact();
    renderProjects();
    document.body.setAttribute("data-ready", "true");
    if (location.hash) {
      var target = document.getElementById(location.hash.slice(1));
      if (target) target.scrollIntoView();
    }
  }).catch(function (err) {
    fail("impact-list", err);
    document.body.setAttribute("data-ready", "error");
  });

  window.ecozoneImpact = { state: state, ready: ready };
})();
