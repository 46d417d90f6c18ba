"""The printable siting report: GET /v1/siting/report.pdf (the map's query parameters) and
POST /v1/siting/report.pdf (a SitingRequest body).

An HTML document (Chinese first, English alongside) made into a PDF by WeasyPrint, with the
static map (matplotlib, maps.static_map) embedded as a data: URI. Nothing is fetched from the
network: the URL fetcher handed to WeasyPrint serves data: URLs and font files under the
system font folders, and refuses everything else. Without a CJK font WeasyPrint would print
empty boxes silently, so a missing font is a 503 saying what to install, before any work.
"""

from __future__ import annotations

import base64
import html
import re
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from string import Template
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from ecozone.checks import SitingRequest
from ecozone.deps import get_service, get_settings
from ecozone.maps.folium_maps import check_answer, district_context, illustrative_layers, siting_request
from ecozone.maps.static_map import (
    EFFECT_COLOURS, EFFECT_EN, EFFECT_ZH, ILLUSTRATIVE_EN, ILLUSTRATIVE_ZH, cjk_font,
    render_site_map, verdict_text,
)
from ecozone.service import Service
from ecozone.settings import Settings

router = APIRouter(tags=["maps"])

CHINA_TZ = timezone(timedelta(hours=8), "UTC+8")
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".local/share/fonts",
             Path.home() / ".fonts")
DISCLAIMER = f"{ILLUSTRATIVE_ZH} — {ILLUSTRATIVE_EN}"
# WeasyPrint shares fontconfig/pango state and matplotlib its font cache; reports are few, so
# each is drawn one at a time (the check itself runs concurrently).
_render_lock = threading.Lock()
_draw_lock = threading.Lock()


def require_font() -> tuple[str, Path]:
    """The CJK font (family, file); FontMissing (503) when it is not installed."""
    family, path = cjk_font()
    if not path.is_file():  # removed since it was found
        cjk_font.cache_clear()
        family, path = cjk_font()
    return family, path


# --- no network -----------------------------------------------------------------------------
def _offline_fetcher(font_dirs: list[Path]):
    from weasyprint.urls import URLFetcher

    roots = [d.resolve() for d in font_dirs if d.exists()]

    class OfflineFetcher(URLFetcher):
        """data: URLs, and file: URLs of fonts under the font folders; nothing else."""

        refused: list[str]

        def __init__(self) -> None:
            super().__init__(allowed_protocols=("data", "file"), allow_redirects=False, timeout=1)
            self.refused = []

        def fetch(self, url, headers=None):
            scheme = url.split(":", 1)[0].lower()
            if scheme == "file":
                path = Path(url2pathname(unquote(urlsplit(url).path))).resolve()
                if not any(path.is_relative_to(r) for r in roots):
                    self.refused.append(url)
                    raise ValueError(f"report may not read {url}: only fonts under {', '.join(map(str, roots))}")
            elif scheme != "data":
                self.refused.append(url)
                raise ValueError(f"report may not fetch {url}: no network")
            return super().fetch(url, headers)

    return OfflineFetcher()


def offline_fetcher(font_path: Path):
    return _offline_fetcher([font_path.parent, *FONT_DIRS])


# --- the document ---------------------------------------------------------------------------
def e(value) -> str:
    return html.escape("" if value is None else str(value))


def _num(v, digits: int = 1) -> str:
    return "—" if v is None else f"{v:,.{digits}f}"


PAGE = Template("""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>$title</title>
<meta name="author" content="ecozone">
<meta name="generator" content="ecozone siting report">
<meta name="dcterms.created" content="$created">
<style>
@font-face { font-family: "ecozone-cjk"; src: local("$family"), url("$font_url"); }
@page { size: A4; margin: 16mm 14mm 18mm 14mm;
  @top-left { content: "生态环境分区管控选址核查报告 · Siting check report"; font: 8pt "$family", "ecozone-cjk"; color: #666; }
  @top-right { content: "数据版本 $data_version"; font: 8pt "$family", "ecozone-cjk"; color: #666; }
  @bottom-center { content: "第 " counter(page) " 页 / 共 " counter(pages) " 页 · page " counter(page) " of " counter(pages);
    font: 8pt "$family", "ecozone-cjk"; color: #666; }
  $page_footer
}
html { font-family: "$family", "ecozone-cjk"; font-size: 9.5pt; line-height: 1.45; color: #222; }
h1 { font-size: 17pt; margin: 0 0 2pt; }
h1 small { display: block; font-size: 10pt; font-weight: normal; color: #555; }
h2 { font-size: 12pt; margin: 12pt 0 4pt; padding-bottom: 2pt; border-bottom: 1.2pt solid #444; break-after: avoid; }
h3 { font-size: 10pt; margin: 8pt 0 2pt; break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin: 3pt 0; }
th, td { border: 0.6pt solid #999; padding: 2pt 4pt; vertical-align: top; text-align: left; }
th { background: #eeeeee; font-weight: bold; }
td.n { text-align: right; white-space: nowrap; }
tr { break-inside: avoid; }
table.layers, table.findings { font-size: 8.5pt; }
table.findings td.mono { font-size: 8pt; overflow-wrap: anywhere; }
table.meta th { width: 26%; }
.verdict { color: #fff; padding: 6pt 10pt; margin: 8pt 0; border-radius: 3pt; font-size: 14pt; font-weight: bold; }
.verdict small { display: block; font-size: 9.5pt; font-weight: normal; }
.note { background: #fff8e1; border-left: 3pt solid #f9a825; padding: 4pt 6pt; margin: 4pt 0; }
.warn { background: #ffebee; border: 1pt solid #b71c1c; color: #b71c1c; padding: 4pt 6pt; margin: 6pt 0; font-weight: bold; }
.en { color: #555; }
.mono { font-family: "DejaVu Sans Mono", monospace; font-size: 8.5pt; }
blockquote { margin: 3pt 0 6pt; padding: 3pt 8pt; background: #f5f5f5; border-left: 2.5pt solid #888; }
figure { margin: 6pt 0; break-inside: avoid; }
figure img { width: 100%; border: 0.6pt solid #999; }
figcaption { font-size: 8pt; color: #555; }
.citation { break-inside: avoid; margin-bottom: 6pt; }
.effect { font-weight: bold; }
</style>
</head>
<body>
<h1>生态环境分区管控选址核查报告<small>Ecological zoning siting check report — Chongqing</small></h1>
$illustrative
<table class="meta">
<tr><th>生成时间 Generated</th><td>$generated_local（UTC+8）<br><span class="mono">$generated_iso</span></td></tr>
<tr><th>选址 Site</th><td>$site</td></tr>
<tr><th>输入坐标系 Input CRS</th><td>$input_crs</td></tr>
<tr><th>项目类型 Project type</th><td>$project_types</td></tr>
<tr><th>辖区 Jurisdictions</th><td>$jurisdictions</td></tr>
<tr><th>数据版本 Data version</th><td class="mono">$data_version</td></tr>
</table>
<div class="verdict" style="background: $verdict_colour">结论：$verdict_zh<small>Verdict: $verdict_en</small></div>
$verdict_note
<h2>覆盖范围 Coverage</h2>
$coverage
<h2>示意图 Map</h2>
<figure><img src="$map_src" alt="选址示意图 site map">
<figcaption>$map_caption</figcaption></figure>
<h2>核查依据 Findings</h2>
$findings
$chainage
$conditional
$superseded
<h2>规划原文 Citations</h2>
$citations
<h2>例外情形 Exceptions</h2>
$exceptions
<h2>环境管控单元 Control units</h2>
$control_units
<h2>数据与图层版本 Data and layer versions</h2>
<p>数据版本 data version: <span class="mono">$data_version</span>（图层内容与规则目录的摘要 digest of the layers' content and the rule catalog）</p>
$layers
<h2>说明 Notes</h2>
$disclaimer
<p>本报告由 ecozone 依据已载入的规划与图层自动生成；距离在 CGCS2000 / 3° 高斯-克吕格（EPSG:4545）中量测，并按点比例因子改正为椭球面距离。结论以规划原文和主管部门意见为准。<br>
<span class="en">Generated by ecozone from the plans and layers loaded; distances are measured in CGCS2000 / 3-degree
Gauss-Kruger (EPSG:4545) and corrected for its point scale to ellipsoidal distances. The plans' text and the
competent authorities prevail.</span></p>
</body>
</html>
""")


def _site_html(answer: dict) -> str:
    site = answer["site"]
    geom = site["geometry"]
    label = f"<b>{e(answer['label'])}</b><br>" if answer.get("label") else ""
    if geom["type"] == "Point":
        lon, lat = geom["coordinates"][:2]
        where = f"点 Point：经度 lon {lon:.6f}°，纬度 lat {lat:.6f}°（WGS84）"
    else:
        import shapely.geometry

        g = shapely.geometry.shape(geom)
        c = g.centroid
        x0, y0, x1, y1 = g.bounds
        where = (f"{e(geom['type'])}，{int(shapely.get_num_coordinates(g))} 个顶点 vertices；中心 centre "
                 f"{c.x:.6f}°, {c.y:.6f}°；范围 bounds {x0:.5f}, {y0:.5f} — {x1:.5f}, {y1:.5f}（WGS84）")
    extra = []
    if site.get("area_m2") is not None:
        extra.append(f"面积 area {_num(site['area_m2'], 0)} m²（{site['area_m2'] / 1e4:,.2f} 公顷 ha）")
    if site.get("length_m") is not None:
        extra.append(f"长度 length {_num(site['length_m'], 0)} m")
    return label + where + ("<br>" + "；".join(extra) if extra else "")


def _findings_table(rows: list[dict], empty: str) -> str:
    if not rows:
        return f"<p>{empty}</p>"
    out = ["<table class='findings'><thead><tr><th>#</th><th style='width:24%'>规则 Rule</th><th>效力 Effect</th>"
           "<th style='width:17%'>要素 Feature</th><th>距离 Distance (m)</th><th>阈值 Threshold (m)</th>"
           "<th>重叠 Overlap (m²)</th><th style='width:13%'>规划条款 Plan section</th></tr></thead>"]
    for i, f in enumerate(rows, 1):
        c = f.get("citation") or {}
        colour = EFFECT_COLOURS.get(f["effect"], "#333")
        overlap = _num(f.get("overlap_area_m2"), 0)
        if f.get("overlap_ratio") is not None:
            overlap += f"（{f['overlap_ratio'] * 100:.1f}%）"
        out.append(
            f"<tr><td>{i}</td><td class='mono'>{e(f['rule_id'])}</td>"
            f"<td class='effect' style='color:{colour}'>{e(EFFECT_ZH.get(f['effect'], f['effect']))}<br>"
            f"<span class='en'>{e(EFFECT_EN.get(f['effect'], f['effect']))}</span></td>"
            f"<td>{e(f.get('feature_name') or f.get('feature_id'))}<br><span class='en mono'>{e(f.get('layer'))}</span></td>"
            f"<td class='n'>{_num(f.get('distance_m'))}</td><td class='n'>{_num(f.get('threshold_m'), 0)}</td>"
            f"<td class='n'>{overlap}</td><td>{e(c.get('section'))}</td></tr>"
        )
    out.append("</table>")
    return "".join(out)


def _chainage_html(answer: dict) -> str:
    """A route's intervals inside each rule's zone, as stakes (桩号 K3+250) route designers use."""
    if "chainage_length_m" not in answer:
        return ""
    rows = [(f, s) for f in answer.get("findings") or [] for s in f.get("segments") or []]
    out = [f"<h3>线路桩号区间 Chainage intervals</h3><p>线路全长 route length "
           f"{answer['chainage_length_m'] / 1000:.3f} km（自首点起算的大地线里程 geodesic chainage from the first vertex）</p>"]
    if not rows:
        return out[0] + "<p>线路不在任何规则的管控范围内。The route lies in no rule's zone.</p>"
    out.append("<table class='findings'><thead><tr><th>规则 Rule</th><th>效力 Effect</th><th>起 From</th><th>止 To</th>"
               "<th>长度 Length (m)</th></tr></thead>")
    for f, seg in rows:
        colour = EFFECT_COLOURS.get(f["effect"], "#333")
        out.append(f"<tr><td class='mono'>{e(f['rule_id'])}</td><td class='effect' style='color:{colour}'>"
                   f"{e(EFFECT_ZH.get(f['effect'], f['effect']))}</td><td class='mono'>{e(seg['from_k'])}</td>"
                   f"<td class='mono'>{e(seg['to_k'])}</td><td class='n'>{_num(seg['length_m'])}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _citation_html(f: dict, n: int, kind: str = "") -> str:
    c = f.get("citation") or {}
    msg = f.get("message") or {}
    return (
        f"<div class='citation'><h3>{n}. <span class='mono'>{e(f['rule_id'])}</span>{kind} — "
        f"《{e(c.get('document'))}》{e(c.get('section'))}</h3>"
        + (f"<div class='en'>{e(c.get('heading'))}</div>" if c.get("heading") else "")
        + f"<blockquote>{e(c.get('text'))}</blockquote>"
        f"<div>{e(msg.get('zh'))}<br><span class='en'>{e(msg.get('en'))}</span></div></div>"
    )


def _exceptions_html(rows: list[tuple[dict, str]]) -> str:
    items = [(f, kind) for f, kind in rows if f.get("exception")]
    if not items:
        return "<p>所列规则均未附例外情形。<span class='en'>None of the rules listed carries an exception.</span></p>"
    out = []
    for f, kind in items:
        ex = f["exception"]
        out.append(f"<div class='citation'><h3><span class='mono'>{e(f['rule_id'])}</span>{kind}</h3>"
                   f"<div>{e(ex.get('zh'))}<br><span class='en'>{e(ex.get('en'))}</span></div>"
                   + (f"<blockquote>{e(ex.get('text'))}</blockquote>" if ex.get("text") else "")
                   + "</div>")
    out.append("<p class='en'>例外情形不改变结论，仅说明何种情况下可另作处理。An exception never changes the verdict; it "
               "says what would.</p>")
    return "".join(out)


def _control_units_html(units: list[dict]) -> str:
    if not units:
        return "<p>选址不在已载入的环境管控单元内。<span class='en'>The site is in no loaded control unit.</span></p>"
    out = ["<table><thead><tr><th style='width:20%'>编码 Code</th><th style='width:20%'>名称 Name</th>"
           "<th style='width:8%'>类别 Class</th><th>准入清单 Access list</th></tr></thead>"]
    for u in units:
        out.append(f"<tr><td class='mono'>{e(u.get('code'))}</td><td>{e(u.get('name'))}</td>"
                   f"<td>{e(u.get('unit_class'))}</td><td>{e(u.get('access_list'))}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _layers_html(answer: dict, service: Service, illustrative: list[str]) -> str:
    infos = {i.id: i for i in service.snapshot.layers}
    out = ["<table class='layers'><thead><tr><th style='width:30%'>图层 Layer / 类型 kind</th>"
           "<th style='width:30%'>名称 Name</th><th>版本 Version</th><th>要素 Features</th>"
           "<th>更新 Updated (UTC)</th><th>示意 Illustr.</th></tr></thead>"]
    for layer_id, version in sorted((answer.get("layer_versions") or {}).items()):
        info = infos.get(layer_id)
        updated = (info.updated_at or "")[:16].replace("T", " ") if info else ""
        out.append(
            f"<tr><td class='mono'>{e(layer_id)}<br><span class='en'>{e(info.kind if info else '')}</span></td>"
            f"<td>{e(info.name if info else '')}</td><td class='n'>v{e(version)}</td>"
            f"<td class='n'>{e(info.feature_count if info else '')}</td><td class='mono'>{e(updated)}</td>"
            f"<td>{'是 yes' if layer_id in illustrative else ''}</td></tr>"
        )
    out.append("</table>")
    return "".join(out)


def report_html(answer: dict, service: Service, illustrative: list[str], map_png: bytes, family: str,
                font_path: Path, generated: datetime) -> str:
    verdict = answer["verdict"]
    zh, en = verdict_text(verdict)
    types = answer.get("project_types")
    names = {t.code: t.name for t in service.catalog.project_types}
    if types:
        project_types = "；".join(
            f"{e(names[t].zh if t in names else t)} <span class='en'>{e(names[t].en if t in names else '')}</span> "
            f"<span class='mono'>({e(t)})</span>" for t in types)
    else:
        project_types = "未指定：列出选址所受的全部规则 <span class='en'>not given: every rule that binds the site</span>"
    jurisdictions = "；".join(
        f"{e(j['name'])} <span class='mono'>({e(j['code'])})</span>"
        + ("" if j.get("planned", True) else " — 规划未载入 <span class='en'>plan not loaded</span>")
        for j in answer.get("jurisdictions") or []) or "无 none（不在任何已载入辖区内 outside every loaded jurisdiction）"

    if verdict == "not_covered":
        verdict_note = ("<div class='warn'>该选址不在任何已载入规划的辖区内，未检查任何规则；本报告不构成准入结论，不得视为可以建设。"
                        "<br>No rule was checked here, so this report gives no clearance of any kind.</div>")
    elif verdict == "permitted":
        verdict_note = ("<div class='note'>在已载入的规划与图层中未发现约束该项目类型的规则；其他法规、审批与未载入的图层仍须另行核查。"
                        "<br><span class='en'>No loaded rule binds this project type here; other laws, approvals "
                        "and layers not loaded still apply.</span></div>")
    else:
        verdict_note = ""
    cov = answer.get("coverage") or {}
    coverage = f"<p>已载入规划的辖区覆盖选址的 {cov.get('covered_ratio', 0) * 100:.1f}%。" \
               f"<span class='en'>Jurisdictions with a loaded plan cover {cov.get('covered_ratio', 0) * 100:.1f}% of the site.</span></p>"
    if cov.get("note"):
        coverage += f"<div class='note'>{e(cov['note'].get('zh'))}<br><span class='en'>{e(cov['note'].get('en'))}</span></div>"

    findings = answer.get("findings") or []
    conditional = answer.get("conditional_findings") or []
    superseded = answer.get("superseded_findings") or []
    cond_html = ""
    if conditional:
        cond_html = ("<h3>有条件适用 Conditional findings</h3><p class='en'>约束所选类型的某些子类，不改变结论。These bind some "
                     "subtypes of the project type asked and never change the verdict.</p>"
                     + _findings_table(conditional, ""))
    sup_html = ""
    if superseded:
        sup_html = ("<h3>被取代 Superseded</h3><p class='en'>同一规划中更具体的规则已在此适用。A more specific rule of the "
                    "same plan binds here instead.</p>" + _findings_table(superseded, ""))
    none_text = ("未检查任何规则（选址不在已载入规划范围内）。<span class='en'>No rule was checked.</span>"
                 if verdict == "not_covered" else
                 "已载入的规则均不约束该选址。<span class='en'>No loaded rule binds the site.</span>")
    citations = [_citation_html(f, i) for i, f in enumerate(findings, 1)]
    citations += [_citation_html(f, i, "（有条件 conditional）") for i, f in enumerate(conditional, len(findings) + 1)]

    disclaimer = (f"<div class='warn'>{ILLUSTRATIVE_ZH} — {ILLUSTRATIVE_EN}<br>"
                  "<span style='font-weight:normal'>已载入的图层含示意要素（演示数据），其边界不具法律效力，结论仅供演示。"
                  "The loaded layers include illustrative (demo) features; their boundaries have no legal force.</span></div>"
                  if illustrative else "")
    banner = (f"<div class='warn'>{DISCLAIMER}</div>" if illustrative else "")
    caption = ("选址、所在区域（按效力着色）、决定性的缓冲线（虚线）、参照要素及最近距离；比例尺与指北针见图。"
               "Site, zones (coloured by effect), deciding buffer lines (dashed), reference features and the nearest "
               "distance; CGCS2000 / EPSG:4545.")
    if illustrative:
        caption += f" {ILLUSTRATIVE_ZH}。"
    map_src = "data:image/png;base64," + base64.b64encode(map_png).decode("ascii")
    return PAGE.substitute(
        title=e(f"选址核查报告 {zh}" + (f" — {answer['label']}" if answer.get("label") else "")),
        created=e(generated.isoformat(timespec="seconds")),
        family=e(family), font_url=e(font_path.resolve().as_uri()),
        page_footer=(f'@bottom-left {{ content: "{ILLUSTRATIVE_ZH}"; font: 8pt "{e(family)}", "ecozone-cjk"; '
                     'color: #b71c1c; }' if illustrative else ""),
        illustrative=banner,
        generated_local=e(generated.strftime("%Y-%m-%d %H:%M:%S")),
        generated_iso=e(generated.isoformat(timespec="seconds")),
        site=_site_html(answer), input_crs=e(answer["site"].get("input_crs")),
        project_types=project_types, jurisdictions=jurisdictions,
        data_version=e(answer.get("data_version")),
        verdict_colour=EFFECT_COLOURS.get(verdict, "#555"), verdict_zh=e(zh), verdict_en=e(en),
        verdict_note=verdict_note, coverage=coverage,
        map_src=map_src, map_caption=caption,
        findings=_findings_table(findings, none_text), chainage=_chainage_html(answer),
        conditional=cond_html, superseded=sup_html,
        citations="".join(citations) or f"<p>{none_text}</p>",
        exceptions=_exceptions_html([(f, "") for f in findings] + [(f, "（有条件 conditional）") for f in conditional]),
        control_units=_control_units_html(answer.get("control_units") or []),
        layers=_layers_html(answer, service, illustrative),
        disclaimer=disclaimer,
    )


def render_pdf(document: str, font_path: Path) -> bytes:
    import weasyprint
    from weasyprint.text.fonts import FontConfiguration

    fetcher = offline_fetcher(font_path)
    with _render_lock:
        return weasyprint.HTML(string=document, url_fetcher=fetcher).write_pdf(font_config=FontConfiguration())


def build_report(service: Service, settings: Settings, req: SitingRequest) -> tuple[bytes, dict]:
    family, font_path = require_font()  # before any work: no font, no report
    answer = check_answer(service, settings, req)
    illustrative = illustrative_layers(service)
    context = district_context(service, answer)
    with _draw_lock:
        png = render_site_map(answer, context=context, illustrative=bool(illustrative))
    generated = datetime.now(CHINA_TZ)
    document = report_html(answer, service, illustrative, png, family, font_path, generated)
    return render_pdf(document, font_path), answer


def pdf_response(pdf: bytes, answer: dict) -> Response:
    stamp = datetime.now(CHINA_TZ).strftime("%Y%m%d-%H%M%S")
    name = re.sub(r"[^A-Za-z0-9_.-]", "", f"siting-report-{answer.get('verdict')}-{stamp}.pdf")
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{name}"',
        "X-Ecozone-Data-Version": str(answer.get("data_version")),
        "Cache-Control": "no-store",
    })


@router.get("/v1/siting/report.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}, "description": "The report (PDF)"}})
def siting_report(
    req: SitingRequest = Depends(siting_request),
    service: Service = Depends(get_service),
    settings: Settings = Depends(get_settings),
) -> Response:
    """A printable PDF of one check: verdict, map, findings, verbatim citations, layer versions."""
    require_font()
    pdf, answer = build_report(service, settings, req)
    return pdf_response(pdf, answer)


@router.post("/v1/siting/report.pdf", response_class=Response,
             responses={200: {"content": {"application/pdf": {}}, "description": "The report (PDF)"}})
def siting_report_post(
    req: SitingRequest,
    service: Service = Depends(get_service),
    settings: Settings = Depends(get_settings),
) -> Response:
    """The report for a SitingRequest body (as POST /v1/siting/check takes)."""
    pdf, answer = build_report(service, settings, req)
    return pdf_response(pdf, answer)

