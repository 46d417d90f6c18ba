/* ecozone editors' page: upload a layer file (a new layer, or a new version of an existing one),
 * read the validation report, browse versions and roll back. Writes need an editor token
 * (`ecozone token create --role editor --name NAME`), kept in this tab's sessionStorage only. */
(function () {
  "use strict";

  var EZ = window.EZ;
  var t = EZ.t, pick = EZ.pick, el = EZ.el, fmt = EZ.fmtNumber;

  EZ.addStrings({
    page_title: { zh: "ecozone · 图层编辑", en: "ecozone · Layer editor" },
    editor_title: { zh: "图层编辑", en: "Layer editor" },
    nav_app: { zh: "选址核查", en: "Siting check" },
    nav_api: { zh: "接口文档", en: "API docs" },
    token_title: { zh: "令牌", en: "Token" },
    token_hint: {
      zh: "发布与回滚需要 editor 或 admin 角色的令牌（ecozone token create --role editor --name 姓名）。令牌只保存在本标签页（sessionStorage），关闭即清除。",
      en: "Publishing and rolling back need a token of role editor or admin (ecozone token create --role editor --name NAME). It is kept in this tab only (sessionStorage) and gone when the tab closes."
    },
    token_placeholder: { zh: "粘贴令牌", en: "Paste the token" },
    token_save: { zh: "保存", en: "Save" },
    token_forget: { zh: "清除", en: "Forget" },
    token_saved: { zh: "已保存令牌（仅本标签页）", en: "Token kept for this tab" },
    token_none: { zh: "未设置令牌：只能查看", en: "No token: read only" },
    upload_title: { zh: "上传图层", en: "Upload a layer" },
    f_file: { zh: "文件", en: "File" },
    f_id: { zh: "图层 ID", en: "Layer id" },
    f_id_placeholder: { zh: "如 red_lines（小写字母开头）", en: "e.g. red_lines (starts with a letter)" },
    f_kind: { zh: "类型", en: "Kind" },
    f_name: { zh: "名称", en: "Name" },
    f_crs: { zh: "坐标系", en: "CRS" },
    f_crs_placeholder: { zh: "文件未带坐标系时填写，如 EPSG:4545", en: "When the file carries none, e.g. EPSG:4545" },
    f_layer: { zh: "GeoPackage 图层", en: "GeoPackage table" },
    f_layer_placeholder: { zh: "多图层 GeoPackage 时填写", en: "For a multi-table GeoPackage" },
    f_source_crs: { zh: "偏移坐标", en: "Shifted coordinates" },
    source_none: { zh: "无（真实坐标）", en: "None (true coordinates)" },
    source_gcj02: { zh: "GCJ-02（高德/腾讯底图上采集）", en: "GCJ-02 (digitised on a Gaode / Tencent map)" },
    source_bd09: { zh: "BD-09（百度底图上采集）", en: "BD-09 (digitised on a Baidu map)" },
    f_strict: { zh: "严格模式：无效几何直接拒绝，不自动修复", en: "Strict: reject invalid geometries instead of repairing them" },
    f_comment: { zh: "说明", en: "Comment" },
    upload_submit: { zh: "上传并发布", en: "Upload and publish" },
    uploading: { zh: "上传与校验中…", en: "Uploading and validating…" },
    mode_create: { zh: "将新建图层 {id}（POST /v1/layers）", en: "Creates layer {id} (POST /v1/layers)" },
    mode_update: { zh: "将发布 {id} 的新版本（当前 v{v}；PUT /v1/layers/{id}；类型不变）", en: "Publishes a new version of {id} (now v{v}; PUT /v1/layers/{id}; kind unchanged)" },
    mode_empty: { zh: "填写新 ID 新建图层，或选择已有 ID 发布新版本。", en: "A new id creates a layer; an existing id publishes a new version." },
    kind_required: { zh: "必填属性", en: "Required attributes" },
    kind_optional: { zh: "可选属性", en: "Optional attributes" },
    kind_geometry: { zh: "几何", en: "Geometry" },
    kind_values: { zh: "取值", en: "values" },
    published: { zh: "已发布 {id} v{v}", en: "Published {id} v{v}" },
    report_title: { zh: "校验报告", en: "Validation report" },
    report_features: { zh: "要素数", en: "Features" },
    report_source_crs: { zh: "源坐标系", en: "Source CRS" },
    report_repaired: { zh: "已修复几何", en: "Repaired geometries" },
    report_repaired_idx: { zh: "序号", en: "indexes" },
    report_warnings: { zh: "警告", en: "Warnings" },
    report_no_warnings: { zh: "无警告", en: "No warnings" },
    report_data_version: { zh: "数据版本", en: "Data version" },
    layers_title: { zh: "图层与版本", en: "Layers and versions" },
    layers_hint: { zh: "点击一行查看版本历史；回滚会以旧版本内容发布一个新版本。", en: "Click a row for its version history; a rollback publishes an old version's content as a new version." },
    col_id: { zh: "ID", en: "Id" },
    col_name: { zh: "名称", en: "Name" },
    col_kind: { zh: "类型", en: "Kind" },
    col_version: { zh: "版本", en: "Version" },
    col_features: { zh: "要素", en: "Features" },
    col_updated: { zh: "更新时间", en: "Updated" },
    col_created: { zh: "发布时间", en: "Published" },
    col_by: { zh: "发布人", en: "By" },
    col_comment: { zh: "说明", en: "Comment" },
    col_crs: { zh: "源坐标系", en: "Source CRS" },
    col_actions: { zh: "操作", en: "Actions" },
    versions_of: { zh: "{id} 的版本", en: "Versions of {id}" },
    current: { zh: "当前", en: "current" },
    restored_from: { zh: "回滚自 v{v}", en: "restored from v{v}" },
    rollback: { zh: "回滚到此版本", en: "Roll back to this" },
    rollback_confirm: { zh: "确认回滚到 v{v}？", en: "Confirm roll back to v{v}?" },
    rolled_back: { zh: "已回滚：{id} 现为 v{v}（内容来自 v{from}）", en: "Rolled back: {id} is now v{v} (content of v{from})" },
    download: { zh: "下载", en: "Download" },
    edit_version: { zh: "发布新版本", en: "New version" },
    select_file: { zh: "请选择文件", en: "Choose a file" }
  });

  var state = { layers: [], kinds: [], selected: null, versions: null };

  // --- token -----------------------------------------------------------------------------------
  var getToken = EZ.getToken;  /* the same sessionStorage key as the map's "save to project" */
  function setToken(value) {
    EZ.setToken(value);
    renderToken();
  }
  function renderToken() {
    var has = !!getToken();
    var s = document.getElementById("token-state");
    s.textContent = has ? t("token_saved") : t("token_none");
    s.className = "token-state" + (has ? " ok" : "");
    document.getElementById("token").value = getToken();
  }
  function authHeaders() {
    var token = getToken();
    return token ? { Authorization: "Bearer " + token } : {};
  }
  document.getElementById("token-form").addEventListener("submit", function (e) {
    e.preventDefault();
    setToken(document.getElementById("token").value.trim());
  });
  document.getElementById("token-forget").addEventListener("click", function () { setToken(""); });

  // --- kinds -----------------------------------------------------------------------------------
  function renderKinds() {
    var select = document.getElementById("f-kind");
    var current = select.value;
    select.innerHTML = "";
    state.kinds.forEach(function (k) {
      select.appendChild(el("option", { value: k.kind, text: (k.name && k.name.zh ? k.name.zh + " · " : "") + k.kind }));
    });
    if (current) select.value = current;
    renderKindHelp();
  }
  function renderKindHelp() {
    var box = document.getElementById("kind-help");
    box.innerHTML = "";
    var kind = state.kinds.filter(function (k) { return k.kind === document.getElementById("f-kind").value; })[0];
    if (!kind) return;
    function attrs(list) {
      if (!list.length) return [t("none_attr")];
      return list.map(function (a) {
        var values = kind.enums && kind.enums[a];
        return el("span", {}, [el("code", { text: a }), values ? " (" + values.join(" / ") + ")" : "", " "]);
      });
    }
    box.appendChild(el("div", {}, [t("kind_geometry") + ": ", (kind.geometry || []).join(" / ")]));
    box.appendChild(el("div", {}, [el("strong", { text: t("kind_required") + ": " })].concat(kind.required.length ? attrs(kind.required) : ["—"])));
    if (kind.optional.length) box.appendChild(el("div", {}, [t("kind_optional") + ": "].concat(attrs(kind.optional))));
  }
  document.getElementById("f-kind").addEventListener("change", renderKindHelp);

  // --- upload ----------------------------------------------------------------------------------
  function existing(id) { return state.layers.filter(function (l) { return l.id === id; })[0]; }

  function renderUploadMode() {
    var id = document.getElementById("f-id").value.trim();
    var layer = existing(id);
    var mode = document.getElementById("upload-mode");
    var kind = document.getElementById("f-kind");
    if (!id) mode.textContent = t("mode_empty");
    else if (layer) mode.textContent = t("mode_update", { id: id, v: layer.version });
    else mode.textContent = t("mode_create", { id: id });
    kind.disabled = !!layer;
    if (layer) { kind.value = layer.kind; renderKindHelp(); }
  }
  document.getElementById("f-id").addEventListener("input", renderUploadMode);

  document.getElementById("upload-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var out = document.getElementById("upload-result");
    out.innerHTML = "";
    var file = document.getElementById("f-file").files[0];
    if (!file) { out.appendChild(el("p", { class: "form-error", text: t("select_file") })); return; }
    var id = document.getElementById("f-id").value.trim();
    var layer = existing(id);
    var form = new FormData();
    form.append("file", file, file.name);
    if (!layer) {
      form.append("id", id);
      form.append("kind", document.getElementById("f-kind").value);
    }
    [["name", "f-name"], ["crs", "f-crs"], ["layer", "f-layer"], ["source_crs", "f-source-crs"], ["comment", "f-comment"]]
      .forEach(function (pair) {
        var v = document.getElementById(pair[1]).value.trim();
        if (v) form.append(pair[0], v);
      });
    form.append("strict", document.getElementById("f-strict").checked ? "true" : "false");
    var path = layer ? "/v1/layers/" + encodeURIComponent(id) : "/v1/layers";
    var busy = document.getElementById("upload-busy");
    var submit = document.getElementById("upload-submit");
    busy.textContent = t("uploading");
    submit.disabled = true;
    EZ.api(path, { method: layer ? "PUT" : "POST", body: form, headers: authHeaders() })
      .then(function (answer) {
        out.appendChild(reportBox(answer));
        // The next upload starts clean: a new file, a new comment.
        document.getElementById("f-file").value = "";
        document.getElementById("f-comment").value = "";
        return loadLayers().then(function () { return showVersions(answer.id); });
      }, function (err) {
        out.appendChild(EZ.errorBox(err));
      })
      .then(function () {
        busy.textContent = "";
        submit.disabled = false;
      });
  });

  function reportBox(answer) {
    var v = answer.validation || {};
    var warnings = v.warnings || [];
    var rows = [
      [t("report_features"), fmt(v.feature_count != null ? v.feature_count : answer.feature_count)],
      [t("report_source_crs"), v.source_crs || answer.source_crs || "—"],
      [t("report_repaired"), String(v.repaired_count || 0) + (v.repaired && v.repaired.length ? " (" + t("report_repaired_idx") + ": " + v.repaired.join(", ") + ")" : "")],
      [t("report_data_version"), answer.data_version || "—"]
    ];
    return el("div", { class: "report-box", id: "validation-report", "data-repaired": v.repaired_count || 0, "data-warnings": warnings.length }, [
      el("h3", { text: t("published", { id: answer.id, v: answer.version }) }),
      el("div", { class: "hint", text: t("report_title") }),
      el("dl", { class: "facts" }, rows.map(function (r) {
        return el("div", { class: "fact" }, [el("dt", { text: r[0] }), el("dd", { text: r[1] })]);
      })),
      el("div", {}, [el("strong", { text: t("report_warnings") + " (" + warnings.length + ")" })]),
      warnings.length
        ? el("ul", {}, warnings.map(function (w) {
          return el("li", { class: "warning-item", "data-code": w.code }, [el("code", { text: w.code }), " ", pick(w.message)]);
        }))
        : el("p", { class: "hint", text: t("report_no_warnings") })
    ]);
  }

  // --- layers and versions ---------------------------------------------------------------------
  function loadLayers() {
    return EZ.api("/v1/layers").then(function (layers) {
      state.layers = layers;
      renderLayers();
      var list = document.getElementById("layer-ids");
      list.innerHTML = "";
      layers.forEach(function (l) { list.appendChild(el("option", { value: l.id, text: l.name })); });
      renderUploadMode();
    });
  }

  function shortTime(iso) {
    if (!iso) return "—";
    return iso.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", " UTC");
  }

  function renderLayers() {
    var wrap = document.getElementById("layers-table-wrap");
    wrap.innerHTML = "";
    var head = el("tr", {}, ["col_id", "col_name", "col_kind", "col_version", "col_features", "col_updated", "col_actions"]
      .map(function (k) { return el("th", { text: t(k) }); }));
    var body = el("tbody", {}, state.layers.map(function (l) {
      var row = el("tr", { "data-layer": l.id, class: state.selected === l.id ? "selected" : "" }, [
        el("td", {}, [el("code", { text: l.id })]),
        el("td", { text: l.name }),
        el("td", { text: l.kind }),
        el("td", { class: "num layer-version", text: "v" + l.version }),
        el("td", { class: "num", text: fmt(l.feature_count) }),
        el("td", { text: shortTime(l.updated_at) }),
        el("td", { class: "actions" }, [
          el("a", { href: EZ.root + "/v1/layers/" + encodeURIComponent(l.id) + "/download" + (l.kind === "raster" ? "?format=tif" : "?format=geojson"), text: t("download") }), " ",
          el("button", { type: "button", class: "link-button", text: t("edit_version"), onclick: function (e) {
            e.stopPropagation();
            document.getElementById("f-id").value = l.id;
            document.getElementById("f-name").value = "";
            renderUploadMode();
            document.getElementById("f-file").focus();
          } })
        ])
      ]);
      row.addEventListener("click", function () { showVersions(l.id); });
      row.style.cursor = "pointer";
      return row;
    }));
    wrap.appendChild(el("div", { class: "table-scroll" }, [
      el("table", { class: "data", id: "layers-table" }, [el("thead", {}, [head]), body])
    ]));
  }

  function showVersions(id) {
    state.selected = id;
    document.querySelectorAll("#layers-table tbody tr").forEach(function (tr) {
      tr.classList.toggle("selected", tr.getAttribute("data-layer") === id);
    });
    return EZ.api("/v1/layers/" + encodeURIComponent(id) + "/versions").then(function (versions) {
      state.versions = { id: id, list: versions };
      renderVersions();
    }, function (err) {
      var box = document.getElementById("versions");
      box.innerHTML = "";
      box.appendChild(EZ.errorBox(err));
    });
  }

  function renderVersions(message) {
    var box = document.getElementById("versions");
    box.innerHTML = "";
    if (!state.versions) return;
    var id = state.versions.id;
    box.appendChild(el("h3", { text: t("versions_of", { id: id }) }));
    if (message) box.appendChild(message);
    var list = state.versions.list.slice().sort(function (a, b) { return b.version - a.version; });
    var head = el("tr", {}, ["col_version", "col_created", "col_by", "col_features", "col_crs", "col_comment", "col_actions"]
      .map(function (k) { return el("th", { text: t(k) }); }));
    var rows = list.map(function (v) {
      var note = [];
      if (v.current) note.push(el("span", { class: "current-mark", text: " · " + t("current") }));
      if (v.restored_from) note.push(el("span", { class: "hint", text: " · " + t("restored_from", { v: v.restored_from }) }));
      var actions = [el("a", { href: EZ.root + "/v1/layers/" + encodeURIComponent(id) + "/download?version=" + v.version, text: t("download") })];
      if (!v.current) {
        var button = el("button", { type: "button", class: "danger rollback", "data-version": v.version, text: t("rollback") });
        var armed = false;
        button.addEventListener("click", function () {
          if (!armed) {
            armed = true;
            button.textContent = t("rollback_confirm", { v: v.version });
            return;
          }
          button.disabled = true;
          rollback(id, v.version);
        });
        actions.push(" ", button);
      }
      return el("tr", { class: v.current ? "current" : "", "data-version": v.version }, [
        el("td", { class: "num" }, ["v" + v.version].concat(note)),
        el("td", { text: shortTime(v.created_at) }),
        el("td", { text: v.created_by || "—" }),
        el("td", { class: "num", text: fmt(v.feature_count) }),
        el("td", { text: v.source_crs || "—" }),
        el("td", { text: v.comment || "" }),
        el("td", { class: "actions" }, actions)
      ]);
    });
    box.appendChild(el("table", { class: "data", id: "versions-table" }, [el("thead", {}, [head]), el("tbody", {}, rows)]));
  }

  function rollback(id, version) {
    return EZ.api("/v1/layers/" + encodeURIComponent(id) + "/rollback", {
      method: "POST", json: { version: version }, headers: authHeaders()
    }).then(function (info) {
      return loadLayers().then(function () { return showVersions(id); }).then(function () {
        renderVersions(el("p", { class: "report-box", id: "rollback-result", text: t("rolled_back", { id: id, v: info.version, from: version }) }));
      });
    }, function (err) {
      renderVersions(EZ.errorBox(err));
    });
  }

  // --- language and start ----------------------------------------------------------------------
  EZ.addStrings({ none_attr: { zh: "无", en: "none" } });
  EZ.onLang(function () {
    renderToken();
    if (state.kinds.length) renderKinds();
    if (state.layers.length) { renderLayers(); renderUploadMode(); }
    if (state.versions) renderVersions();
  });
  EZ.start();
  Promise.all([
    EZ.api("/v1/layer-kinds").then(function (kinds) { state.kinds = kinds; renderKinds(); }),
    loadLayers()
  ]).then(function () {
    document.body.setAttribute("data-ready", "true");
  }, function (err) {
    document.getElementById("layers-table-wrap").appendChild(EZ.errorBox(err));
    document.body.setAttribute("data-ready", "error");
  });
})();
