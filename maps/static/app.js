/* ecozone browser app: a map of the loaded layers, a project-type picker, a site (clicked,
 * drawn or typed in any supported CRS) and the service's verdict with its findings, citations
 * and geometry. Plain JS on Leaflet, Leaflet-Geoman and Leaflet.VectorGrid served from /vendor/.
 * Everything this page loads comes from the service: no basemap unless one is configured. */
(function () {
  "use strict";

  var EZ = window.EZ;
  var t = EZ.t, pick = EZ.pick, el = EZ.el, fmt = EZ.fmtNumber;

  EZ.addStrings({
    page_title: { zh: "ecozone · 生态环境分区管控与选址核查", en: "ecozone · Ecological zoning and siting checks" },
    title: { zh: "重庆生态环境分区管控与选址核查", en: "Chongqing ecological zoning & siting check" },
    nav_editor: { zh: "图层编辑", en: "Layer editor" },
    nav_api: { zh: "接口文档", en: "API docs" },
    map_label: { zh: "地图：点击选择场地", en: "Map: click to choose a site" },
    types_title: { zh: "项目类型", en: "Project type" },
    types_hint: {
      zh: "可多选：项目兼具多种特征时（如化工且高噪声），任一类型受约束即适用。不选则列出场地涉及的全部条款。",
      en: "Pick several when a project has several characteristics (e.g. chemical and noisy): a rule applies when it binds any. None: every rule at the site is listed."
    },
    types_filter: { zh: "筛选类型（中文、英文或代码）", en: "Filter types (Chinese, English or code)" },
    types_clear: { zh: "清除", en: "Clear" },
    types_none: { zh: "未选类型：列出全部条款", en: "No type chosen: all rules listed" },
    types_chosen: { zh: "已选：", en: "Chosen: " },
    characteristic: { zh: "特征", en: "characteristic" },
    also_under: { zh: "亦属", en: "also under" },
    site_title: { zh: "场地", en: "Site" },
    mode_point: { zh: "点选", en: "Click a point" },
    mode_line: { zh: "画线", en: "Draw a line" },
    mode_polygon: { zh: "画面", en: "Draw a polygon" },
    mode_coords: { zh: "输入坐标", en: "Type coordinates" },
    hint_point: { zh: "在地图上单击一点作为场地。", en: "Click the map to place the site." },
    hint_line: { zh: "在地图上逐点单击绘制线状工程，单击最后一点结束。", en: "Click the map vertex by vertex; click the last vertex again to finish the line." },
    hint_polygon: { zh: "在地图上逐点单击绘制地块，单击第一个点闭合。", en: "Click the map vertex by vertex; click the first vertex to close the polygon." },
    hint_coords: { zh: "输入坐标并选择坐标系，服务端负责转换。", en: "Type coordinates and choose their CRS; the service converts them." },
    hint_idle: { zh: "选择一种方式输入场地。", en: "Choose how to enter the site." },
    crs_label: { zh: "坐标系", en: "Coordinate reference system" },
    crs_4326: { zh: "WGS84 经纬度 (EPSG:4326)", en: "WGS84 lon/lat (EPSG:4326)" },
    crs_4490: { zh: "CGCS2000 经纬度 (EPSG:4490)", en: "CGCS2000 lon/lat (EPSG:4490)" },
    crs_4545: { zh: "CGCS2000 高斯-克吕格 3° 中央经线 108°E (EPSG:4545)", en: "CGCS2000 Gauss-Kruger 3° CM 108°E (EPSG:4545)" },
    crs_4544: { zh: "CGCS2000 高斯-克吕格 3° 中央经线 105°E (EPSG:4544)", en: "CGCS2000 Gauss-Kruger 3° CM 105°E (EPSG:4544)" },
    crs_4546: { zh: "CGCS2000 高斯-克吕格 3° 中央经线 111°E (EPSG:4546)", en: "CGCS2000 Gauss-Kruger 3° CM 111°E (EPSG:4546)" },
    crs_gcj02: { zh: "GCJ-02 高德/腾讯地图坐标", en: "GCJ-02 (Gaode / Tencent map clicks)" },
    crs_bd09: { zh: "BD-09 百度地图坐标", en: "BD-09 (Baidu map clicks)" },
    coords_label: { zh: "坐标（X, Y）", en: "Coordinates (X, Y)" },
    coords_placeholder: { zh: "107.75915, 29.32441", en: "107.75915, 29.32441" },
    coords_hint: {
      zh: "每行一个点：X（经度或东坐标）, Y（纬度或北坐标）。一个点为点位；多个点为线或面。也可粘贴 GeoJSON 几何。",
      en: "One vertex a line: X (longitude or easting), Y (latitude or northing). One vertex: a point; several: a line or polygon. GeoJSON geometry also accepted."
    },
    coords_kind: { zh: "几何类型", en: "Geometry type" },
    kind_auto: { zh: "自动（一点为点；首尾相同为面；否则为线）", en: "Automatic (one vertex: point; closed: polygon; else line)" },
    kind_point: { zh: "点", en: "Point" },
    kind_line: { zh: "线", en: "Line" },
    kind_polygon: { zh: "面", en: "Polygon" },
    coords_bad: { zh: "无法读取第 {n} 行：“{line}”。应为两个数字，如 107.75915, 29.32441。", en: "Cannot read line {n}: “{line}”. Expected two numbers, e.g. 107.75915, 29.32441." },
    coords_empty: { zh: "请输入坐标。", en: "Please type coordinates." },
    coords_few_line: { zh: "线至少需要两个点。", en: "A line needs at least two vertices." },
    coords_few_polygon: { zh: "面至少需要三个不同的点。", en: "A polygon needs at least three distinct vertices." },
    coords_one_point: { zh: "点只能有一个坐标。", en: "A point has exactly one vertex." },
    coords_json: { zh: "GeoJSON 无法解析：{msg}", en: "Cannot parse the GeoJSON: {msg}" },
    check: { zh: "核查", en: "Check" },
    recheck: { zh: "重新核查", en: "Check again" },
    clear_site: { zh: "清除场地", en: "Clear site" },
    result_title: { zh: "核查结论", en: "Verdict" },
    result_empty: { zh: "选择项目类型并在地图上选定场地，即可查看结论、依据条款及距离。", en: "Choose a project type and a site on the map to see the verdict, the rules that decide it and the distances." },
    checking: { zh: "核查中…", en: "Checking…" },
    layers_title: { zh: "图层", en: "Layers" },
    layers_loading: { zh: "加载图层…", en: "Loading layers…" },
    layer_illustrative: { zh: "示意", en: "illustrative" },
    layer_tiles: { zh: "矢量切片", en: "tiled" },
    layer_features: { zh: "{n} 个要素", en: "{n} features" },
    layer_load_failed: { zh: "图层加载失败", en: "Layer failed to load" },
    layers_toggle: { zh: "收起/展开图层列表", en: "Collapse / expand the layer list" },
    verdict_prohibited: { zh: "至少一条禁止性条款适用于该项目类型：不应在此选址。", en: "At least one prohibiting rule applies to this project type: do not site it here." },
    verdict_restricted: { zh: "涉及限制/严控条款：须论证并经审批。", en: "Restricting rules apply: the project needs justification and approval." },
    verdict_notice: { zh: "无禁止或限制条款，但有需注意的提示。", en: "No prohibiting or restricting rule, but notices apply." },
    verdict_permitted: { zh: "已载入规划中未见约束该项目类型的条款。", en: "No rule of the loaded plans binds this project type here." },
    verdict_not_covered: { zh: "场地不在任何已载入规划的辖区内：未检查任何条款，不能视为允许。", en: "The site lies outside every jurisdiction whose plan is loaded: no rule was checked, so this is not a permission." },
    for_types: { zh: "项目类型", en: "Project type" },
    all_types: { zh: "全部（未指定）", en: "all (none given)" },
    coverage: { zh: "覆盖范围", en: "Coverage" },
    coverage_ratio: { zh: "已载入规划覆盖 {pct}", en: "{pct} inside loaded plans" },
    jurisdictions: { zh: "所属辖区", en: "Jurisdictions" },
    no_plan: { zh: "未载入规划", en: "no plan loaded" },
    none: { zh: "无", en: "none" },
    site: { zh: "场地", en: "Site" },
    site_point: { zh: "点位", en: "Point" },
    site_line: { zh: "线", en: "Line" },
    site_polygon: { zh: "面", en: "Polygon" },
    site_area: { zh: "面积", en: "Area" },
    site_length: { zh: "长度", en: "Length" },
    input_crs: { zh: "输入坐标系", en: "Input CRS" },
    findings: { zh: "适用条款", en: "Findings" },
    findings_none: { zh: "没有约束该项目类型的条款。", en: "No rule binds this project type here." },
    conditional: { zh: "视具体类型而定的条款（不计入结论）", en: "Conditional findings (do not set the verdict)" },
    conditional_hint: {
      zh: "以下条款只约束所选类型的某些子类型；若项目属于该子类型，则同样适用。",
      en: "These rules bind only some sub-types of the chosen type; they apply if the project is one of them."
    },
    superseded: { zh: "被更具体条款取代", en: "Superseded by more specific rules" },
    control_units: { zh: "环境管控单元（三线一单）", en: "Environmental control units" },
    unit_priority: { zh: "优先保护单元", en: "priority protection" },
    unit_key: { zh: "重点管控单元", en: "key control" },
    unit_general: { zh: "一般管控单元", en: "general control" },
    access_list: { zh: "准入清单", en: "Access list" },
    distance: { zh: "距离", en: "Distance" },
    threshold: { zh: "管控距离", en: "Threshold" },
    inside: { zh: "位于其中", en: "inside" },
    overlap: { zh: "重叠面积", en: "Overlap" },
    overlap_of_site: { zh: "占场地 {pct}", en: "{pct} of the site" },
    feature: { zh: "要素", en: "Feature" },
    segments: { zh: "位于管控区内的里程段", en: "Chainage inside the zone" },
    exception: { zh: "例外/条件", en: "Exception / condition" },
    citation: { zh: "出处", en: "Citation" },
    verbatim: { zh: "原文", en: "Verbatim text" },
    show_on_map: { zh: "在地图上显示", en: "Show on map" },
    message_other: { zh: "EN", en: "中" },
    message_other_title: { zh: "查看英文", en: "View in Chinese" },
    links: { zh: "输出", en: "Outputs" },
    link_map: { zh: "专题地图（folium）", en: "Map of this check (folium)" },
    link_pdf: { zh: "选址报告（PDF）", en: "Siting report (PDF)" },
    data_version: { zh: "数据版本", en: "Data version" },
    illustrative_note: {
      zh: "本结论所依据的图层含示意数据，非法定边界，仅供演示。",
      en: "This verdict rests on illustrative layers, not legal boundaries: for demonstration only."
    },
    distance_label: { zh: "{d} m", en: "{d} m" },
    basemap_none: { zh: "无底图（离线可用）", en: "No basemap (works offline)" },
    assets_missing: { zh: "缺少前端依赖：", en: "Front-end packages missing: " },
    effect_prohibited: { zh: "禁止", en: "prohibited" },
    effect_restricted: { zh: "限制", en: "restricted" },
    effect_notice: { zh: "提示", en: "notice" },
    // tabs
    tab_check: { zh: "选址核查", en: "Siting check" },
    tab_suit: { zh: "选址适宜性", en: "Where may it go" },
    // routes: chainage
    chainage_title: { zh: "里程段（桩号）", en: "Chainage" },
    route_length: { zh: "线路长度", en: "Route length" },
    col_rule: { zh: "条款", en: "Rule" },
    col_effect: { zh: "效力", en: "Effect" },
    col_from: { zh: "起点", en: "From" },
    col_to: { zh: "终点", en: "To" },
    col_length: { zh: "长度 (m)", en: "Length (m)" },
    chainage_hint: {
      zh: "线路上的彩色粗线为位于各条款管控区内的里程段：红色禁止，橙色限制，蓝色提示。",
      en: "Thick coloured bands on the route mark the chainage inside each rule's zone: red prohibited, orange restricted, blue notice."
    },
    chainage_none: { zh: "线路未进入约束该项目类型的管控区。", en: "The route enters no zone of a rule binding this project type." },
    // saving into a project
    save_title: { zh: "保存到项目", en: "Save to project" },
    save_hint: {
      zh: "保存后，图层或规则变更时将自动重新核查，结论变化见“变更影响”页。需任一角色的令牌（仅保存在本标签页）。",
      en: "A saved check is re-run whenever a layer or the rules change; changed verdicts are listed on the change-impact page. Needs a token of any role (kept in this tab only)."
    },
    save_token: { zh: "令牌", en: "Token" },
    save_token_placeholder: { zh: "粘贴令牌", en: "Paste the token" },
    save_project: { zh: "项目", en: "Project" },
    save_project_choose: { zh: "— 选择项目 —", en: "— choose a project —" },
    save_new: { zh: "新建项目", en: "New project" },
    save_new_placeholder: { zh: "新项目名称", en: "New project's name" },
    save_create: { zh: "新建", en: "Create" },
    save_label: { zh: "标注", en: "Label" },
    save_label_placeholder: { zh: "如：备选址 A", en: "e.g. Alternative A" },
    save_submit: { zh: "保存核查", en: "Save this check" },
    save_need_token: { zh: "请先填写令牌。", en: "A token is required." },
    save_need_project: { zh: "请选择或新建项目。", en: "Choose or create a project." },
    save_need_name: { zh: "请填写项目名称。", en: "Type the project's name." },
    saved: { zh: "已保存到“{project}”（核查 {id}）。", en: "Saved to “{project}” (check {id})." },
    project_created: { zh: "已新建项目“{name}”。", en: "Created project “{name}”." },
    view_impact: { zh: "查看项目与变更影响", en: "Projects and change impact" },
    saving: { zh: "保存中…", en: "Saving…" },
    // where may it go
    suit_title: { zh: "选址适宜性：可以建在哪里", en: "Where may it go" },
    suit_hint: {
      zh: "选择项目类型（上方，可多选）和范围（辖区或在地图上绘制的多边形），查看范围内各处的结论。",
      en: "Choose the project type(s) above and an area (a jurisdiction or a polygon drawn on the map) to see the verdict everywhere in it."
    },
    suit_by_jur: { zh: "按辖区", en: "A jurisdiction" },
    suit_by_draw: { zh: "绘制范围", en: "Draw an area" },
    suit_jurisdiction: { zh: "辖区", en: "Jurisdiction" },
    suit_run: { zh: "分析", en: "Analyse" },
    suit_draw_hint: { zh: "在地图上逐点单击绘制范围，单击第一个点闭合，随即分析。", en: "Click the map vertex by vertex; click the first vertex to close the area, which is then analysed." },
    suit_drawn: { zh: "已绘制范围：{area}", en: "Area drawn: {area}" },
    suit_redraw: { zh: "重新绘制", en: "Draw again" },
    suit_need_area: { zh: "请先在地图上绘制范围。", en: "Draw the area on the map first." },
    suit_running: { zh: "分析中…", en: "Analysing…" },
    suit_result_title: { zh: "适宜性分区", en: "Suitability" },
    suit_empty: { zh: "选择范围后点击“分析”。", en: "Choose an area and press Analyse." },
    suit_area_drawn: { zh: "绘制的范围", en: "Drawn area" },
    suit_for: { zh: "项目类型", en: "Project type" },
    suit_area_label: { zh: "范围", en: "Area" },
    suit_verdict_col: { zh: "结论", en: "Verdict" },
    suit_area_col: { zh: "面积 (km²)", en: "Area (km²)" },
    suit_share_col: { zh: "占比", en: "Share" },
    suit_total: { zh: "合计", en: "Total" },
    suit_download: { zh: "下载约束栅格 constraints.tif", en: "Download constraints.tif" },
    suit_resolution: { zh: "像元", en: "Pixel" },
    suit_tif_only_jur: { zh: "约束栅格（constraints.tif）仅按辖区提供。", en: "The constraints raster (constraints.tif) is available per jurisdiction only." },
    suit_click_hint: { zh: "点击地图上的着色区域，查看该处的约束条款。", en: "Click a shaded area on the map for the rules that bind there." },
    suit_selected: { zh: "所选区域", en: "Selected area" },
    suit_rules: { zh: "约束条款", en: "Binding rules" },
    suit_no_rules: { zh: "无约束条款", en: "No rule binds here" },
    suit_polygons: { zh: "{n} 个多边形", en: "{n} polygons" },
    legend_title: { zh: "适宜性", en: "Suitability" }
  });

  var VERDICT = EZ.VERDICT, EFFECT_COLOR = EZ.EFFECT_COLOR;
  var EFFECT_RANK = { notice: 1, restricted: 2, prohibited: 3 };

  /* Legend: a colour and zh/en names per layer kind; rank orders layers bottom → top. */
  var KINDS = {
    district: { zh: "行政区", en: "District", color: "#4a5160", rank: 0 },
    control_unit: { zh: "环境管控单元", en: "Environmental control unit", color: "#e9a03b", rank: 1 },
    ecological_space: { zh: "生态空间", en: "Ecological space", color: "#9ccc65", rank: 2 },
    forest_land: { zh: "林地", en: "Forest land", color: "#388e3c", rank: 3 },
    basic_farmland: { zh: "永久基本农田", en: "Permanent basic farmland", color: "#d4b106", rank: 4 },
    urban_boundary: { zh: "城镇开发边界", en: "Urban development boundary", color: "#616161", rank: 5 },
    noise_zone: { zh: "声环境功能区", en: "Noise function zone", color: "#f6b26b", rank: 6 },
    fuel_ban_zone: { zh: "高污染燃料禁燃区", en: "High-polluting fuel ban zone", color: "#7e7e7e", rank: 7 },
    fireworks_zone: { zh: "烟花爆竹禁放区", en: "Fireworks ban zone", color: "#f28b82", rank: 8 },
    livestock_zone: { zh: "畜禽禁养/限养区", en: "Livestock no-farming / limited zone", color: "#b39ddb", rank: 9 },
    settlement: { zh: "人口聚集区/城镇建成区", en: "Settlement / built-up area", color: "#8d8d8d", rank: 10 },
    barrier_zone: { zh: "生态屏障区", en: "Ecological barrier zone", color: "#2e7d32", rank: 11 },
    river_basin: { zh: "跨界河流流域", en: "Cross-border river basin", color: "#90caf9", rank: 12 },
    mountain_zone: { zh: "山体管控区", en: "Mountain control zone", color: "#689f38", rank: 13 },
    geohazard_zone: { zh: "地质灾害危险区/易发区", en: "Geohazard zone", color: "#a0522d", rank: 14 },
    drawdown_zone: { zh: "消落带", en: "Reservoir drawdown zone", color: "#64b5f6", rank: 15 },
    protected_area: { zh: "自然保护地", en: "Protected area", color: "#1b9e4b", rank: 16 },
    red_line: { zh: "生态保护红线", en: "Ecological protection red line", color: "#d62728", rank: 17 },
    water_source: { zh: "饮用水水源保护区", en: "Drinking-water source protection zone", color: "#00a3c4", rank: 18 },
    industrial_park: { zh: "工业园区", en: "Industrial park", color: "#7b1fa2", rank: 19 },
    contaminated_site: { zh: "污染地块", en: "Contaminated site", color: "#8b0000", rank: 20 },
    tailings_pond: { zh: "尾矿库", en: "Tailings pond", color: "#6a3d9a", rank: 21 },
    mine_restoration: { zh: "矿山生态修复", en: "Mine restoration", color: "#8c510a", rank: 22 },
    sensitive_site: { zh: "环境敏感目标", en: "Sensitive receptor", color: "#d81b60", rank: 23 },
    river: { zh: "河流（岸线）", en: "River (shoreline)", color: "#1f6fb4", rank: 24 }
  };
  var OTHER_KIND = { zh: "其他", en: "Other", color: "#777777", rank: 12 };
  var DEFAULT_ON = { district: true, red_line: true, river: true, protected_area: true, water_source: true };
  var VECTORGRID_MIN_FEATURES = 3000;
  var UNIT_CLASS = { priority: "unit_priority", key: "unit_key", general: "unit_general" };

  var state = {
    config: null,
    types: [],
    selected: [],          // project type codes, in the order chosen
    layers: {},            // id → {info, on, leaflet, mode, pane, row, loading}
    layerOrder: [],
    mode: "point",
    site: null,            // {geometry, crs}
    answer: null,
    seq: 0,
    tab: "check",
    checkMode: "point",    // the site mode to restore when coming back to the check tab
    suit: { areaKind: "jurisdiction", polygon: null, answer: null, request: null, seq: 0, selected: null,
            jurisdictions: null, rules: null, resolution: "30" },
    projects: null,        // GET /v1/projects, once the save box is shown
    save: { project: "", label: "", newName: "", status: null }
  };

  // --- map -------------------------------------------------------------------------------------
  var map = L.map("map", { zoomControl: true, attributionControl: true, minZoom: 5, maxZoom: 19 })
    .setView([29.8, 107.9], 8);
  map.attributionControl.setPrefix(false);
  L.control.scale({ metric: true, imperial: false, position: "bottomleft" }).addTo(map);
  map.createPane("ezSuit").style.zIndex = 600;
  map.createPane("ezResult").style.zIndex = 620;
  map.createPane("ezChainage").style.zIndex = 630;
  map.createPane("ezSite").style.zIndex = 640;
  map.createPane("ezLabels").style.zIndex = 660;
  var resultLayer = L.featureGroup().addTo(map);
  var siteLayer = L.featureGroup().addTo(map);
  var suitLayer = L.featureGroup();          // the suitability partition (shown in its tab)
  var suitAreaLayer = L.featureGroup();      // the drawn area it was asked for
  var byFinding = {};      // finding key → [leaflet layers] for highlighting
  var chainageOverlays = [];  // {rule_id, effect, from_m, to_m, layer} drawn on the route
  /* A hatch pattern for "not covered" areas: SVG fills may name a pattern anywhere in the page.
   * The HTML parser puts <svg> markup in the SVG namespace by itself. */
  (function addHatch() {
    var holder = document.createElement("div");
    holder.innerHTML = '<svg width="0" height="0" aria-hidden="true" style="position:absolute"><defs>' +
      '<pattern id="ez-hatch" patternUnits="userSpaceOnUse" width="9" height="9" patternTransform="rotate(45)">' +
      '<rect width="9" height="9" fill="#adb5bd" fill-opacity="0.35"></rect>' +
      '<rect width="3" height="9" fill="#6c757d"></rect></pattern></defs></svg>';
    document.body.appendChild(holder.firstChild);
  })();

  // --- layer switcher (a Leaflet control) ------------------------------------------------------
  var LayerSwitcher = L.Control.extend({
    options: { position: "topright" },
    onAdd: function () {
      var box = el("div", { class: "ez-layers leaflet-bar", id: "layer-switcher" });
      var head = el("div", { class: "ez-layers-head" }, [
        el("span", { class: "ez-layers-title", "data-i18n": "layers_title", text: t("layers_title") }),
        el("button", { type: "button", class: "ez-layers-collapse", "data-i18n-title": "layers_toggle", title: t("layers_toggle"),
          text: "▾", onclick: function () {
            box.classList.toggle("collapsed");
            this.textContent = box.classList.contains("collapsed") ? "▸" : "▾";
          } })
      ]);
      this.list = el("ul", { class: "ez-layers-list", id: "layer-list" }, [el("li", { class: "hint", text: t("layers_loading") })]);
      this.basemap = el("div", { class: "ez-basemap-row" });
      box.appendChild(head);
      box.appendChild(this.list);
      box.appendChild(this.basemap);
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    }
  });
  var switcher = new LayerSwitcher().addTo(map);

  function switcherWidth() {
    var box = document.getElementById("layer-switcher");
    return box && !box.classList.contains("collapsed") ? box.offsetWidth : 0;
  }

  /* fitBounds options that keep what is fitted clear of the layer switcher. */
  function fitOptions(maxZoom) {
    return { maxZoom: maxZoom, paddingTopLeft: [30, 30], paddingBottomRight: [switcherWidth() + 30, 30] };
  }

  function kindOf(kind) { return KINDS[kind] || OTHER_KIND; }

  function isIllustrative(id) {
    return !!(state.config && state.config.illustrative_layers.indexOf(id) >= 0);
  }

  function layerLabel(info) {
    var k = kindOf(info.kind);
    if (EZ.lang() === "zh" || !KINDS[info.kind]) return info.name;
    var same = state.layerOrder.filter(function (id) { return state.layers[id].info.kind === info.kind; });
    return same.length > 1 ? k.en + " (" + info.id + ")" : k.en;
  }

  function swatch(kind, geometryType) {
    var k = kindOf(kind);
    var g = (geometryType || "").toLowerCase();
    var shape = kind === "river" || g.indexOf("line") >= 0 ? "line" : (g.indexOf("point") >= 0 ? "point" : "area");
    if (kind === "district") shape = "outline";
    return el("span", { class: "swatch swatch-" + shape, style: "--c:" + k.color, "aria-hidden": "true" });
  }

  function renderLayerList() {
    var list = switcher.list;
    list.innerHTML = "";
    state.layerOrder.forEach(function (id) {
      var entry = state.layers[id];
      var info = entry.info;
      var checkbox = el("input", { type: "checkbox", id: "layer-" + id, "data-layer": id });
      checkbox.checked = entry.on;
      checkbox.addEventListener("change", function () { setLayer(id, checkbox.checked); });
      var tags = [];
      var nameText = layerLabel(info);
      if (isIllustrative(id) && nameText.indexOf("示意") < 0) tags.push(el("span", { class: "tag tag-illustrative", text: t("layer_illustrative") }));
      if (isLarge(info)) tags.push(el("span", { class: "tag", text: t("layer_tiles") }));
      var row = el("li", { class: "ez-layer-row" + (entry.failed ? " failed" : ""), "data-layer": id,
        title: info.name + " · " + kindOf(info.kind).zh + " / " + kindOf(info.kind).en + " · " + id + " v" + info.version }, [
        checkbox,
        el("label", { for: "layer-" + id }, [
          swatch(info.kind, info.geometry_type),
          el("span", { class: "layer-text" }, [el("span", { class: "layer-name", text: nameText })].concat(tags))
        ]),
        el("span", { class: "layer-meta", text: fmt(info.feature_count) })
      ]);
      if (entry.loading) row.classList.add("loading");
      entry.row = row;
      list.appendChild(row);
    });
    var basemapRow = switcher.basemap;
    basemapRow.innerHTML = "";
    var cfg = state.config;
    if (cfg && !cfg.basemap) basemapRow.appendChild(el("span", { class: "hint", text: t("basemap_none") }));
    if (cfg && cfg.basemap_note) basemapRow.appendChild(el("p", { class: "hint warn", text: pick(cfg.basemap_note) }));
  }

  function featureTooltip(props, info) {
    var name = props.name || props.code || props.feature_id || props.id || "";
    var parts = ["<strong>" + EZ.escapeHtml(name) + "</strong>", EZ.escapeHtml(layerLabel(info))];
    ["code", "category", "level", "zone", "zone_class", "river_class", "unit_class", "hazard", "grade",
      "noise_class", "settlement_class", "status", "protection_grade"].forEach(function (k) {
      if (props[k] != null && props[k] !== "" && k !== "code") parts.push(k + ": " + EZ.escapeHtml(props[k]));
      if (k === "code" && props.code && props.name) parts.push("code: " + EZ.escapeHtml(props.code));
    });
    if (props.illustrative === true) parts.push("<em>" + t("layer_illustrative") + "</em>");
    return parts.join("<br>");
  }

  function layerStyle(kind) {
    var c = kindOf(kind).color;
    if (kind === "district") return { color: c, weight: 1.6, opacity: 0.9, fill: true, fillColor: c, fillOpacity: 0.02, dashArray: "6 3" };
    if (kind === "river") return { color: c, weight: 2.5, opacity: 0.9, fillColor: c, fillOpacity: 0.45 };
    if (kind === "control_unit" || kind === "ecological_space" || kind === "basic_farmland" || kind === "forest_land")
      return { color: c, weight: 1, opacity: 0.7, fillColor: c, fillOpacity: 0.12 };
    return { color: c, weight: 1.4, opacity: 0.9, fillColor: c, fillOpacity: 0.28 };
  }

  function paneFor(id, kind) {
    var name = "ez-l-" + id;
    if (!map.getPane(name)) map.createPane(name).style.zIndex = String(400 + kindOf(kind).rank * 4);
    return name;
  }

  function isLarge(info) { return (info.feature_count || 0) > VECTORGRID_MIN_FEATURES; }

  /* A large layer is never downloaded whole: the service cuts it into Mapbox vector tiles
   * (/v1/tiles/{layer}/{z}/{x}/{y}.mvt, an empty tile is a 204), requested only where the map
   * shows it and only inside the layer's bbox. The tiles' layer is named after the layer id. */
  function buildTiled(id) {
    var entry = state.layers[id];
    var info = entry.info;
    var style = layerStyle(info.kind);
    var vgStyle = Object.assign({}, style, { fill: style.fill !== false, radius: 3 });
    var styles = {};
    styles[id] = function () { return vgStyle; };
    var opts = {
      pane: paneFor(id, info.kind),
      rendererFactory: L.svg.tile,
      vectorTileLayerStyles: styles,
      interactive: false,
      maxZoom: 19,
      maxNativeZoom: 18,
      fetchOptions: { credentials: "same-origin" }
    };
    var bb = info.bbox;
    if (bb && bb.length === 4) opts.bounds = L.latLngBounds([[bb[1], bb[0]], [bb[3], bb[2]]]).pad(0.01);
    entry.mode = "mvt";
    return L.vectorGrid.protobuf(EZ.root + "/v1/tiles/" + encodeURIComponent(id) + "/{z}/{x}/{y}.mvt", opts);
  }

  function buildLayer(id, geojson) {
    var entry = state.layers[id];
    var info = entry.info;
    var pane = paneFor(id, info.kind);
    var style = layerStyle(info.kind);
    entry.mode = "geojson";
    return L.geoJSON(geojson, {
      pane: pane,
      style: function () { return Object.assign({ className: "ez-feature ez-kind-" + info.kind }, style); },
      pointToLayer: function (feature, latlng) {
        return L.circleMarker(latlng, Object.assign({ pane: pane, radius: 5, className: "ez-feature ez-kind-" + info.kind }, style, { fillOpacity: 0.7 }));
      },
      onEachFeature: function (feature, layer) {
        layer.bindTooltip(function () { return featureTooltip(feature.properties || {}, info); }, { sticky: true, direction: "top", opacity: 0.95 });
      }
    });
  }

  /* A small layer's GeoJSON (downloaded once; also read for the jurisdictions' names). */
  function layerData(id) {
    var entry = state.layers[id];
    if (!entry.data) {
      entry.data = EZ.api("/v1/layers/" + encodeURIComponent(id) + "/download?format=geojson");
      entry.data.catch(function () { entry.data = null; });
    }
    return entry.data;
  }

  function setLayer(id, on) {
    var entry = state.layers[id];
    entry.on = on;
    if (!on) {
      if (entry.leaflet) map.removeLayer(entry.leaflet);
      return Promise.resolve();
    }
    if (entry.leaflet) {
      entry.leaflet.addTo(map);
      return Promise.resolve();
    }
    if (isLarge(entry.info) && L.vectorGrid && L.vectorGrid.protobuf) {
      entry.leaflet = buildTiled(id);
      entry.leaflet.addTo(map);
      return Promise.resolve();
    }
    if (entry.loading) return entry.loading;
    if (entry.row) entry.row.classList.add("loading");
    entry.loading = layerData(id)
      .then(function (geojson) {
        entry.leaflet = buildLayer(id, geojson);
        entry.failed = false;
        if (entry.on) entry.leaflet.addTo(map);
      })
      .catch(function (err) {
        entry.failed = true;
        entry.on = false;
        notice(EZ.errorBox(err), "layer-" + id);
      })
      .then(function () {
        entry.loading = null;
        if (entry.row) entry.row.classList.remove("loading");
        if (entry.failed) renderLayerList();
      });
    return entry.loading;
  }

  function notice(node, key) {
    var box = document.getElementById("notices");
    var old = key && box.querySelector('[data-key="' + key + '"]');
    if (old) old.remove();
    var wrap = el("div", { class: "notice", "data-key": key || "" }, [node,
      el("button", { type: "button", class: "notice-close", "aria-label": "close", text: "×", onclick: function () { wrap.remove(); } })]);
    box.appendChild(wrap);
  }

  function loadLayers() {
    return EZ.api("/v1/layers").then(function (layers) {
      var vectors = layers.filter(function (l) { return l.kind !== "raster"; });
      vectors.sort(function (a, b) {
        return kindOf(b.kind).rank - kindOf(a.kind).rank || a.id.localeCompare(b.id);
      });
      state.layerOrder = vectors.map(function (l) { return l.id; });
      vectors.forEach(function (info) {
        state.layers[info.id] = { info: info, on: !!DEFAULT_ON[info.kind], leaflet: null, mode: null, loading: null };
      });
      renderLayerList();
      var districts = vectors.filter(function (l) { return l.kind === "district"; });
      var extent = (districts.length ? districts : vectors).map(function (l) { return l.bbox; }).filter(Boolean);
      if (extent.length) {
        var b = L.latLngBounds([]);
        extent.forEach(function (bb) { b.extend([[bb[1], bb[0]], [bb[3], bb[2]]]); });
        map.fitBounds(b, { paddingTopLeft: [10, 10], paddingBottomRight: [switcherWidth() + 10, 10] });
      }
      return Promise.all(state.layerOrder.filter(function (id) { return state.layers[id].on; })
        .map(function (id) { return setLayer(id, true); }));
    });
  }

  // --- app config: basemap, banner ------------------------------------------------------------
  function applyConfig(cfg) {
    state.config = cfg;
    document.getElementById("banner").hidden = !(cfg.illustrative_layers && cfg.illustrative_layers.length);
    if (cfg.basemap) {
      var opts = { maxZoom: cfg.basemap.max_zoom || 18, attribution: cfg.basemap.attribution || "", pane: "tilePane" };
      if (cfg.basemap.subdomains) opts.subdomains = cfg.basemap.subdomains;
      L.tileLayer(cfg.basemap.url, opts).addTo(map);
      if (cfg.basemap.overlay) {
        L.tileLayer(cfg.basemap.overlay.url, Object.assign({}, opts, { subdomains: cfg.basemap.overlay.subdomains || opts.subdomains })).addTo(map);
      }
      document.querySelector(".map").classList.add("has-basemap");
    }
    if (cfg.missing_assets && cfg.missing_assets.length) {
      notice(el("p", { text: t("assets_missing") + cfg.missing_assets.join(", ") }), "assets");
    }
  }

  // --- project types ---------------------------------------------------------------------------
  function typeName(code) {
    var found = state.types.filter(function (ty) { return ty.code === code; })[0];
    return found ? pick(found.name) : code;
  }

  function renderTypes() {
    var tree = document.getElementById("type-tree");
    var filter = (document.getElementById("type-filter").value || "").trim().toLowerCase();
    tree.innerHTML = "";
    var codes = {};
    state.types.forEach(function (ty) { codes[ty.code] = ty; });
    var children = {};
    var roots = [];
    state.types.forEach(function (ty) {
      if (ty.parent && codes[ty.parent] && ty.parent !== ty.code) (children[ty.parent] = children[ty.parent] || []).push(ty);
      else roots.push(ty);
    });
    var seen = {};
    function matches(ty) {
      if (!filter) return true;
      return [ty.code, ty.name.zh, ty.name.en].join(" ").toLowerCase().indexOf(filter) >= 0;
    }
    function subtreeMatches(ty, guard) {
      if (matches(ty)) return true;
      if (guard[ty.code]) return false;
      guard[ty.code] = true;
      return (children[ty.code] || []).some(function (c) { return subtreeMatches(c, guard); });
    }
    function add(ty, depth) {
      if (seen[ty.code]) return;
      seen[ty.code] = true;
      if (subtreeMatches(ty, {})) {
        var id = "type-" + ty.code;
        var box = el("input", { type: "checkbox", id: id, value: ty.code, "data-type": ty.code });
        box.checked = state.selected.indexOf(ty.code) >= 0;
        box.addEventListener("change", function () {
          var i = state.selected.indexOf(ty.code);
          if (box.checked && i < 0) state.selected.push(ty.code);
          if (!box.checked && i >= 0) state.selected.splice(i, 1);
          renderChosen();
          typesChanged();
        });
        var others = (ty.parents || []).filter(function (p) { return p !== ty.parent; });
        var other = EZ.lang() === "zh" ? ty.name.en : ty.name.zh;
        tree.appendChild(el("div", { class: "type-row" + (matches(ty) ? "" : " dim") + (ty.characteristic ? " is-characteristic" : ""), style: "--depth:" + depth, "data-code": ty.code }, [
          box,
          el("label", { for: id, title: ty.code }, [
            el("span", { class: "type-name", text: pick(ty.name) }),
            el("span", { class: "type-other", text: other }),
            ty.characteristic ? el("span", { class: "tag tag-char", text: t("characteristic") }) : null,
            el("code", { class: "type-code", text: ty.code }),
            others.length ? el("span", { class: "type-also", text: t("also_under") + " " + others.map(typeName).join("、") }) : null
          ])
        ]));
      }
      (children[ty.code] || []).forEach(function (c) { add(c, depth + 1); });
    }
    roots.forEach(function (r) { add(r, 0); });
    state.types.forEach(function (ty) { if (!seen[ty.code]) add(ty, 0); });
    renderChosen();
  }

  function renderChosen() {
    var chosen = document.getElementById("type-chosen");
    chosen.textContent = state.selected.length
      ? t("types_chosen") + state.selected.map(typeName).join(" + ")
      : t("types_none");
  }

  /* A new choice of types re-asks what is on screen: the check, or the suitability map. */
  function typesChanged() {
    if (state.tab === "check" && state.site) runCheck();
    if (state.tab === "suit" && state.suit.answer) runSuit();
  }

  function projectTypeParam() {
    if (!state.selected.length) return undefined;
    return state.selected.length === 1 ? state.selected[0] : state.selected.slice();
  }

  // --- site input ------------------------------------------------------------------------------
  function setMode(mode) {
    if (map.pm.globalDrawModeEnabled()) map.pm.disableDraw();
    state.mode = mode;
    document.querySelectorAll("#modes .mode").forEach(function (b) {
      b.classList.toggle("active", b.getAttribute("data-mode") === mode);
      b.setAttribute("aria-pressed", b.getAttribute("data-mode") === mode ? "true" : "false");
    });
    document.getElementById("coords-form").hidden = mode !== "coords";
    document.getElementById("map").classList.toggle("picking", mode === "point");
    if (mode === "line") map.pm.enableDraw("Line", { snappable: false, finishOn: null });
    if (mode === "polygon") map.pm.enableDraw("Polygon", { snappable: false });
    renderModeHint();
  }

  function renderModeHint() {
    var key = { point: "hint_point", line: "hint_line", polygon: "hint_polygon", coords: "hint_coords" }[state.mode] || "hint_idle";
    document.getElementById("mode-hint").textContent = t(key);
  }

  map.on("click", function (e) {
    if (state.tab !== "check" || state.mode !== "point" || map.pm.globalDrawModeEnabled()) return;
    var ll = e.latlng.wrap();
    setSite({ type: "Point", coordinates: [round(ll.lng, 7), round(ll.lat, 7)] }, "EPSG:4326", false);
  });

  map.on("pm:create", function (e) {
    var geometry = e.layer.toGeoJSON().geometry;
    map.removeLayer(e.layer);
    geometry.coordinates = roundCoords(geometry.coordinates);
    setMode(null);
    if (state.tab === "suit") setSuitPolygon(geometry);
    else setSite(geometry, "EPSG:4326", false);
  });

  function round(v, digits) { var f = Math.pow(10, digits); return Math.round(v * f) / f; }
  function roundCoords(c) { return typeof c[0] === "number" ? [round(c[0], 7), round(c[1], 7)] : c.map(roundCoords); }

  function parseCoords(text, kind) {
    var trimmed = text.trim();
    if (!trimmed) throw new Error(t("coords_empty"));
    if (trimmed.charAt(0) === "{") {
      var obj;
      try { obj = JSON.parse(trimmed); } catch (e) { throw new Error(t("coords_json", { msg: e.message })); }
      if (obj.type === "Feature") obj = obj.geometry;
      if (obj.type === "FeatureCollection" && obj.features && obj.features.length === 1) obj = obj.features[0].geometry;
      return obj;
    }
    var lines = trimmed.split(/[\n;]+/).map(function (s) { return s.trim(); }).filter(Boolean);
    var pts = lines.map(function (line, i) {
      var nums = line.replace(/[()[\]]/g, " ").split(/[\s,，]+/).filter(Boolean).map(Number);
      if (nums.length !== 2 || nums.some(function (n) { return !isFinite(n); })) {
        throw new Error(t("coords_bad", { n: i + 1, line: line }));
      }
      return nums;
    });
    var closed = pts.length >= 4 && pts[0][0] === pts[pts.length - 1][0] && pts[0][1] === pts[pts.length - 1][1];
    if (kind === "auto") kind = pts.length === 1 ? "Point" : (closed ? "Polygon" : "LineString");
    if (kind === "Point") {
      if (pts.length !== 1) throw new Error(t("coords_one_point"));
      return { type: "Point", coordinates: pts[0] };
    }
    if (kind === "LineString") {
      if (pts.length < 2) throw new Error(t("coords_few_line"));
      return { type: "LineString", coordinates: pts };
    }
    var ring = pts.slice();
    if (!closed) ring.push(ring[0].slice());
    if (ring.length < 4) throw new Error(t("coords_few_polygon"));
    return { type: "Polygon", coordinates: [ring] };
  }

  document.getElementById("coords-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var errBox = document.getElementById("coords-error");
    errBox.textContent = "";
    var geometry;
    try {
      geometry = parseCoords(document.getElementById("coords").value, document.getElementById("coords-kind").value);
    } catch (err) {
      errBox.textContent = err.message;
      return;
    }
    setSite(geometry, document.getElementById("crs").value, true);
  });

  document.querySelectorAll("#modes .mode").forEach(function (b) {
    b.addEventListener("click", function () { setMode(b.getAttribute("data-mode")); });
  });
  document.getElementById("clear-site").addEventListener("click", clearSite);
  document.getElementById("recheck").addEventListener("click", function () { if (state.site) runCheck(); });
  document.getElementById("type-filter").addEventListener("input", renderTypes);
  document.getElementById("type-clear").addEventListener("click", function () {
    state.selected = [];
    renderTypes();
    typesChanged();
  });

  function setSite(geometry, crs, fit) {
    state.site = { geometry: geometry, crs: crs, fit: fit };
    document.getElementById("clear-site").disabled = false;
    document.getElementById("recheck").disabled = false;
    if (crs === "EPSG:4326") drawSite(geometry);
    runCheck();
  }

  function clearSite() {
    state.site = null;
    state.answer = null;
    state.seq++;
    siteLayer.clearLayers();
    resultLayer.clearLayers();
    byFinding = {};
    chainageOverlays = [];
    document.getElementById("clear-site").disabled = true;
    document.getElementById("recheck").disabled = true;
    var result = document.getElementById("result");
    result.innerHTML = "";
    result.appendChild(el("p", { class: "hint", "data-i18n": "result_empty", text: t("result_empty") }));
  }

  function drawSite(geometry) {
    siteLayer.clearLayers();
    if (geometry.type.indexOf("LineString") >= 0) {  // a dark casing under the line: visible on any fill
      L.geoJSON(geometry, { pane: "ezSite", interactive: false, style: { color: "#111111", weight: 7, opacity: 0.9, className: "ez-site-casing" } }).addTo(siteLayer);
    }
    L.geoJSON(geometry, {
      pane: "ezSite",
      style: geometry.type.indexOf("LineString") >= 0
        ? { color: "#ffd400", weight: 3.5, opacity: 1, className: "ez-site" }
        : { color: "#111111", weight: 3, fillColor: "#ffd400", fillOpacity: 0.25, className: "ez-site" },
      pointToLayer: function (f, ll) {
        return L.circleMarker(ll, { pane: "ezSite", radius: 7, color: "#111111", weight: 2.5, fillColor: "#ffd400", fillOpacity: 1, className: "ez-site" });
      }
    }).addTo(siteLayer);
  }

  // --- the check -------------------------------------------------------------------------------
  function runCheck() {
    var site = state.site;
    var body = { geometry: site.geometry, crs: site.crs };
    var types = projectTypeParam();
    if (types !== undefined) body.project_type = types;
    var seq = ++state.seq;
    var result = document.getElementById("result");
    result.classList.add("busy");
    result.setAttribute("aria-busy", "true");
    var status = result.querySelector(".checking") || el("p", { class: "checking hint", text: t("checking") });
    if (!status.parentNode) result.insertBefore(status, result.firstChild);
    return EZ.api("/v1/siting/check?include=geometry", { method: "POST", json: body }).then(function (answer) {
      if (seq !== state.seq) return;
      state.answer = answer;
      state.save.status = null;
      drawSite(answer.site.geometry);
      drawAnswer(answer);
      renderResult();
      var card = document.getElementById("result-section");
      var sidebar = document.getElementById("sidebar");
      if (card && sidebar && sidebar.scrollHeight > sidebar.clientHeight) sidebar.scrollTop = card.offsetTop - sidebar.offsetTop - 6;
      if (site.fit) {
        var b = siteLayer.getBounds();
        if (b.isValid()) map.fitBounds(b.pad(0.5), fitOptions(14));
      }
    }, function (err) {
      if (seq !== state.seq) return;
      state.answer = null;
      resultLayer.clearLayers();
      chainageOverlays = [];
      result.innerHTML = "";
      result.appendChild(EZ.errorBox(err));
    }).then(function () {
      if (seq !== state.seq) return;
      result.classList.remove("busy");
      result.removeAttribute("aria-busy");
    });
  }

  function findingKey(kind, i) { return kind + ":" + i; }

  function drawAnswer(answer) {
    resultLayer.clearLayers();
    byFinding = {};
    var all = [];
    (answer.findings || []).forEach(function (f, i) { all.push({ f: f, key: findingKey("f", i), conditional: false }); });
    (answer.conditional_findings || []).forEach(function (f, i) { all.push({ f: f, key: findingKey("c", i), conditional: true }); });
    // One drawing per distinct geometry (several rules often share a zone), coloured by the
    // strictest rule that uses it; drawn in order of strictness so the strictest is on top.
    var parts = {};
    var order = [];
    all.forEach(function (item) {
      var g = item.f.geometry;
      if (!g) return;
      ["zone", "boundary", "reference", "nearest"].forEach(function (part) {
        if (!g[part]) return;
        var sig = part + JSON.stringify(g[part]);
        var entry = parts[sig];
        if (!entry) {
          entry = parts[sig] = { part: part, geom: g[part], item: item, keys: [] };
          order.push(entry);
        } else if ((EFFECT_RANK[item.f.effect] || 0) > (EFFECT_RANK[entry.item.f.effect] || 0) ||
                   (entry.item.conditional && !item.conditional)) {
          entry.item = item;
        }
        entry.keys.push(item.key);
      });
    });
    var partRank = { zone: 0, reference: 1, boundary: 2, nearest: 3 };
    order.sort(function (a, b) {
      return partRank[a.part] - partRank[b.part] ||
        (EFFECT_RANK[a.item.f.effect] || 0) - (EFFECT_RANK[b.item.f.effect] || 0);
    });
    order.forEach(function (entry) {
      var layer = drawPart(entry.part, entry.geom, entry.item);
      layer.addTo(resultLayer);
      entry.keys.forEach(function (key) { (byFinding[key] = byFinding[key] || []).push(layer); });
    });
    drawChainage(answer);
  }

  // --- routes: the chainage intervals drawn on the line ----------------------------------------
  /* The route as straight pieces with their lengths (Leaflet's spherical distance), in the
   * service's order: a MultiLineString's parts one after another, gaps not counted. */
  function routePieces(geometry) {
    var lines = geometry.type === "LineString" ? [geometry.coordinates]
      : geometry.type === "MultiLineString" ? geometry.coordinates : [];
    var pieces = [];
    var total = 0;
    lines.forEach(function (line, li) {
      for (var i = 0; i + 1 < line.length; i++) {
        var a = L.latLng(line[i][1], line[i][0]), b = L.latLng(line[i + 1][1], line[i + 1][0]);
        var d = map.distance(a, b);
        if (!(d > 0)) continue;
        pieces.push({ a: a, b: b, start: total, len: d, line: li, index: pieces.length });
        total += d;
      }
    });
    return { pieces: pieces, total: total };
  }

  /* The part of the route between two chainages (metres, as the service measures them: the
   * sphere's lengths are scaled to the service's geodesic route length, so both ends agree) →
   * a list of polylines (one per part of a MultiLineString it spans). */
  function sliceRoute(route, fromM, toM, routeLengthM) {
    var scale = routeLengthM > 0 && route.total > 0 ? routeLengthM / route.total : 1;
    var f = fromM / scale, t = toM / scale;
    var out = [];
    var current = null, previous = null;
    function at(p, m) {
      var k = Math.min(1, Math.max(0, (m - p.start) / p.len));
      return L.latLng(p.a.lat + (p.b.lat - p.a.lat) * k, p.a.lng + (p.b.lng - p.a.lng) * k);
    }
    route.pieces.forEach(function (p) {
      var lo = Math.max(f, p.start), hi = Math.min(t, p.start + p.len);
      if (!(hi > lo)) { current = null; return; }
      if (current && previous && previous.line === p.line && previous.index === p.index - 1 && lo === p.start) {
        current.push(at(p, hi));
      } else {
        current = [at(p, lo), at(p, hi)];
        out.push(current);
      }
      previous = p;
    });
    return out;
  }

  /* Bands by effect, widest for the mildest, so overlapping intervals all show: notice under
   * restricted under prohibited, the route itself drawn on top of them. */
  var BAND = { notice: { weight: 33, opacity: 0.75 }, restricted: { weight: 23, opacity: 0.95 }, prohibited: { weight: 14, opacity: 1 } };

  function drawChainage(answer) {
    chainageOverlays = [];
    var geometry = answer.site && answer.site.geometry;
    if (!geometry || geometry.type.indexOf("LineString") < 0) return;
    var route = routePieces(geometry);
    var items = [];
    (answer.findings || []).forEach(function (f, i) {
      (f.segments || []).forEach(function (seg, j) { items.push({ f: f, seg: seg, key: findingKey("f", i), row: i + ":" + j }); });
    });
    items.sort(function (a, b) { return (EFFECT_RANK[a.f.effect] || 0) - (EFFECT_RANK[b.f.effect] || 0); });
    items.forEach(function (item) {
      var f = item.f, seg = item.seg;
      var parts = sliceRoute(route, seg.from_m, seg.to_m, answer.chainage_length_m);
      if (!parts.length) return;
      var band = BAND[f.effect] || BAND.notice;
      // A white halo under each band keeps it apart from the wider band below and the fills.
      L.polyline(parts, { pane: "ezChainage", color: "#ffffff", weight: band.weight + 3, opacity: 1, lineCap: "butt",
        lineJoin: "round", interactive: false, className: "ez-chainage-halo" }).addTo(resultLayer);
      var layer = L.polyline(parts, {
        pane: "ezChainage", color: EFFECT_COLOR[f.effect] || "#555", weight: band.weight, opacity: band.opacity,
        lineCap: "butt", lineJoin: "round", interactive: true,
        className: "ez-chainage ez-chainage-" + f.effect + " ez-rule-" + f.rule_id
      });
      layer.bindTooltip(function () {
        return "<strong>" + EZ.escapeHtml(f.rule_id) + "</strong> · " + EZ.escapeHtml(VERDICT[f.effect] ? VERDICT[f.effect][EZ.lang()] : f.effect) +
          "<br>" + EZ.escapeHtml((seg.from_k || chainage(seg.from_m)) + " – " + (seg.to_k || chainage(seg.to_m))) +
          " · " + fmt(seg.length_m, 1) + " m";
      }, { sticky: true, direction: "top", opacity: 0.95 });
      layer.addTo(resultLayer);
      (byFinding[item.key] = byFinding[item.key] || []).push(layer);
      chainageOverlays.push({ rule_id: f.rule_id, effect: f.effect, from_m: seg.from_m, to_m: seg.to_m, row: item.row, layer: layer });
    });
  }

  function overlaysOfRow(row) {
    return chainageOverlays.filter(function (o) { return o.row === row; }).map(function (o) { return o.layer; });
  }

  function drawPart(part, geom, item) {
    var f = item.f;
    var color = EFFECT_COLOR[f.effect] || "#555";
    if (part === "zone") {
      return L.geoJSON(geom, { pane: "ezResult", interactive: false,
        style: { color: color, weight: 1.2, opacity: 0.8, fillColor: color, fillOpacity: item.conditional ? 0.08 : 0.2,
          className: "ez-zone ez-zone-" + f.effect + (item.conditional ? " ez-conditional" : "") } });
    }
    if (part === "boundary") {
      return L.geoJSON(geom, { pane: "ezResult", interactive: false,
        style: { color: color, weight: 2.6, opacity: 1, dashArray: "10 7", fill: false, className: "ez-boundary ez-boundary-" + f.effect } });
    }
    if (part === "reference") {
      var area = geom.type.indexOf("Polygon") >= 0;
      return L.geoJSON(geom, { pane: "ezResult", interactive: false,
        style: { color: "#0b2545", weight: area ? 1.6 : 3.5, opacity: 0.9, fill: false, className: "ez-reference" },
        pointToLayer: function (feat, ll) { return L.circleMarker(ll, { pane: "ezResult", radius: 6, color: "#0b2545", weight: 2, fillOpacity: 0.6, className: "ez-reference" }); } });
    }
    var layer = L.geoJSON(geom, { pane: "ezResult", interactive: false,
      style: { color: "#111111", weight: 2, opacity: 1, dashArray: "2 6", fill: false, className: "ez-nearest" } });
    var coords = geom.coordinates;
    if (geom.type === "LineString" && coords.length >= 2 && f.distance_m != null) {
      var a = coords[0], b = coords[coords.length - 1];
      var mid = L.latLng((a[1] + b[1]) / 2, (a[0] + b[0]) / 2);
      L.tooltip({ permanent: true, direction: "right", className: "ez-distance-label", pane: "ezLabels", offset: [6, 0] })
        .setLatLng(mid).setContent(t("distance_label", { d: fmt(f.distance_m, 1) })).addTo(layer);
      L.circleMarker(L.latLng(b[1], b[0]), { pane: "ezResult", radius: 3, color: "#111", weight: 1, fillColor: "#fff", fillOpacity: 1, interactive: false, className: "ez-nearest-end" }).addTo(layer);
    }
    return layer;
  }

  function emphasise(l, on) {
    if (!l.setStyle || !l.options) return;
    if (on) { if (l._ezWeight == null) l._ezWeight = l.options.weight; l.setStyle({ weight: (l._ezWeight || 1) + 2.5 }); }
    else if (l._ezWeight != null) { l.setStyle({ weight: l._ezWeight }); l._ezWeight = null; }
  }

  function highlight(key, on) {
    (byFinding[key] || []).forEach(function (layer) {
      if (layer.eachLayer) layer.eachLayer(function (l) { emphasise(l, on); });
      else emphasise(layer, on);
    });
  }

  function zoomTo(key) {
    var b = L.latLngBounds([]);
    (byFinding[key] || []).forEach(function (layer) { if (layer.getBounds) { var lb = layer.getBounds(); if (lb.isValid()) b.extend(lb); } });
    var sb = siteLayer.getBounds();
    if (sb.isValid()) b.extend(sb);
    if (b.isValid()) map.fitBounds(b, fitOptions(15));
  }

  // --- the verdict panel -----------------------------------------------------------------------
  function fmtArea(m2) {
    if (m2 == null) return "—";
    return fmt(m2, 1) + " m²" + (m2 >= 1000 ? " (" + fmt(m2 / 10000, 2) + " ha)" : "");
  }

  function fmtLength(m) {
    if (m == null) return "—";
    return fmt(m, 1) + " m" + (m >= 1000 ? " (" + fmt(m / 1000, 2) + " km)" : "");
  }

  /* Metres along a line as a road chainage: 2265 → K2+265. */
  function chainage(m) {
    var whole = Math.round(m);
    var rest = String(whole % 1000);
    return "K" + Math.floor(whole / 1000) + "+" + "000".slice(rest.length) + rest;
  }

  function pct(ratio, digits) { return ratio == null ? "—" : fmt(ratio * 100, digits == null ? 1 : digits) + "%"; }

  function fact(label, valueNode, cls) {
    return el("div", { class: "fact " + (cls || "") }, [el("dt", { text: label }), el("dd", {}, [valueNode])]);
  }

  function effectBadge(effect) {
    var v = VERDICT[effect] || { zh: effect, en: effect };
    return el("span", { class: "effect-badge effect-" + effect, style: "--c:" + (EFFECT_COLOR[effect] || "#555") }, [
      el("span", { lang: "zh-CN", text: v.zh }), " ", el("span", { lang: "en", class: "en", text: v.en })
    ]);
  }

  function findingCard(f, key, conditional) {
    var msgLang = EZ.lang();
    var message = el("p", { class: "finding-message", text: f.message ? f.message[msgLang] : "" });
    var flip = el("button", { type: "button", class: "msg-toggle", title: t("message_other_title"), text: t("message_other") });
    flip.addEventListener("click", function () {
      msgLang = msgLang === "zh" ? "en" : "zh";
      message.textContent = f.message ? f.message[msgLang] : "";
      message.setAttribute("lang", msgLang === "zh" ? "zh-CN" : "en");
      flip.textContent = msgLang === "zh" ? "EN" : "中";
    });
    var facts = [];
    var featureText = [f.feature_name, f.layer ? "(" + f.layer + (f.feature_id ? " / " + f.feature_id : "") + ")" : ""].filter(Boolean).join(" ");
    if (featureText) facts.push(fact(t("feature"), el("span", { class: "v-feature", text: featureText })));
    if (f.distance_m != null) {
      facts.push(fact(t("distance"), el("span", { class: "v-distance", "data-m": f.distance_m,
        text: fmt(f.distance_m, 1) + " m" + (f.distance_m === 0 ? " · " + t("inside") : "") })));
    }
    if (f.threshold_m != null) facts.push(fact(t("threshold"), el("span", { class: "v-threshold", "data-m": f.threshold_m, text: fmt(f.threshold_m, 0) + " m" })));
    if (f.overlap_area_m2 != null) {
      facts.push(fact(t("overlap"), el("span", {}, [
        el("span", { class: "v-overlap", "data-m2": f.overlap_area_m2, text: fmtArea(f.overlap_area_m2) }),
        f.overlap_ratio != null ? el("span", { class: "v-ratio", "data-ratio": f.overlap_ratio, text: " · " + t("overlap_of_site", { pct: pct(f.overlap_ratio) }) }) : null
      ])));
    }
    if (f.segments && f.segments.length) {
      facts.push(fact(t("segments"), el("span", { class: "v-segments", text: f.segments.map(function (s) {
        return chainage(s.from_m) + " – " + chainage(s.to_m) + " (" + fmt(s.length_m, 0) + " m)";
      }).join("; ") })));
    }
    var exc = null;
    if (f.exception) {
      exc = el("div", { class: "exception" }, [
        el("div", { class: "exception-head", text: t("exception") }),
        el("p", { text: pick(f.exception) }),
        f.exception.text ? el("blockquote", { class: "verbatim", lang: "zh-CN", text: f.exception.text }) : null
      ]);
    }
    var c = f.citation || {};
    var citation = el("div", { class: "citation" }, [
      el("div", { class: "citation-head" }, [
        el("span", { class: "citation-label", text: t("citation") }),
        el("span", { class: "citation-doc", text: c.document || "" }),
        c.section ? el("span", { class: "citation-section", text: c.section }) : null
      ]),
      c.heading ? el("div", { class: "citation-heading", text: c.heading }) : null,
      el("blockquote", { class: "verbatim citation-text", lang: "zh-CN", title: t("verbatim"), text: c.text || "" })
    ]);
    var card = el("article", { class: "finding effect-" + f.effect + (conditional ? " conditional" : ""), "data-rule": f.rule_id, "data-key": key, style: "--c:" + (EFFECT_COLOR[f.effect] || "#555") }, [
      el("header", { class: "finding-head" }, [
        effectBadge(f.effect),
        el("code", { class: "rule-id", text: f.rule_id }),
        flip
      ]),
      message,
      el("dl", { class: "facts" }, facts),
      exc,
      citation,
      f.geometry ? el("button", { type: "button", class: "link-button show-on-map", text: t("show_on_map"), onclick: function () { zoomTo(key); } }) : null
    ]);
    card.addEventListener("mouseenter", function () { highlight(key, true); });
    card.addEventListener("mouseleave", function () { highlight(key, false); });
    return card;
  }

  /* The route's chainage inside each binding rule's zone: a row per interval, stakes as the
   * service gives them (K9+018), hover to light the band on the map, click to zoom to it. */
  function chainageSection(answer) {
    var rows = [];
    (answer.findings || []).forEach(function (f, i) {
      (f.segments || []).forEach(function (seg, j) { rows.push({ f: f, seg: seg, row: i + ":" + j }); });
    });
    rows.sort(function (a, b) {
      return a.seg.from_m - b.seg.from_m || (EFFECT_RANK[b.f.effect] || 0) - (EFFECT_RANK[a.f.effect] || 0);
    });
    var body = el("tbody", {}, rows.map(function (r) {
      var f = r.f, seg = r.seg;
      var tr = el("tr", { "data-rule": f.rule_id, "data-effect": f.effect, "data-row": r.row, "data-from-m": seg.from_m,
        "data-to-m": seg.to_m, "data-length-m": seg.length_m, tabindex: "0", style: "--c:" + (EFFECT_COLOR[f.effect] || "#555") }, [
        el("td", { class: "c-rule" }, [el("code", { text: f.rule_id })]),
        el("td", { class: "c-effect" }, [el("span", { class: "effect-dot", "aria-hidden": "true" }), " ",
          el("span", { text: (VERDICT[f.effect] || { zh: f.effect, en: f.effect })[EZ.lang()] })]),
        el("td", { class: "c-from k", text: seg.from_k || chainage(seg.from_m) }),
        el("td", { class: "c-to k", text: seg.to_k || chainage(seg.to_m) }),
        el("td", { class: "c-length num", text: fmt(seg.length_m, 1) })
      ]);
      tr.addEventListener("mouseenter", function () { overlaysOfRow(r.row).forEach(function (l) { emphasise(l, true); }); });
      tr.addEventListener("mouseleave", function () { overlaysOfRow(r.row).forEach(function (l) { emphasise(l, false); }); });
      tr.addEventListener("click", function () {
        var b = L.latLngBounds([]);
        overlaysOfRow(r.row).forEach(function (l) { b.extend(l.getBounds()); });
        if (b.isValid()) map.fitBounds(b.pad(0.3), fitOptions(15));
      });
      tr.addEventListener("keydown", function (e) { if (e.key === "Enter") tr.click(); });
      return tr;
    }));
    return el("section", { class: "chainage", id: "chainage" }, [
      el("h3", { text: t("chainage_title") }),
      el("p", { class: "route-length" }, [
        el("span", { class: "route-length-label", text: t("route_length") + ": " }),
        el("strong", { id: "route-length", "data-m": answer.chainage_length_m, text: fmtLength(answer.chainage_length_m) }),
        " · ", el("span", { text: chainage(answer.chainage_length_m) })
      ]),
      rows.length ? el("p", { class: "hint", text: t("chainage_hint") }) : el("p", { class: "hint", text: t("chainage_none") }),
      rows.length ? el("div", { class: "table-scroll chainage-scroll" }, [
        el("table", { class: "data chainage-table", id: "chainage-table" }, [
          el("thead", {}, [el("tr", {}, [
            el("th", { text: t("col_rule") }), el("th", { text: t("col_effect") }), el("th", { text: t("col_from") }),
            el("th", { text: t("col_to") }), el("th", { class: "num", text: t("col_length") })
          ])]),
          body
        ])
      ]) : null
    ]);
  }

  // --- saving the check into a project ---------------------------------------------------------
  function checkBody() {
    var body = { geometry: state.site.geometry, crs: state.site.crs };
    var types = projectTypeParam();
    if (types !== undefined) body.project_type = types;
    return body;
  }

  function loadProjects() {
    return EZ.api("/v1/projects").then(function (list) {
      state.projects = list;
      var select = document.getElementById("save-project");
      if (select) fillProjects(select);
      return list;
    });
  }

  function fillProjects(select) {
    select.innerHTML = "";
    select.appendChild(el("option", { value: "", text: t("save_project_choose") }));
    (state.projects || []).forEach(function (p) {
      select.appendChild(el("option", { value: p.id, text: p.name + " · " + p.id }));
    });
    select.value = state.save.project || "";
    if (select.value !== (state.save.project || "")) { state.save.project = ""; select.value = ""; }
  }

  function saveStatus(node) {
    state.save.status = node;
    var box = document.getElementById("save-status");
    if (box) { box.innerHTML = ""; if (node) box.appendChild(node); }
  }

  function saveBox(answer) {
    var token = el("input", { type: "password", id: "save-token", autocomplete: "off", spellcheck: "false", placeholder: t("save_token_placeholder") });
    token.value = EZ.getToken();
    token.addEventListener("change", function () { EZ.setToken(token.value.trim()); });
    var project = el("select", { id: "save-project" });
    fillProjects(project);
    project.addEventListener("change", function () { state.save.project = project.value; });
    var newName = el("input", { type: "text", id: "save-new", placeholder: t("save_new_placeholder"), autocomplete: "off" });
    newName.value = state.save.newName;
    newName.addEventListener("input", function () { state.save.newName = newName.value; });
    var label = el("input", { type: "text", id: "save-label", placeholder: t("save_label_placeholder"), autocomplete: "off", maxlength: "200" });
    label.value = state.save.label;
    label.addEventListener("input", function () { state.save.label = label.value; });
    var create = el("button", { type: "button", id: "save-create", class: "secondary", text: t("save_create") });
    var submit = el("button", { type: "button", id: "save-submit", class: "primary", text: t("save_submit") });

    function tokenOrComplain() {
      var value = token.value.trim();
      EZ.setToken(value);
      if (!value) saveStatus(el("p", { class: "form-error", text: t("save_need_token") }));
      return value;
    }
    create.addEventListener("click", function () {
      var value = tokenOrComplain();
      if (!value) return;
      var name = newName.value.trim();
      if (!name) { saveStatus(el("p", { class: "form-error", text: t("save_need_name") })); return; }
      create.disabled = true;
      EZ.api("/v1/projects", { method: "POST", json: { name: name }, headers: { Authorization: "Bearer " + value } })
        .then(function (p) {
          state.save.project = p.id;
          state.save.newName = "";
          newName.value = "";
          saveStatus(el("p", { class: "save-ok", text: t("project_created", { name: p.name }) }));
          return loadProjects();
        }, function (err) { saveStatus(EZ.errorBox(err)); })
        .then(function () { create.disabled = false; });
    });
    submit.addEventListener("click", function () {
      var value = tokenOrComplain();
      if (!value) return;
      var pid = project.value;
      if (!pid) { saveStatus(el("p", { class: "form-error", text: t("save_need_project") })); return; }
      var body = checkBody();
      if (label.value.trim()) body.label = label.value.trim();
      var name = project.options[project.selectedIndex].text;
      var found = (state.projects || []).filter(function (p) { return p.id === pid; })[0];
      if (found) name = found.name;
      submit.disabled = true;
      saveStatus(el("p", { class: "hint", text: t("saving") }));
      EZ.api("/v1/projects/" + encodeURIComponent(pid) + "/checks", { method: "POST", json: body, headers: { Authorization: "Bearer " + value } })
        .then(function (saved) {
          var summary = saved.summary || {};
          saveStatus(el("p", { class: "save-ok", id: "save-ok", "data-check": saved.id, "data-project": pid }, [
            t("saved", { project: name, id: saved.id }), " ",
            summary.verdict ? effectBadge(summary.verdict) : null, " ",
            el("a", { href: EZ.root + "/impact#project-" + pid, text: t("view_impact") })
          ]));
        }, function (err) { saveStatus(EZ.errorBox(err)); })
        .then(function () { submit.disabled = false; });
    });

    var details = el("details", { class: "save-box", id: "save-box" }, [
      el("summary", { text: t("save_title") }),
      el("p", { class: "hint", text: t("save_hint") }),
      el("div", { class: "form-grid save-grid" }, [
        el("label", { for: "save-token", text: t("save_token") }), token,
        el("label", { for: "save-project", text: t("save_project") }), project,
        el("label", { for: "save-new", text: t("save_new") }), el("div", { class: "inline-row" }, [newName, create]),
        el("label", { for: "save-label", text: t("save_label") }), label
      ]),
      el("div", { class: "form-actions" }, [submit]),
      el("div", { id: "save-status", class: "save-status", "aria-live": "polite" }, [state.save.status])
    ]);
    if (state.save.open) details.open = true;
    details.addEventListener("toggle", function () {
      state.save.open = details.open;
      if (details.open && state.projects == null) loadProjects().catch(function (err) { saveStatus(EZ.errorBox(err)); });
    });
    return details;
  }

  function reportHref(answer) {
    var q = (answer.map_url || "").split("?")[1] || "";
    return EZ.root + "/v1/siting/report.pdf?" + q;
  }

  function renderResult() {
    var answer = state.answer;
    var result = document.getElementById("result");
    result.innerHTML = "";
    if (!answer) {
      result.appendChild(el("p", { class: "hint", text: t("result_empty") }));
      return;
    }
    var verdict = answer.verdict;
    var v = VERDICT[verdict] || { zh: verdict, en: verdict };
    result.appendChild(el("div", { class: "verdict verdict-" + verdict, id: "verdict", "data-verdict": verdict, style: "--c:" + (EFFECT_COLOR[verdict] || "#555") }, [
      el("div", { class: "verdict-words" }, [
        el("span", { class: "verdict-zh", lang: "zh-CN", text: v.zh }),
        el("span", { class: "verdict-sep", text: " / " }),
        el("span", { class: "verdict-en", lang: "en", text: v.en })
      ]),
      el("p", { class: "verdict-explain", text: t("verdict_" + verdict) })
    ]));

    var illustrative = (answer.findings || []).concat(answer.conditional_findings || [])
      .some(function (f) { return isIllustrative(f.layer); });
    if (illustrative) result.appendChild(el("p", { class: "illustrative-note", text: t("illustrative_note") }));

    var cov = answer.coverage || {};
    if (cov.note) {
      result.appendChild(el("div", { class: "coverage-note" + (verdict === "not_covered" ? " none" : ""), id: "coverage-note" }, [
        el("strong", { text: t("coverage") + " · " + t("coverage_ratio", { pct: pct(cov.covered_ratio, 1) }) }),
        el("p", { text: pick(cov.note) })
      ]));
    }

    var site = answer.site || {};
    var gtype = site.geometry ? site.geometry.type : "";
    var siteFacts = [
      fact(t("site"), el("span", { text: t(gtype.indexOf("Polygon") >= 0 ? "site_polygon" : gtype.indexOf("Line") >= 0 ? "site_line" : "site_point") +
        (gtype === "Point" ? " " + site.geometry.coordinates[0].toFixed(6) + ", " + site.geometry.coordinates[1].toFixed(6) : "") }))
    ];
    if (site.area_m2 != null) siteFacts.push(fact(t("site_area"), el("span", { class: "v-site-area", id: "site-area", "data-m2": site.area_m2, text: fmtArea(site.area_m2) })));
    if (site.length_m != null) siteFacts.push(fact(t("site_length"), el("span", { class: "v-site-length", id: "site-length", "data-m": site.length_m, text: fmtLength(site.length_m) })));
    siteFacts.push(fact(t("input_crs"), el("code", { text: site.input_crs || "" })));
    var types = answer.project_types || [];
    siteFacts.push(fact(t("for_types"), el("span", { class: "v-types", text: types.length ? types.map(typeName).join(" + ") : t("all_types") })));
    var jur = answer.jurisdictions || [];
    siteFacts.push(fact(t("jurisdictions"), el("span", { class: "v-jurisdictions", text: jur.length ? jur.map(function (j) {
      return j.name + " (" + j.code + ")" + (j.planned === false ? " · " + t("no_plan") : "");
    }).join("、") : t("none") })));
    result.appendChild(el("dl", { class: "facts site-facts" }, siteFacts));

    var links = el("div", { class: "links", id: "result-links" }, [
      el("span", { class: "links-label", text: t("links") }),
      el("a", { href: EZ.root + answer.map_url, target: "_blank", rel: "noopener", id: "link-map", class: "out-link", text: t("link_map") }),
      el("a", { href: reportHref(answer), target: "_blank", rel: "noopener", id: "link-pdf", class: "out-link", text: t("link_pdf") })
    ]);
    result.appendChild(links);
    result.appendChild(saveBox(answer));
    if (answer.chainage_length_m != null) result.appendChild(chainageSection(answer));

    var findings = answer.findings || [];
    if (verdict === "not_covered" && !findings.length) {
      result.appendChild(el("p", { class: "data-version hint", text: t("data_version") + ": " + answer.data_version }));
      return;
    }
    var section = el("section", { class: "findings", id: "findings" }, [
      el("h3", { text: t("findings") + " (" + findings.length + ")" })
    ]);
    if (!findings.length && verdict !== "not_covered") section.appendChild(el("p", { class: "hint", text: t("findings_none") }));
    findings.forEach(function (f, i) { section.appendChild(findingCard(f, findingKey("f", i), false)); });
    result.appendChild(section);

    var conditional = answer.conditional_findings || [];
    if (conditional.length) {
      var cs = el("section", { class: "findings conditional-findings", id: "conditional-findings" }, [
        el("h3", { text: t("conditional") + " (" + conditional.length + ")" }),
        el("p", { class: "hint", text: t("conditional_hint") })
      ]);
      conditional.forEach(function (f, i) { cs.appendChild(findingCard(f, findingKey("c", i), true)); });
      result.appendChild(cs);
    }

    var superseded = answer.superseded_findings || [];
    if (superseded.length) {
      result.appendChild(el("details", { class: "superseded" }, [
        el("summary", { text: t("superseded") + " (" + superseded.length + ")" }),
        el("ul", {}, superseded.map(function (f) {
          return el("li", {}, [effectBadge(f.effect), " ", el("code", { text: f.rule_id }), " ", pick(f.message)]);
        }))
      ]));
    }

    var units = answer.control_units || [];
    if (units.length) {
      result.appendChild(el("section", { class: "control-units", id: "control-units" }, [
        el("h3", { text: t("control_units") }),
        el("ul", {}, units.map(function (u) {
          return el("li", { class: "unit unit-" + (u.unit_class || "") }, [
            el("div", {}, [el("strong", { text: u.name || "" }), " ", el("code", { text: u.code || "" }), " ",
              u.unit_class ? el("span", { class: "tag", text: t(UNIT_CLASS[u.unit_class] || u.unit_class) }) : null]),
            u.access_list ? el("p", { class: "access-list" }, [el("span", { class: "access-label", text: t("access_list") + "：" }), u.access_list]) : null
          ]);
        }))
      ]));
    }
    result.appendChild(el("p", { class: "data-version hint", text: t("data_version") + ": " + answer.data_version }));
  }

  // --- tabs ------------------------------------------------------------------------------------
  function setTab(tab) {
    if (tab === state.tab) return;
    if (state.tab === "check") state.checkMode = state.mode;
    if (map.pm.globalDrawModeEnabled()) map.pm.disableDraw();
    state.tab = tab;
    document.querySelectorAll("#tabs .tab").forEach(function (b) {
      var on = b.getAttribute("data-tab") === tab;
      b.classList.toggle("active", on);
      b.setAttribute("aria-selected", on ? "true" : "false");
    });
    document.querySelectorAll(".tab-check").forEach(function (n) { n.hidden = tab !== "check"; });
    document.querySelectorAll(".tab-suit").forEach(function (n) { n.hidden = tab !== "suit"; });
    var check = tab === "check";
    [resultLayer, siteLayer].forEach(function (l) { if (check) l.addTo(map); else map.removeLayer(l); });
    [suitLayer, suitAreaLayer].forEach(function (l) { if (check) map.removeLayer(l); else l.addTo(map); });
    if (check) {
      legend.remove();
      setMode(state.checkMode);
    } else {
      state.mode = null;
      document.getElementById("map").classList.remove("picking");
      if (state.suit.answer) legend.addTo(map);
      loadJurisdictions();
      setSuitArea(state.suit.areaKind);
    }
  }

  document.querySelectorAll("#tabs .tab").forEach(function (b) {
    b.addEventListener("click", function () { setTab(b.getAttribute("data-tab")); });
  });

  // --- where may it go: the suitability partition -----------------------------------------------
  var SUIT_ORDER = ["prohibited", "restricted", "notice", "permitted", "not_covered"];

  function suitStyle(verdict) {
    if (verdict === "not_covered") {
      return { color: "#6c757d", weight: 1, opacity: 0.8, fillColor: "url(#ez-hatch)", fillOpacity: 1 };
    }
    var c = EFFECT_COLOR[verdict] || "#555";
    return { color: c, weight: 1, opacity: 0.9, fillColor: c, fillOpacity: 0.42 };
  }

  /* The jurisdictions whose plans are loaded (the rules' codes), named from the district layers. */
  function loadJurisdictions() {
    if (state.suit.jurisdictions) return Promise.resolve(state.suit.jurisdictions);
    if (state.suit.loadingJur) return state.suit.loadingJur;
    var districtIds = state.layerOrder.filter(function (id) {
      var info = state.layers[id].info;
      return info.kind === "district" && !isLarge(info);
    });
    state.suit.loadingJur = Promise.all([
      EZ.api("/v1/rules"),
      Promise.all(districtIds.map(function (id) { return layerData(id).catch(function () { return null; }); }))
    ]).then(function (got) {
      var rules = got[0];
      state.suit.rules = {};
      rules.forEach(function (r) { state.suit.rules[r.rule_id] = r; });
      var names = {};
      got[1].forEach(function (fc) {
        ((fc && fc.features) || []).forEach(function (f) {
          var p = f.properties || {};
          if (p.code && !names[p.code]) names[p.code] = { zh: p.name || p.code, en: p.name_en || p.name || p.code };
        });
      });
      var codes = [];
      rules.forEach(function (r) { if (r.jurisdiction && codes.indexOf(r.jurisdiction) < 0) codes.push(r.jurisdiction); });
      codes.sort();
      state.suit.jurisdictions = codes.map(function (code) { return { code: code, name: names[code] || { zh: code, en: code } }; });
      renderJurisdictions();
      return state.suit.jurisdictions;
    }).catch(function (err) {
      state.suit.loadingJur = null;
      document.getElementById("suit-result").appendChild(EZ.errorBox(err));
    });
    return state.suit.loadingJur;
  }

  function jurisdictionName(code) {
    var j = (state.suit.jurisdictions || []).filter(function (x) { return x.code === code; })[0];
    return j ? pick(j.name) : code;
  }

  function renderJurisdictions() {
    var select = document.getElementById("suit-jurisdiction");
    var current = select.value || state.suit.jurisdiction;
    select.innerHTML = "";
    (state.suit.jurisdictions || []).forEach(function (j) {
      select.appendChild(el("option", { value: j.code, text: pick(j.name) + " (" + j.code + ")" }));
    });
    if (current) select.value = current;
  }

  document.getElementById("suit-jurisdiction").addEventListener("change", function () {
    state.suit.jurisdiction = this.value;
  });

  function setSuitArea(kind) {
    state.suit.areaKind = kind;
    document.querySelectorAll("#suit-modes .mode").forEach(function (b) {
      var on = b.getAttribute("data-area") === kind;
      b.classList.toggle("active", on);
      b.setAttribute("aria-pressed", on ? "true" : "false");
    });
    document.getElementById("suit-jur-row").hidden = kind !== "jurisdiction";
    document.getElementById("suit-draw-row").hidden = kind !== "polygon";
    if (map.pm.globalDrawModeEnabled()) map.pm.disableDraw();
    if (kind === "polygon" && !state.suit.polygon) map.pm.enableDraw("Polygon", { snappable: false });
    renderDrawState();
  }

  function renderDrawState() {
    var p = document.getElementById("suit-draw-state");
    if (state.suit.polygon) {
      p.textContent = t("suit_drawn", { area: "≈ " + fmt(sphericalArea(state.suit.polygon.coordinates[0]) / 1e6, 2) + " km²" });
    } else {
      p.textContent = t("suit_draw_hint");
    }
  }

  /* A ring's area on the sphere (m²), for the hint only: the service measures on the ellipsoid. */
  function sphericalArea(ring) {
    var d2r = Math.PI / 180, R = 6378137, sum = 0;
    for (var i = 0; i + 1 < ring.length; i++) {
      var a = ring[i], b = ring[i + 1];
      sum += (b[0] - a[0]) * d2r * (2 + Math.sin(a[1] * d2r) + Math.sin(b[1] * d2r));
    }
    return Math.abs(sum * R * R / 2);
  }

  document.querySelectorAll("#suit-modes .mode").forEach(function (b) {
    b.addEventListener("click", function () { setSuitArea(b.getAttribute("data-area")); });
  });
  document.getElementById("suit-draw").addEventListener("click", function () {
    state.suit.polygon = null;
    suitAreaLayer.clearLayers();
    setSuitArea("polygon");
  });
  document.getElementById("suit-form").addEventListener("submit", function (e) {
    e.preventDefault();
    runSuit();
  });

  function setSuitPolygon(geometry) {
    state.suit.polygon = geometry;
    suitAreaLayer.clearLayers();
    L.geoJSON(geometry, { pane: "ezSite", interactive: false,
      style: { color: "#111111", weight: 2.5, dashArray: "8 5", fill: false, className: "ez-suit-area" } }).addTo(suitAreaLayer);
    renderDrawState();
    runSuit();
  }

  function suitRequest() {
    var types = projectTypeParam();
    var req = { project_type: types };
    if (state.suit.areaKind === "polygon") {
      if (!state.suit.polygon) return null;
      req.area = state.suit.polygon;
      req.crs = "EPSG:4326";
    } else {
      req.area = document.getElementById("suit-jurisdiction").value || state.suit.jurisdiction;
      if (!req.area) return null;
      state.suit.jurisdiction = req.area;
    }
    if (types === undefined) delete req.project_type;
    return req;
  }

  function runSuit() {
    var req = suitRequest();
    var box = document.getElementById("suit-result");
    document.getElementById("suit-result-section").hidden = false;
    if (!req) {
      box.innerHTML = "";
      box.appendChild(el("p", { class: "form-error", text: t("suit_need_area") }));
      return Promise.resolve();
    }
    var seq = ++state.suit.seq;
    box.classList.add("busy");
    box.setAttribute("aria-busy", "true");
    var status = box.querySelector(".checking") || el("p", { class: "checking hint", text: t("suit_running") });
    if (!status.parentNode) box.insertBefore(status, box.firstChild);
    return EZ.api("/v1/siting/suitability", { method: "POST", json: req }).then(function (answer) {
      if (seq !== state.suit.seq) return;
      state.suit.answer = answer;
      state.suit.request = req;
      state.suit.selected = null;
      drawSuit(answer);
      renderSuit();
      var b = suitLayer.getBounds();
      if (b.isValid()) map.fitBounds(b, fitOptions(15));
    }, function (err) {
      if (seq !== state.suit.seq) return;
      state.suit.answer = null;
      suitLayer.clearLayers();
      legend.remove();
      box.innerHTML = "";
      box.appendChild(EZ.errorBox(err));
    }).then(function () {
      if (seq !== state.suit.seq) return;
      box.classList.remove("busy");
      box.removeAttribute("aria-busy");
    });
  }

  function drawSuit(answer) {
    suitLayer.clearLayers();
    var features = (answer.features || []).slice();
    features.forEach(function (f, i) { f.properties._index = i; });
    L.geoJSON({ type: "FeatureCollection", features: features }, {
      pane: "ezSuit",
      style: function (f) {
        return Object.assign({ className: "ez-suit ez-suit-" + f.properties.verdict }, suitStyle(f.properties.verdict));
      },
      onEachFeature: function (feature, layer) {
        layer.on("click", function (e) {
          L.DomEvent.stopPropagation(e);
          selectSuit(feature.properties._index, e.latlng);
        });
      }
    }).addTo(suitLayer);
    if (state.tab === "suit") legend.addTo(map);
  }

  function ruleMessage(id) {
    var r = state.suit.rules && state.suit.rules[id];
    return r ? pick(r.message) : "";
  }

  function selectedBox(feature) {
    var p = feature.properties;
    var ids = p.rule_ids || [];
    return el("div", { class: "suit-selected", id: "suit-selected", "data-index": p._index, "data-verdict": p.verdict,
      "data-rules": ids.join(" "), style: "--c:" + (EFFECT_COLOR[p.verdict] || "#6c757d") }, [
      el("div", { class: "suit-selected-head" }, [
        el("strong", { text: t("suit_selected") }), " ", effectBadge(p.verdict), " ",
        el("span", { class: "hint", text: fmt(p.area_m2 / 1e6, 2) + " km²" })
      ]),
      el("div", { class: "suit-rules-head", text: t("suit_rules") + (ids.length ? " (" + ids.length + ")" : "") }),
      ids.length ? el("ul", { class: "suit-rules" }, ids.map(function (id) {
        return el("li", { "data-rule": id }, [el("code", { text: id }), ruleMessage(id) ? " " + ruleMessage(id) : null]);
      })) : el("p", { class: "hint", text: t("suit_no_rules") })
    ]);
  }

  function selectSuit(index, latlng) {
    var answer = state.suit.answer;
    if (!answer) return;
    var feature = answer.features[index];
    state.suit.selected = index;
    var old = document.getElementById("suit-selected");
    var box = selectedBox(feature);
    if (old) old.replaceWith(box);
    else document.getElementById("suit-result").appendChild(box);
    suitLayer.eachLayer(function (group) {
      group.eachLayer(function (l) {
        var on = l.feature && l.feature.properties._index === index;
        l.setStyle({ weight: on ? 2.5 : 1, color: on ? "#111111" : suitStyle(l.feature.properties.verdict).color });
        if (on) l.bringToFront();
      });
    });
    if (latlng) {
      var p = feature.properties;
      var ids = p.rule_ids || [];
      L.popup({ className: "ez-suit-popup", maxWidth: 320 }).setLatLng(latlng).setContent(
        "<div class='ez-suit-pop' data-verdict='" + EZ.escapeHtml(p.verdict) + "'><strong>" +
        EZ.escapeHtml(VERDICT[p.verdict].zh + " / " + VERDICT[p.verdict].en) + "</strong><br>" +
        (ids.length ? ids.map(function (id) { return "<code>" + EZ.escapeHtml(id) + "</code>"; }).join("<br>") : EZ.escapeHtml(t("suit_no_rules"))) +
        "</div>").openOn(map);
    }
  }

  function tifHref() {
    var req = state.suit.request;
    if (!req || typeof req.area !== "string") return null;
    var q = ["jurisdiction=" + encodeURIComponent(req.area)];
    var types = req.project_type === undefined ? [] : [].concat(req.project_type);
    types.forEach(function (ty) { q.push("project_type=" + encodeURIComponent(ty)); });
    q.push("resolution=" + encodeURIComponent(state.suit.resolution));
    return EZ.root + "/v1/constraints.tif?" + q.join("&");
  }

  function renderSuit() {
    var answer = state.suit.answer;
    var req = state.suit.request;
    var box = document.getElementById("suit-result");
    box.innerHTML = "";
    if (!answer) {
      box.appendChild(el("p", { class: "hint", text: t("suit_empty") }));
      return;
    }
    var summary = answer.summary || {};
    var total = 0;
    SUIT_ORDER.forEach(function (v) { total += summary[v] || 0; });
    var types = answer.project_type || [];
    box.appendChild(el("dl", { class: "facts site-facts" }, [
      fact(t("suit_area_label"), el("span", { id: "suit-area-name", text: typeof req.area === "string"
        ? jurisdictionName(req.area) + " (" + req.area + ")" : t("suit_area_drawn") })),
      fact(t("suit_for"), el("span", { class: "v-types", text: types.length ? types.map(typeName).join(" + ") : t("all_types") })),
      fact("", el("span", { class: "hint", text: t("suit_polygons", { n: (answer.features || []).length }) }))
    ]));
    var rows = SUIT_ORDER.map(function (v) {
      var m2 = summary[v] || 0;
      return el("tr", { "data-verdict": v, class: m2 ? "" : "zero" }, [
        el("td", {}, [el("span", { class: "suit-swatch suit-swatch-" + v, style: "--c:" + (EFFECT_COLOR[v] || "#6c757d") })]),
        el("td", {}, [el("span", { lang: "zh-CN", text: VERDICT[v].zh }), " ", el("span", { lang: "en", class: "en", text: VERDICT[v].en })]),
        el("td", { class: "num km2", "data-m2": m2, text: fmt(m2 / 1e6, 2) }),
        el("td", { class: "num share", text: total ? fmt(100 * m2 / total, 1) + "%" : "—" })
      ]);
    });
    rows.push(el("tr", { class: "total", "data-verdict": "total" }, [
      el("td", {}), el("td", { text: t("suit_total") }),
      el("td", { class: "num km2", "data-m2": total, text: fmt(total / 1e6, 2) }), el("td", { class: "num", text: "100%" })
    ]));
    box.appendChild(el("table", { class: "data suit-summary", id: "suit-summary" }, [
      el("thead", {}, [el("tr", {}, [el("th", {}), el("th", { text: t("suit_verdict_col") }),
        el("th", { class: "num", text: t("suit_area_col") }), el("th", { class: "num", text: t("suit_share_col") })])]),
      el("tbody", {}, rows)
    ]));
    var href = tifHref();
    if (href) {
      var resolution = el("select", { id: "suit-resolution", "aria-label": t("suit_resolution") },
        ["10", "30", "100"].map(function (r) { return el("option", { value: r, text: r + " m" }); }));
      resolution.value = state.suit.resolution;
      var link = el("a", { href: href, id: "link-tif", class: "out-link", download: "", text: t("suit_download") });
      resolution.addEventListener("change", function () { state.suit.resolution = resolution.value; link.setAttribute("href", tifHref()); });
      box.appendChild(el("div", { class: "links" }, [link, el("label", { class: "inline-label" }, [t("suit_resolution") + " ", resolution])]));
    } else {
      box.appendChild(el("p", { class: "hint", text: t("suit_tif_only_jur") }));
    }
    box.appendChild(el("p", { class: "hint", text: t("suit_click_hint") }));
    if (state.suit.selected != null && answer.features[state.suit.selected]) box.appendChild(selectedBox(answer.features[state.suit.selected]));
    box.appendChild(el("p", { class: "data-version hint", text: t("data_version") + ": " + answer.data_version }));
    renderLegend();
  }

  /* The map's legend while the partition is shown: colours and km² per verdict. */
  var Legend = L.Control.extend({
    options: { position: "bottomleft" },  // the layer switcher fills the right-hand side
    onAdd: function () {
      this.box = el("div", { class: "ez-legend leaflet-bar", id: "suit-legend" });
      L.DomEvent.disableClickPropagation(this.box);
      renderLegend(this.box);
      return this.box;
    }
  });
  var legend = new Legend();

  function renderLegend(node) {
    var box = node || legend.box;
    var answer = state.suit.answer;
    if (!box || !answer) return;
    box.innerHTML = "";
    box.appendChild(el("div", { class: "ez-legend-title", text: t("legend_title") }));
    SUIT_ORDER.forEach(function (v) {
      var m2 = (answer.summary || {})[v] || 0;
      box.appendChild(el("div", { class: "ez-legend-row" + (m2 ? "" : " zero"), "data-verdict": v }, [
        el("span", { class: "suit-swatch suit-swatch-" + v, style: "--c:" + (EFFECT_COLOR[v] || "#6c757d") }),
        el("span", { class: "ez-legend-name", text: VERDICT[v].zh + " / " + VERDICT[v].en.split(" —")[0] }),
        el("span", { class: "ez-legend-km2", text: fmt(m2 / 1e6, 2) + " km²" })
      ]));
    });
  }

  // --- language --------------------------------------------------------------------------------
  EZ.onLang(function (lang) {
    if (map.pm && map.pm.setLang) map.pm.setLang(lang === "zh" ? "zh" : "en");
    renderModeHint();
    if (state.types.length) renderTypes();
    if (state.layerOrder.length) renderLayerList();
    if (state.answer) { drawAnswer(state.answer); renderResult(); }
    if (state.suit.jurisdictions) renderJurisdictions();
    if (document.getElementById("suit-draw-state")) renderDrawState();
    if (state.suit.answer) renderSuit();
  });

  // --- start -----------------------------------------------------------------------------------
  EZ.start();
  setMode("point");
  var ready = Promise.all([
    EZ.api("/v1/app-config").then(applyConfig),
    EZ.api("/v1/project-types").then(function (types) { state.types = types; renderTypes(); })
  ]).then(loadLayers).then(function () {
    if (state.config) renderLayerList();
    document.body.setAttribute("data-ready", "true");
  }).catch(function (err) {
    notice(EZ.errorBox(err), "startup");
    document.body.setAttribute("data-ready", "error");
  });

  // For scripts and tests: the map, its state and the layer handles.
  window.ecozone = {
    map: map, state: state, ready: ready, setLayer: setLayer, setMode: setMode, setSite: setSite,
    resultLayer: resultLayer, siteLayer: siteLayer, suitLayer: suitLayer, setTab: setTab,
    chainageOverlays: function () {
      return chainageOverlays.map(function (o) {
        return { rule_id: o.rule_id, effect: o.effect, from_m: o.from_m, to_m: o.to_m,
          latlngs: o.layer.getLatLngs().map(function (part) { return part.map(function (ll) { return [ll.lng, ll.lat]; }); }) };
      });
    },
    layerMode: function (id) { return state.layers[id] && state.layers[id].mode; },
    layerOnMap: function (id) { var e = state.layers[id]; return !!(e && e.leaflet && map.hasLayer(e.leaflet)); }
  };
})();
