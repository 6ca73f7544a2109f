"""`kmatrix probe`: what each host's kernel offers to BPF.

Program and map types come from `bpftool feature probe -j` on the target (when
bpftool is there); kfuncs come from the kernel's BTF, which bpftool cannot list:
functions tagged `bpf_kfunc` (kernels >= 6.8 with a recent pahole), else the
known kfunc names that exist as BTF functions.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kmatrix.errors import EXIT_INFRA, EXIT_OK, KmatrixError
from kmatrix.inventory import Host
from kmatrix.progress import Progress

# Kfuncs the catalogue and the openEuler whitepaper care about; used when the
# kernel's BTF carries no bpf_kfunc tags (older pahole/kernels).
KNOWN_KFUNCS = (
    "bpf_task_acquire", "bpf_task_release", "bpf_task_from_pid",
    "bpf_cpumask_create", "bpf_cpumask_release", "bpf_cpumask_set_cpu", "bpf_cpumask_test_cpu",
    "bpf_rcu_read_lock", "bpf_rcu_read_unlock", "bpf_obj_new_impl", "bpf_obj_drop_impl",
    "bpf_iter_num_new", "bpf_iter_num_next", "bpf_iter_num_destroy",
    "bpf_cgroup_acquire", "bpf_cgroup_release", "bpf_cgroup_from_id",
    "bpf_dynptr_from_skb", "bpf_dynptr_from_xdp", "bpf_dynptr_slice", "bpf_dynptr_slice_rdwr",
    "bpf_dynptr_adjust", "bpf_dynptr_clone", "bpf_kfunc_call_test_acquire",
    "bpf_xdp_metadata_rx_hash", "bpf_xdp_metadata_rx_timestamp", "crash_kexec",
)


# The agent's capability probes as one stdin script: btf.py and probes.py are
# stdlib-only and free of package imports, so their sources concatenate.
_PROBE_MAIN = """
import json as _json
print(_json.dumps(Probes(Context(vmlinux_func_ids, None)).all()))
"""


def probe_script() -> bytes:
    from kmatrix.bundle import agent_source

    return agent_source("btf.py", "probes.py") + \
        _PROBE_MAIN.encode()


def run_probes(session: Any) -> dict[str, Any]:
    """The same probes the agent runs before its cases, in one exec on the target."""
    return session.run_script(probe_script(), [], "capability probes")


def probe_facts(facts: dict[str, Any], btf: Path) -> dict[str, Any]:
    from kmatrix.agent import btf as btfmod

    data = btf.read_bytes()
    tagged = btfmod.kfunc_names(data)
    funcs = btfmod.func_names(data)
    if tagged:
        kfuncs, source = sorted(tagged), "BTF decl_tag bpf_kfunc"
    else:
        kfuncs, source = sorted(k for k in KNOWN_KFUNCS if k in funcs), "known names found in BTF"
    return {
        "kernel": (facts.get("uname") or {}).get("release"),
        "arch": (facts.get("uname") or {}).get("machine"),
        "os": (facts.get("os_release") or {}).get("PRETTY_NAME"),
        "libbpf": facts.get("libbpf"),
        "jit": facts.get("bpf_jit_enable"),
        "ftrace": facts.get("ftrace"),
        "pmus": facts.get("pmus"),
        "kfuncs": kfuncs,
        "kfunc_source": source,
        "btf_functions": len(funcs),
        "features": facts.get("features"),
        "probes": facts.get("probes") or {},
        "config": {k: v for k, v in (facts.get("kernel_config") or {}).items()
                   if k.startswith(("CONFIG_BPF", "CONFIG_DEBUG_INFO_BTF", "CONFIG_FTRACE",
                                    "CONFIG_DYNAMIC_FTRACE", "CONFIG_FUNCTION_TRACER",
                                    "CONFIG_ARM_SPE", "CONFIG_PERF", "CONFIG_XDP",
                                    "CONFIG_NET_CLS_BPF", "CONFIG_MODULE_SIG"))},
    }


def probe_host(host: Host, cache_dir: Path, trust_on_first_use: bool,
               progress: Progress) -> dict[str, Any]:
    """What one host's kernel offers: its Machine started, one Session, the preflight
    and the capability probes piped through it, and its BTF (cached)."""
    import threading

    from kmatrix.btfcache import fetch_btf
    from kmatrix.bundle import agent_source
    from kmatrix.machine import check_facts, check_machine, machine_for
    from kmatrix.session import FIRST, Session, with_tofu

    say = lambda m: progress.host(host.name, m)  # noqa: E731
    host_dir = cache_dir / "probe" / host.name
    host_dir.mkdir(parents=True, exist_ok=True)
    machine = machine_for(host, say, cache_dir=cache_dir, host_dir=host_dir,
                          stop=threading.Event())
    session: Any = None
    try:
        reachable = with_tofu(machine.start(), trust_on_first_use)
        say(f"connecting to {reachable.label}")
        session = Session(reachable, progress)
        session.connect(FIRST)
        facts = session.run_script(agent_source("preflight.py"), ["--probe"], "preflight",
                                   f" — is {host.python} (>= 3.7) installed on the target?")
        check_facts(host, facts)
        check_machine(host, facts)
        facts["probes"] = run_probes(session)
        btf = fetch_btf(session.transport, host.name, facts, cache_dir, say)
        return {"host": host.name, **probe_facts(facts, btf)}
    except KmatrixError as e:
        return {"host": host.name, "error": str(e)}
    finally:
        if session is not None:
            session.close()
        machine.stop()


def render_table(rows: list[dict[str, Any]]) -> str:
    out = []
    for r in rows:
        out.append(f"== {r['host']}")
        if "error" in r:
            out.append(f"   ERROR: {r['error']}")
            continue
        ft = r.get("ftrace") or {}
        out.append(f"   kernel   {r['kernel']} ({r['arch']}), {r['os']}, libbpf {r['libbpf']}")
        out.append(f"   jit      {r['jit']}    ftrace {'usable' if ft.get('usable') else 'blocked'}"
                   f"{'' if ft.get('usable') else ' (' + str(ft.get('reason')) + ')'}")
        out.append(f"   pmus     {', '.join(r.get('pmus') or []) or '-'}")
        out.append(f"   kfuncs   {len(r['kfuncs'])} ({r['kfunc_source']}): "
                   f"{', '.join(r['kfuncs'][:40])}{' ...' if len(r['kfuncs']) > 40 else ''}")
        for name, p in sorted((r.get("probes") or {}).items()):
            out.append(f"   probe    {name:13s} {p.get('state', '?'):8s} {p.get('sentence', '')}")
        feats = r.get("features") or {}
        for key in ("program_types", "map_types"):
            vals = feats.get(key) if isinstance(feats, dict) else None
            if vals:
                out.append(f"   {key:8s} {', '.join(vals)}")
        cfg = r.get("config") or {}
        if cfg:
            out.append("   config   " + ", ".join(f"{k}={v}" for k, v in sorted(cfg.items())[:30]))
    return "\n".join(out)


def probe_hosts(hosts: list[Host], as_json: bool, trust_on_first_use: bool, cache_dir: Path) -> int:
    progress = Progress()
    with ThreadPoolExecutor(max_workers=max(1, min(len(hosts), 16))) as ex:
        rows = list(ex.map(lambda h: probe_host(h, cache_dir, trust_on_first_use, progress), hosts))
    progress.close()  # the live table stops before the result is printed under it
    print(json.dumps(rows, indent=2, sort_keys=True) if as_json else render_table(rows))
    return EXIT_INFRA if any("error" in r for r in rows) else EXIT_OK
