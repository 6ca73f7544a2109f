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

from kmatrix.errors import printable
from kmatrix.fileutil import atomic_write
from kmatrix.report import (
    CLASS_LEGEND,
    LEGEND,
    SEVERITY,
    CellEntry,
    Column,
    Matrix,
    build_matrix,
    cell_class,
    changed_from,
    excerpt,
    family_counts,
    libbpf_text,
    load_since,
)
from kmatrix.report.workloads import (
    NA,
    NOT_READY,
    PARTLY,
    READY,
    STATE_LEGEND,
    STATE_TEXT,
    Readiness,
    Workload,
    changed,
    load_workloads,
    readiness,
)
from kmatrix.results import (
    ENVIRONMENT_BLOCKS,
    HARDWARE_MISSING,
    KERNEL_LACKS,
    NOT_APPLICABLE,
    V_SKIP,
    HostResult,
    RunResult,
)

COLOURS = {
    "pass": "#2e7d32",
    "fail": "#c62828",
    "xfail": "#ef8f00",
    "xpass": "#6a1b9a",
    "skip": "#757575",
    "error": "#ad1457",
    "flaky": "#0277bd",
}

# What a cell means to a release engineer (report.cell_class), as report.md says it:
# a symbol and a colour each, so the page reads in greyscale and in print too.
CLASS_SYMBOL = {
    "supported": "\u2714",  # ✔
    "not-supported": "\u2298",  # ⊘ the kernel lacks it
    "not-tested": "\u25cc",  # ◌ not tested here
    NOT_APPLICABLE: "\u2205",  # ∅ the case is for other arches
    "known-failure": "\u26a0",  # ⚠
    "regression": "\u2718",  # ✘
    "error": "\u26a1",  # ⚡
}
CLASS_COLOURS = {  # background, text
    "supported": ("#2e7d32", "#fff"),
    "not-supported": ("#4e342e", "#fff"),
    "not-tested": ("#eceff1", "#37474f"),
    NOT_APPLICABLE: ("#fff", "#9e9e9e"),
    "known-failure": ("#f9a825", "#222"),
    "regression": ("#c62828", "#fff"),
    "error": ("#6a1b9a", "#fff"),
}
CLASS_NAME = {
    "supported": "supported",
    "not-supported": "lacks",
    "not-tested": "untested here",
    NOT_APPLICABLE: "not applicable",
    "known-failure": "known failure",
    "regression": "regression",
    "error": "error",
}
# The word after the symbol: the verdict, except that a skip says why it is one.
SKIP_WORD = {"not-supported": "lacks", "not-tested": "untested", NOT_APPLICABLE: "n/a"}
VERDICT_WORD = {"fail": "FAIL"}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","DejaVu Sans",sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:.3em .5em;vertical-align:top;text-align:left}
th{background:#f3f3f3}
td.cell{min-width:6.5em}
.v{display:inline-block;padding:.1em .5em;border-radius:.3em;color:#fff;font-weight:600}
%s
.c{display:inline-block;padding:.1em .45em;border-radius:.3em;font-weight:600;white-space:nowrap;
   border:1px solid transparent}
.c-not-tested{border:1px dashed #90a4ae}
.c-not-applicable{border:1px dotted #bdbdbd;font-weight:normal}
.delta{display:inline-block;margin-left:.3em;padding:0 .3em;border-radius:.3em;background:#1565c0;
       color:#fff;font-weight:700;font-size:.85em}
td.changed{box-shadow:inset 0 0 0 2px #1565c0}
.gstart{border-left:3px solid #555}
.matrix-wrap{overflow-x:auto}
th.case{font-weight:normal;min-width:14em;max-width:30em}
th.case code{font-weight:600}
.desc{font-size:.8em;color:#555;margin-top:.15em}
.since{font-size:.8em;white-space:nowrap;margin-left:.3em;color:#0d47a1}
tr.fam-sum th,tr.fam-sum td{background:#e8eaf6;font-weight:600}
tr.fam-sum th small{font-weight:normal;color:#555}
.bar{display:block;height:.3em;background:#c5cae9;margin-top:.2em;min-width:4em}
.bar i{display:block;height:100%%;background:#2e7d32}
tbody.fam:not(:has(tr.row:not(.hidden))) tr.fam-sum{display:none}
details summary{cursor:pointer;list-style:none}
details summary::-webkit-details-marker{display:none}
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
#f-print{display:none}
.hosts td,.hosts th{font-size:.9em}
@media print{
  @page{size:A4 landscape;margin:8mm}
  *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
  body{margin:0;font-size:8pt}
  .filters,#f-count{display:none}
  #f-print:not(:empty){display:block;font-style:italic;margin:.3em 0}
  .matrix-wrap{overflow:visible}
  table{width:100%%;max-width:100%%;table-layout:auto}
  th,td{overflow-wrap:anywhere;word-break:break-word;padding:.15em .3em}
  td.cell{min-width:0}
  th.case{min-width:9em;max-width:none}
  th.case code{overflow-wrap:normal;word-break:normal}
  .c{white-space:normal}
  .detail .d-lbl{display:none}
  thead{display:table-header-group}
  tr{break-inside:avoid}
  pre{max-height:none;overflow:visible}
  details[open]{background:none}
  /* every reason on paper: the detail of each cell that is not a plain pass, without
     the logs and host facts (those stay in the Hosts table) */
  td.cell:not([data-state="pass"]) details::details-content{content-visibility:visible;display:block}
  td.cell[data-state="pass"] .detail{display:none}
  .detail{max-width:none;font-size:.95em}
  .detail h4,.detail pre,.detail .facts,.detail .probe,.detail .d-head,.detail .d-class,
  .detail hr{display:none}
  .hosts .kv{display:block}
}
"""

_JS = """
(function(){
  function val(id){return document.getElementById(id).value;}
  function apply(){
    var fam=val('f-family'), arch=val('f-arch'), st=val('f-state'), shown=0, total=0;
    // A state is a verdict (data-state), a meaning (data-class) or "changed" (a Δ cell).
    function has(td){
      return td.getAttribute('data-state')===st || td.getAttribute('data-class')===st ||
        (st==='changed' && td.getAttribute('data-changed')!==null);
    }
    document.querySelectorAll('[data-col-arch]').forEach(function(el){
      el.classList.toggle('hidden', arch!=='' && el.getAttribute('data-col-arch')!==arch);
    });
    document.querySelectorAll('tr.row').forEach(function(tr){
      var show = fam==='' || tr.getAttribute('data-family')===fam;
      total++;
      if(show && st!==''){
        show=false;
        tr.querySelectorAll('td.cell').forEach(function(td){
          if(!td.classList.contains('hidden') && has(td)){show=true;}
        });
      }
      // Within a shown row, cells of other states fade so the chosen state stands out.
      tr.querySelectorAll('td.cell').forEach(function(td){
        td.classList.toggle('dim', st!=='' && !has(td));
      });
      tr.classList.toggle('hidden', !show);
      if(show){shown++;}
    });
    var c=document.getElementById('f-count');
    if(c){c.textContent=shown+' of '+total+' features shown';}
    // On paper the filters are gone: say which ones shaped the page.
    var p=document.getElementById('f-print'), on=[];
    [['family',fam],['arch',arch],['state',st]].forEach(function(f){if(f[1]){on.push(f[0]+' '+f[1]);}});
    if(p){p.textContent=on.length ? 'Filtered ('+on.join(', ')+'): '+shown+' of '+total+' features shown.' : '';}
  }
  ['f-family','f-arch','f-state'].forEach(function(id){
    document.getElementById(id).addEventListener('change', apply);
  });
  apply();
  // Printing opens every cell that has a reason (browsers without ::details-content
  // would print them closed), and closes them again afterwards.
  if(typeof window!=='undefined' && window.addEventListener){
    var opened=[];
    window.addEventListener('beforeprint', function(){
      document.querySelectorAll('td.cell:not([data-state="pass"]) details:not([open])')
        .forEach(function(d){d.open=true; opened.push(d);});
    });
    window.addEventListener('afterprint', function(){
      opened.forEach(function(d){d.open=false;}); opened=[];
    });
  }
})();
"""


def _e(v: Any) -> str:
    # Control characters (ESC, NUL... from a target or a foreign file) are shown
    # as \x1b etc.: a raw NUL is invalid HTML and ESC has no business in a page.
    return html.escape(printable("" if v is None else str(v), keep="\n\t"), quote=True)


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
        ("LSMs", ",".join(f["lsm"]) if isinstance(f.get("lsm"), list) else ""),
        ("bpftool", f.get("bpftool") or ""),
        ("libbpf", libbpf_text(h, full=True)),
    ]
    probe = f.get("probe") or {}
    if isinstance(probe, dict) and probe.get("kfuncs"):
        rows.append(("kfuncs", f"{len(probe['kfuncs'])}: " + ", ".join(probe["kfuncs"][:30])))
    for name, r in sorted((f.get("probes") or {}).items()):
        if isinstance(r, dict):
            rows.append((f"probe {name}", f"{r.get('state')}: {r.get('sentence', '')}"))
    cleanup = f.get("cleanup")
    if isinstance(cleanup, dict):
        left = f.get("leftovers") or []
        rows.append(("clean-up", ("confirmed" + (f"; left: {'; '.join(map(str, left))}"
                                                 if left else ", nothing left"))
                     if cleanup.get("confirmed") else f"NOT confirmed: {cleanup.get('reason')}"))
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
    KERNEL_LACKS: "the kernel does not have it (missing kfunc/BTF function, config, version)",
    ENVIRONMENT_BLOCKS: "the kernel may have it, but this environment prevents its use",
    HARDWARE_MISSING: "the machine lacks the hardware (e.g. a PMU)",
    NOT_APPLICABLE: "the case is for other arches: nothing to test here",
}


def _entry_detail(e: CellEntry, many: bool = False) -> str:
    c = e.case
    exp = c.expectation or {}
    parts = [f'<div class="d-head"><span class="v v-{_e(e.verdict)}">{_e(e.verdict)}</span> '
             f"<b>{_e(c.case)}</b> on <b>{_e(e.host.name)}</b>: state <b>{_e(c.state)}</b>, "
             f"{c.duration:.3f}s"
             + (f", {c.attempts} attempts" if c.attempts and c.attempts > 1 else "") + "</div>"]
    if c.reason:
        who = f"{_e(e.host.name)}: " if many else ""
        parts.append(f'<div class="d-reason">{who}<span class="d-lbl"><b>reason</b>: </span>'
                     f"{_e(c.reason)}</div>")
    if c.reason_class:
        parts.append(f'<div class="d-class"><b>reason class</b>: {_e(c.reason_class)} '
                     f"<small>({_e(_CLASS_HELP.get(c.reason_class, ''))})</small></div>")
    if exp:
        url = _safe_url(exp.get("link", ""))
        link = (f' <a href="{_e(url)}" rel="noreferrer">{_e(url)}</a>' if url
                else f" {_e(exp.get('link', ''))}")
        parts.append(
            f'<div class="d-exp"><b>expectation</b> ({_e(exp.get("suite", ""))} '
            f'{_e(exp.get("source", ""))}): '
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


def _symbol(entries: list[CellEntry], verdict: str) -> str:
    """'✔ pass', '⊘ lacks', '◌ untested', '⚠ xfail', '✘ FAIL', '⚡ error'."""
    cls = cell_class(entries)
    word = SKIP_WORD[cls] if verdict == V_SKIP else VERDICT_WORD.get(verdict, verdict)
    return f"{CLASS_SYMBOL[cls]} {word}"


def _badge(entries: list[CellEntry], verdict: str) -> str:
    """The symbol in the colour of what the cell means."""
    cls = cell_class(entries)
    return (f'<span class="c c-{cls}" title="{_e(CLASS_LEGEND[cls])}">'
            f"{_e(_symbol(entries, verdict))}</span>")


def _cell(m: Matrix, case_id: str, i: int, gstart: bool = False) -> str:
    col = m.columns[i]
    entries = m.cell(case_id, col)
    attrs = (f'data-col-arch="{_e(col.arch)}" data-case="{_e(case_id)}" '
             f'data-kernel="{_e(col.kernel)}"')
    extra = " gstart" if gstart else ""
    if not entries:
        return f'<td class="cell{extra}" {attrs} data-state="none"><span class="missing">—</span></td>'
    v = m.cell_verdict(case_id, col) or "error"
    cls = cell_class(entries)
    details = "<hr>".join(_entry_detail(e, len(entries) > 1) for e in entries)
    hosts = "" if len(entries) == 1 else f" ×{len(entries)}"
    delta = ""
    prev = changed_from(m, case_id, i)
    if prev is not None:
        pe = m.cell(case_id, prev)
        was = f"{_symbol(pe, m.cell_verdict(case_id, prev) or 'error')} in {prev.label}"
        delta = f' <span class="delta" title="changed: {_e(was)}">Δ</span>'
        extra += " changed"
        attrs += f' data-changed="{_e(prev.label)}"'
    return (f'<td class="cell{extra}" {attrs} data-state="{_e(v)}" '
            f'data-class="{_e(cls)}" '
            f'data-hosts="{_e(" ".join(e.host.name for e in entries))}"><details><summary>'
            f"{_badge(entries, v)}{hosts}{delta}</summary>"
            f'<div class="detail">{details}</div></details></td>')


def _row_head(m: Matrix, case_id: str) -> str:
    """The case id, "since X" linked to its source, and the description."""
    # <wbr>: a narrow (printed) column breaks the id after the family, not mid-word.
    out = "<code>" + "/<wbr>".join(_e(p) for p in case_id.split("/", 1)) + "</code>"
    s = load_since().get(case_id)
    if s is not None:
        tip = f"first upstream Linux release{' on ' + s.arch if s.arch else ''}: " \
              f"{s.version}, from {s.basis}; source: {s.link}"
        out += (f' <a class="since" href="{_e(s.link)}" rel="noreferrer" '
                f'title="{_e(tip)}">{_e(s.text)}</a>')
    desc = m.descriptions.get(case_id, "")
    if desc:
        out += f'<div class="desc">{_e(desc)}</div>'
    return f'<th class="case">{out}</th>'


def _family_cell(m: Matrix, ids: list[str], col: Column, gstart: bool) -> str:
    ok, run = family_counts(m, ids, col)
    cls = ' class="sum gstart"' if gstart else ' class="sum"'
    if not run:
        return f'<td{cls} data-col-arch="{_e(col.arch)}"><span class="missing">—</span></td>'
    pct = round(100 * ok / run)
    return (f'<td{cls} data-col-arch="{_e(col.arch)}" data-supported="{ok}" data-run="{run}" '
            f'title="{ok} of the {run} cases run there are supported">{ok} of {run}'
            f'<span class="bar"><i style="width:{pct}%"></i></span></td>')


def _state_options(grouped: bool) -> str:
    opts = ['<option value="">all states</option><optgroup label="meaning">']
    opts += [f'<option value="{_e(k)}">{CLASS_SYMBOL[k]} {_e(CLASS_NAME[k])}</option>'
             for k in CLASS_SYMBOL]
    if grouped:
        opts.append('<option value="changed">Δ changed</option>')
    opts.append('</optgroup><optgroup label="verdict">')
    opts += [f'<option value="{_e(v)}">{_e(v)}</option>' for v in SEVERITY]
    opts.append("</optgroup>")
    return "".join(opts)


def _options(values: list[str], label: str) -> str:
    opts = [f'<option value="">all {label}</option>'] + [
        f'<option value="{_e(v)}">{_e(v)}</option>' for v in values
    ]
    return "".join(opts)


# A workload's state in the colours of the matrix cell that means the same.
_WORKLOAD_CLASS = {READY: "supported", NOT_READY: "regression", PARTLY: "not-tested",
                   NA: NOT_APPLICABLE}
_WORKLOAD_SYMBOL = {READY: "\u2714", NOT_READY: "\u2718", PARTLY: "\u25d0", NA: "\u2205"}
_FINDING_WORD = {"pass": "\u2714 passes", "fail": "\u2718 fails", "unknown": "\u25cc untested"}


def _workload_cell(m: Matrix, w: Workload, states: list[Readiness], i: int, gstart: bool) -> str:
    col, r = m.columns[i], states[i]
    cls = _WORKLOAD_CLASS[r.state]
    badge = (f'<span class="c c-{cls}" title="{_e(STATE_LEGEND[r.state])}">'
             f"{_WORKLOAD_SYMBOL[r.state]} {_e(STATE_TEXT[r.state])}</span>")
    delta = ""
    prev = changed(m, states, i)
    if prev is not None:
        was = STATE_TEXT[states[m.columns.index(prev)].state]
        delta = f' <span class="delta" title="changed: {_e(was)} in {_e(prev.label)}">Δ</span>'
    attrs = (f'class="wl{" gstart" if gstart else ""}" data-col-arch="{_e(col.arch)}" '
             f'data-workload="{_e(w.key)}" data-wl-state="{_e(r.state)}"')
    if not r.findings:
        return f"<td {attrs}>{badge}{delta}</td>"
    items = []
    for f in r.findings:
        url = _safe_url(f.req.link)
        what = (f'<a href="{_e(url)}" rel="noreferrer">{_e(f.req.what)}</a>' if url
                else _e(f.req.what))
        items.append(f'<li class="f-{_e(f.status)}"><b>{_e(_FINDING_WORD[f.status])}</b>: '
                     f"{what} <small>({_e(f.why)})</small></li>")
    return (f"<td {attrs}><details><summary>{badge}{delta}</summary>"
            f'<div class="detail"><ul>{"".join(items)}</ul></div></details></td>')


def _workloads_section(m: Matrix, gstart: list[bool]) -> list[str]:
    ws = load_workloads()
    if not ws or not m.columns:
        return []
    out = ['<h2>Workloads</h2><p>Can these projects run here? Each one\'s own documented '
           "kernel requirements (kmatrix/data/workloads.yaml, each linked to the page stating "
           "it), judged by the cases and facts above; a cell's detail lists every "
           "requirement. Not ready wins over partly known.</p>",
           '<div class="matrix-wrap"><table id="workloads"><thead><tr><th>workload</th>']
    for i, col in enumerate(m.columns):
        group = f"<b>{_e(col.group)}</b><br>" if col.group else ""
        cls = ' class="gstart"' if gstart[i] else ""
        out.append(f'<th{cls} data-col-arch="{_e(col.arch)}">{group}{_e(col.arch)}<br>'
                   f"<small>{_e(col.kernel)}</small></th>")
    out.append("</tr></thead><tbody>")
    for w, states in zip(ws, readiness(m, ws).values()):
        out.append(f'<tr class="workload"><th class="case">{_e(w.name)}</th>')
        out.extend(_workload_cell(m, w, states, i, gstart[i]) for i in range(len(m.columns)))
        out.append("</tr>")
    out.append("</tbody></table></div><p><small>" + "; ".join(
        f'<span class="c c-{_WORKLOAD_CLASS[s]}">{_WORKLOAD_SYMBOL[s]} {_e(STATE_TEXT[s])}</span> '
        f"{_e(STATE_LEGEND[s])}" for s in (READY, NOT_READY, PARTLY, NA)) + ".</small></p>")
    return out


def render_html(runs: list[RunResult], title: Optional[str] = None,
                labels: Optional[list[str]] = None) -> str:
    m = build_matrix(runs, labels)
    title = title or "kmatrix BPF feature compatibility report"
    css = _CSS % "\n".join(
        [f".v-{k}{{background:{c}}}" for k, c in COLOURS.items()]
        + [f".c-{k}{{background:{bg};color:{fg}}}" for k, (bg, fg) in CLASS_COLOURS.items()])
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
    grouped = any(c.group for c in m.columns)
    out.append('<div class="filters">'
               f'<label>family <select id="f-family">{_options(m.families(), "families")}</select></label>'
               f'<label>arch <select id="f-arch">{_options(arches, "arches")}</select></label>'
               f'<label>state <select id="f-state">{_state_options(grouped)}</select></label>'
               '<span id="f-count"></span></div><div id="f-print"></div>')

    if not m.columns:
        out.append("<p>No hosts in these results.</p>")
    else:
        # A thick rule where a column group (`labels`) starts.
        gstart = [i > 0 and c.group != m.columns[i - 1].group for i, c in enumerate(m.columns)]
        out.append('<div class="matrix-wrap"><table id="matrix"><thead><tr><th>feature</th>')
        for i, col in enumerate(m.columns):
            names = ", ".join(dict.fromkeys(h.name for h in col.hosts))
            group = f"<b>{_e(col.group)}</b><br>" if col.group else ""
            osr = f"<br><small>{_e(col.os)}</small>" if col.os else ""
            cls = ' class="gstart"' if gstart[i] else ""
            out.append(f'<th{cls} data-col-arch="{_e(col.arch)}">{group}{_e(col.arch)}<br>'
                       f"<small>{_e(col.kernel)}</small>{osr}<br><small>{_e(names)}</small></th>")
        out.append("</tr></thead>")
        for fam in m.families():
            ids = [r for r in m.rows if r.split("/", 1)[0] == fam]
            out.append(f'<tbody class="fam" data-family="{_e(fam)}">'
                       f'<tr class="fam-sum" data-family="{_e(fam)}"><th>{_e(fam)} '
                       "<small>supported of run</small></th>")
            out.extend(_family_cell(m, ids, col, gstart[i]) for i, col in enumerate(m.columns))
            out.append("</tr>")
            for case_id in ids:
                out.append(f'<tr class="row" data-family="{_e(fam)}">{_row_head(m, case_id)}')
                out.extend(_cell(m, case_id, i, gstart[i]) for i in range(len(m.columns)))
                out.append("</tr>")
            out.append("</tbody>")
        out.append("</table></div>")
        out += _workloads_section(m, gstart)

    out.append('<h2>Legend</h2><table class="legend">')
    for k in CLASS_SYMBOL:
        words = {"supported": "pass, flaky, xpass", "not-supported": "lacks",
                 "not-tested": "untested", NOT_APPLICABLE: "n/a", "known-failure": "xfail",
                 "regression": "FAIL", "error": "error"}[k]
        meaning = CLASS_LEGEND[k].replace("in the footnote", "in the cell's detail")
        out.append(f'<tr><td><span class="c c-{k}">{CLASS_SYMBOL[k]} {_e(words)}</span></td>'
                   f"<td><b>{_e(CLASS_NAME[k])}</b>: {_e(meaning)}</td></tr>")
    out.append('<tr><td><span class="delta">Δ</span></td><td>differs from the same arch in '
               "the previous column group (its tooltip says what it was)</td></tr>")
    out.append('<tr><td><span class="since">since X</span></td><td>the first upstream Linux '
               "release with the feature, linked to the source that dates it</td></tr>")
    out.append('<tr><td><span class="missing">—</span></td><td>not run on that column</td></tr>')
    out.append("</table><p><small>Verdicts in the cell details: " + "; ".join(
        f'<span class="v v-{v}">{v}</span> {_e(LEGEND[v])}' for v in SEVERITY)
        + ". A family row counts the cases each column supports, of those run there "
        "(n/a cases are in neither number)."
        "</small></p>")

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
    atomic_write(p, render_html(list(runs), labels=labels).encode("utf-8", "backslashreplace"))
    return p
