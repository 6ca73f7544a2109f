"""report.html: the matrix as one self-contained page.

No external resources (no CDN, fonts or images): the page must open from a CI
artifact store or a mail attachment offline. Filters are plain inline JS; every
cell's detail is a <details> element, so the page also reads without JS.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Optional

from kmatrix.report import LEGEND, SEVERITY, CellEntry, Matrix, build_matrix, excerpt
from kmatrix.report.jsonout import atomic_write
from kmatrix.results import HostResult, RunResult

COLOURS = {
    "pass": "#2e7d32",
    "fail": "#c62828",
    "xfail": "#ef8f00",
    "xpass": "#6a1b9a",
    "skip": "#757575",
    "error": "#ad1457",
    "flaky": "#0277bd",
}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:.3em .5em;vertical-align:top;text-align:left}
th{background:#f3f3f3}
td.cell{min-width:7em}
.v{display:inline-block;padding:.1em .5em;border-radius:.3em;color:#fff;font-weight:600}
%s
details summary{cursor:pointer;list-style:none}
details[open]{background:#fafafa}
.detail{font-size:.85em;max-width:40em}
pre{white-space:pre-wrap;max-height:20em;overflow:auto;background:#f6f6f6;padding:.4em;font-size:.85em}
.filters label{margin-right:1em}
.missing{color:#aaa}
.hidden{display:none}
.warn{color:#a15c00}
.dim{opacity:.25}
.detail h4{margin:.6em 0 .2em;font-size:1em;border-bottom:1px solid #ddd}
.kv{display:grid;grid-template-columns:max-content 1fr;gap:0 .8em}
.kv b{font-weight:600}
#f-count{margin-left:1em;color:#555}
.hosts td,.hosts th{font-size:.9em}
"""

_JS = """
(function(){
  function val(id){return document.getElementById(id).value;}
  function apply(){
    var fam=val('f-family'), arch=val('f-arch'), st=val('f-state'), shown=0, total=0;
    document.querySelectorAll('[data-col-arch]').forEach(function(el){
      el.classList.toggle('hidden', arch!=='' && el.getAttribute('data-col-arch')!==arch);
    });
    document.querySelectorAll('tr.row').forEach(function(tr){
      var show = fam==='' || tr.getAttribute('data-family')===fam;
      total++;
      if(show && st!==''){
        show=false;
        tr.querySelectorAll('td.cell').forEach(function(td){
          if(!td.classList.contains('hidden') && td.getAttribute('data-state')===st){show=true;}
        });
      }
      // Within a shown row, cells of other states fade so the chosen state stands out.
      tr.querySelectorAll('td.cell').forEach(function(td){
        td.classList.toggle('dim', st!=='' && td.getAttribute('data-state')!==st);
      });
      tr.classList.toggle('hidden', !show);
      if(show){shown++;}
    });
    var c=document.getElementById('f-count');
    if(c){c.textContent=shown+' of '+total+' features shown';}
  }
  ['f-family','f-arch','f-state'].forEach(function(id){
    document.getElementById(id).addEventListener('change', apply);
  });
  apply();
})();
"""


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _safe_url(url: str) -> Optional[str]:
    # Links come from suite files; only http(s) may become an href (no javascript:).
    u = str(url or "").strip()
    return u if u.startswith(("https://", "http://")) else None


def _kv(rows: list[tuple[str, Any]]) -> str:
    return '<div class="kv">' + "".join(f"<b>{_e(k)}</b><span>{_e(v)}</span>"
                                        for k, v in rows if v not in (None, "", [])) + "</div>"


def _host_facts(h: HostResult) -> str:
    props = h.properties or {}
    facts = h.facts or {}
    return _kv([
        ("host", h.name),
        ("arch", h.arch),
        ("kernel", h.kernel),
        ("os", h.os_release),
        ("env tags", ", ".join(h.env_tags)),
        ("libbpf", props.get("libbpf") or facts.get("libbpf") or ""),
        ("compiler", props.get("compiler") or facts.get("clang") or ""),
        ("python", props.get("python") or facts.get("python") or ""),
    ])


# Kernel config options that decide BPF features; the rest of the config is noise here.
_CONFIG_PREFIXES = ("CONFIG_BPF", "CONFIG_DEBUG_INFO_BTF", "CONFIG_FTRACE", "CONFIG_DYNAMIC_FTRACE",
                    "CONFIG_FUNCTION_TRACER", "CONFIG_ARM_SPE", "CONFIG_XDP", "CONFIG_NET_CLS_BPF",
                    "CONFIG_CGROUP_BPF", "CONFIG_KPROBE")


def probe_rows(h: HostResult) -> list[tuple[str, Any]]:
    """What the preflight probe found on the host: the facts a case's `requires` is judged by."""
    f = h.facts or {}
    btf = f.get("btf") or {}
    ftrace = f.get("ftrace") or {}
    jit = f.get("bpf_jit_enable")
    rows: list[tuple[str, Any]] = [
        ("BTF", (f"present, {btf.get('size')} bytes" if btf.get("present") else "absent")
         if btf else ""),
        ("JIT", "" if jit is None else ("on" if jit else "off") + f" (bpf_jit_enable={jit})"),
        ("ftrace", "" if not ftrace else ("usable" if ftrace.get("usable")
                                          else f"blocked: {ftrace.get('reason', '')}")),
        ("PMUs", ", ".join(f.get("pmus") or [])),
        ("bpftool", f.get("bpftool") or ""),
        ("libbpf", " ".join(str(x) for x in (
            (h.properties or {}).get("libbpf") or f.get("libbpf") or "",
            (h.properties or {}).get("libbpf.mode") or "",
            (h.properties or {}).get("libbpf.source") or "",
            (h.properties or {}).get("libbpf.sha256") or "") if x)),
    ]
    probe = f.get("probe") or {}
    if isinstance(probe, dict) and probe.get("kfuncs"):
        rows.append(("kfuncs", f"{len(probe['kfuncs'])}: " + ", ".join(probe["kfuncs"][:30])))
    for name, r in sorted((f.get("probes") or {}).items()):
        if isinstance(r, dict):
            rows.append((f"probe {name}", f"{r.get('state')}: {r.get('sentence', '')}"))
    cfg = f.get("kernel_config")
    if isinstance(cfg, dict):
        picked = sorted(f"{k}={v}" for k, v in cfg.items() if k.startswith(_CONFIG_PREFIXES))
        rows.append(("config", (", ".join(picked[:24]) + (" ..." if len(picked) > 24 else ""))
                     + (f" (from {f.get('kernel_config_source')})"
                        if f.get("kernel_config_source") else "")))
    elif "kernel_config" in f:
        rows.append(("config", "unreadable on the target"))
    return rows


_CLASS_HELP = {
    "kernel-lacks": "the kernel does not have it (missing kfunc/BTF function, config, version)",
    "environment-blocks": "the kernel may have it, but this environment prevents its use",
    "hardware-missing": "the machine lacks the hardware (e.g. a PMU)",
}


def _entry_detail(e: CellEntry) -> str:
    c = e.case
    exp = c.expectation or {}
    parts = [f'<div><span class="v v-{_e(e.verdict)}">{_e(e.verdict)}</span> '
             f"<b>{_e(c.case)}</b> on <b>{_e(e.host.name)}</b>: state <b>{_e(c.state)}</b>, "
             f"{c.duration:.3f}s"
             + (f", {c.attempts} attempts" if c.attempts and c.attempts > 1 else "") + "</div>"]
    if c.reason:
        parts.append(f"<div><b>reason</b>: {_e(c.reason)}</div>")
    if c.reason_class:
        parts.append(f"<div><b>reason class</b>: {_e(c.reason_class)} "
                     f"<small>({_e(_CLASS_HELP.get(c.reason_class, ''))})</small></div>")
    if exp:
        url = _safe_url(exp.get("link", ""))
        link = (f' <a href="{_e(url)}" rel="noreferrer">{_e(url)}</a>' if url
                else f" {_e(exp.get('link', ''))}")
        parts.append(
            f"<div><b>expectation</b> ({_e(exp.get('suite', ''))} {_e(exp.get('source', ''))}): "
            f"{_e(exp.get('state', ''))}: {_e(exp.get('reason', ''))}{link}</div>"
        )
    if c.verifier_log:
        parts.append(f"<h4>verifier log (tail)</h4><pre>{_e(excerpt(c.verifier_log))}</pre>")
    if c.dmesg:
        parts.append(f"<h4>dmesg</h4><pre>{_e(excerpt(chr(10).join(c.dmesg), 20))}</pre>")
    if c.output:
        parts.append(f"<h4>output (tail)</h4><pre>{_e(excerpt(c.output, 30))}</pre>")
    if c.details:
        parts.append("<h4>details</h4><pre>"
                     + _e(json.dumps(c.details, indent=1, sort_keys=True, default=str)) + "</pre>")
    parts.append(f'<h4>host</h4><div class="facts">{_host_facts(e.host)}</div>')
    probe = probe_rows(e.host)
    if any(v for _, v in probe):
        parts.append(f'<h4>probe</h4><div class="probe">{_kv(probe)}</div>')
    return "".join(parts)


def _cell(m: Matrix, case_id: str, col: Any) -> str:
    entries = m.cell(case_id, col)
    attrs = (f'class="cell" data-col-arch="{_e(col.arch)}" data-case="{_e(case_id)}" '
             f'data-kernel="{_e(col.kernel)}"')
    if not entries:
        return f'<td {attrs} data-state="none"><span class="missing">—</span></td>'
    v = m.cell_verdict(case_id, col) or "error"
    details = "<hr>".join(_entry_detail(e) for e in entries)
    hosts = "" if len(entries) == 1 else f" ×{len(entries)}"
    return (f'<td {attrs} data-state="{_e(v)}" '
            f'data-hosts="{_e(" ".join(e.host.name for e in entries))}"><details><summary>'
            f'<span class="v v-{_e(v)}">{_e(v)}</span>{hosts}</summary>'
            f'<div class="detail">{details}</div></details></td>')


def _options(values: list[str], label: str) -> str:
    opts = [f'<option value="">all {label}</option>'] + [
        f'<option value="{_e(v)}">{_e(v)}</option>' for v in values
    ]
    return "".join(opts)


def render_html(runs: list[RunResult], title: Optional[str] = None,
                labels: Optional[list[str]] = None) -> str:
    m = build_matrix(runs, labels)
    title = title or "kmatrix BPF feature compatibility report"
    css = _CSS % "\n".join(f".v-{k}{{background:{c}}}" for k, c in COLOURS.items())
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{css}</style></head><body>",
        f"<h1>{_e(title)}</h1><ul>",
    ]
    for r in runs:
        inc = ' <b class="warn">incomplete</b>' if r.incomplete else ""
        shard = f", shard {_e(r.shard)}" if r.shard else ""
        out.append(f"<li>run <code>{_e(r.run_id)}</code>, suite <code>{_e(r.suite or '-')}</code>"
                   f"{shard}, {_e(r.started or '?')} – {_e(r.finished or '?')}{inc}</li>")
    out.append("</ul>")

    arches = sorted({c.arch for c in m.columns}, key=lambda a: [c.arch for c in m.columns].index(a))
    states = list(SEVERITY)
    out.append('<div class="filters">'
               f'<label>family <select id="f-family">{_options(m.families(), "families")}</select></label>'
               f'<label>arch <select id="f-arch">{_options(arches, "arches")}</select></label>'
               f'<label>state <select id="f-state">{_options(states, "states")}</select></label>'
               '<span id="f-count"></span></div>')

    if not m.columns:
        out.append("<p>No hosts in these results.</p>")
    else:
        out.append('<table id="matrix"><thead><tr><th>feature</th>')
        for col in m.columns:
            names = ", ".join(h.name for h in col.hosts)
            group = f"<b>{_e(col.group)}</b><br>" if col.group else ""
            osr = f"<br><small>{_e(col.os)}</small>" if col.os else ""
            out.append(f'<th data-col-arch="{_e(col.arch)}">{group}{_e(col.arch)}<br>'
                       f"<small>{_e(col.kernel)}</small>{osr}<br><small>{_e(names)}</small></th>")
        out.append("</tr></thead><tbody>")
        for case_id in m.rows:
            fam = case_id.split("/", 1)[0]
            out.append(f'<tr class="row" data-family="{_e(fam)}"><th><code>{_e(case_id)}</code></th>')
            out.extend(_cell(m, case_id, col) for col in m.columns)
            out.append("</tr>")
        out.append("</tbody></table>")

    out.append("<h2>Legend</h2><table>")
    for v in SEVERITY:
        out.append(f'<tr><td><span class="v v-{v}">{v}</span></td><td>{_e(LEGEND[v])}</td></tr>')
    out.append('<tr><td><span class="missing">—</span></td><td>not run on that column</td></tr>')
    out.append("</table>")

    hosts = [(r, h) for r in runs for h in r.hosts]
    if hosts:
        out.append('<h2>Hosts</h2><table class="hosts"><tr><th>host</th><th>arch</th>'
                   "<th>kernel</th><th>os</th><th>run</th><th>probe</th><th>status</th></tr>")
        for r, h in hosts:
            status = f"error: {h.error}" if h.error else (
                "complete" if h.complete else "incomplete")
            out.append(f"<tr><td>{_e(h.name)}</td><td>{_e(h.arch)}</td><td>{_e(h.kernel)}</td>"
                       f"<td>{_e(h.os_release)}</td><td><code>{_e(r.run_id)}</code></td>"
                       f"<td>{_kv(probe_rows(h))}</td><td>{_e(status)}</td></tr>")
        out.append("</table>")

    if m.host_errors:
        out.append("<h2>Host errors</h2><ul>")
        for r, h in m.host_errors:
            out.append(f"<li><b>{_e(h.name)}</b> ({_e(h.arch)}, run <code>{_e(r.run_id)}</code>): "
                       f"{_e(h.error)}</li>")
        out.append("</ul>")
    warnings = list(dict.fromkeys(w for r in runs for w in r.warnings))
    if warnings:
        out.append("<h2>Warnings</h2><ul>")
        out.extend(f'<li class="warn">{_e(w)}</li>' for w in warnings)
        out.append("</ul>")
    out.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(out) + "\n"


def write_html(runs: list[RunResult], path: Path | str,
               labels: Optional[list[str]] = None) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(p, render_html(list(runs), labels=labels).encode("utf-8"))
    return p
