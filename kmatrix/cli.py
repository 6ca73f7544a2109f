"""Command line: `kmatrix run|probe|report|diff|merge`.

`runners/run ARGS` is `kmatrix run ARGS`. Errors in input print one line
(FILE:LINE: FIELD: MESSAGE) and exit 2; nothing already gathered is lost. An
unexpected exception is a bug: its traceback goes to a file and the console gets
one line naming it. Text from targets is printed with control characters escaped.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import os
import re
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from kmatrix import __version__
from kmatrix.errors import (
    EXIT_FAIL,
    EXIT_INFRA,
    EXIT_INTERRUPTED,
    EXIT_OK,
    InputError,
    KmatrixError,
    one_line,
    printable,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
# Longest console line for an error that is not an InputError (those bound themselves):
# argparse and transport messages quote argv values and remote text.
MAX_ERROR_LINE = 600

EXIT_CODES_HELP = """\
exit codes:
  0    every case matched its expectation (pass, skip, xfail, xpass, flaky)
  1    at least one regression: a failure that no expectation in the suite covers
  2    usage error, bad input (hosts.yaml, suite, case metadata), or an
       infrastructure error (host unreachable, host key refused, boot failed)
  130  interrupted (Ctrl-C / SIGTERM): partial results written, marked incomplete
"""


def _default_root() -> Path:
    """Cases and suites come from the checkout kmatrix runs from, unless told otherwise."""
    return Path(os.environ.get("KMATRIX_ROOT", REPO_ROOT))


def _cache_dir() -> Path:
    env = os.environ.get("KMATRIX_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kmatrix"


def _health_rules(path: Optional[str]) -> Any:
    from kmatrix import detectors

    if path is None:
        return None
    if not os.path.lexists(path):
        raise InputError(path, None, "health-rules", "no such file")
    return detectors.load_rules(path)  # yamlpos refuses a directory, a device, 1 MiB+


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not 0 < v <= 86400:
        raise argparse.ArgumentTypeError(f"expected seconds between 0 and 86400, got {text!r}")
    return v


MAX_RERUNS = 100


def _reruns(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = -1
    if not 0 <= v <= MAX_RERUNS:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 0 to {MAX_RERUNS}, got {text[:40]!r}")
    return v


def _shard(value: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)/(\d+)", value.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"--shard: expected I/N such as 1/4, got {value!r}")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= i <= n:
        raise argparse.ArgumentTypeError(f"--shard: need 1 <= I <= N, got {value!r}")
    return i, n


MAX_PATTERN = 512  # a case id is under 100 characters


def _pattern(value: str) -> str:
    """A -k pattern of bounded length: fnmatch's translation of `[` without a
    closing `]` is quadratic in the pattern's length (10 KB took 8 s)."""
    if len(value) > MAX_PATTERN:
        raise argparse.ArgumentTypeError(f"-k: a pattern of {len(value)} characters; case ids "
                                         f"are short, so at most {MAX_PATTERN}")
    return value


def _arch(value: str) -> str:
    from kmatrix.archs import normalize

    try:
        return normalize(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None  # argparse names the option


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse's own exit code is 2 as well; keep its one-line message, bounded.
        self.exit(EXIT_INFRA, f"{self.prog}: error: {one_line(message, MAX_ERROR_LINE)}\n")


def _host_selection(sp: argparse.ArgumentParser) -> None:
    """--arch, --hosts, --host: how `run` and `probe` pick their hosts."""
    sp.add_argument("--arch", type=_arch, default=None,
                    help="only hosts of this arch (aliases: x86/amd64, arm64, riscv)")
    sp.add_argument("--hosts", default=None,
                    help="inventory file (default: $KMATRIX_HOSTS, else ./hosts.yaml, else "
                         "the checkout's embedded QEMU lab)")
    sp.add_argument("--host", action="append", default=[], metavar="NAME",
                    help="only this host (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    from kmatrix.report.diff import add_arguments as add_diff_arguments

    p = _Parser(prog="kmatrix", description="BPF kernel-feature compatibility suite",
                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXIT_CODES_HELP)
    p.add_argument("--version", action="version", version=f"kmatrix {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("run", help="run the suite on hosts from hosts.yaml",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=EXIT_CODES_HELP)
    _host_selection(r)
    r.add_argument("--suite", default="bpf-core",
                   help="suite name in suites/ or a path to a suite YAML (default: bpf-core)")
    r.add_argument("-k", dest="pattern", action="append", default=None, metavar="PATTERN",
                   type=_pattern,
                   help="only cases whose id contains PATTERN (or matches it as a glob); "
                        "repeatable: -k A -k B runs the cases either selects")
    r.add_argument("--output", default="results",
                   help="results directory; the run writes OUTPUT/<run-id>/ (default: ./results)")
    r.add_argument("--run-id", default=None, help="name of the run directory (default: a timestamp)")
    r.add_argument("--shard", type=_shard, default=None, metavar="I/N",
                   help="run only shard I of N (deterministic split of the cases); "
                        "combine shards with `kmatrix merge`")
    r.add_argument("--rerun-failures", type=_reruns, default=0, metavar="N",
                   help="rerun a failed case up to N times; a pass on rerun is marked flaky")
    r.add_argument("--watchdog-grace", type=_seconds, default=60.0, metavar="S",
                   help="after a case's own timeout, wait S more seconds for any agent output "
                        "before checking whether the host is alive (hung case vs dead kernel)")
    r.add_argument("--health-rules", default=None, metavar="FILE",
                   help="dmesg/console deny and allow lists and taint allow-list (YAML, see "
                        "kmatrix/data/health.yaml); default: the shipped rules")
    r.add_argument("--trust-on-first-use", action="store_true",
                   help="accept and record unknown host keys (never a changed one)")
    r.add_argument("--cases-dir", default=None, help="case catalogue (default: bpf_cases/ of the checkout)")
    r.add_argument("--suites-dir", default=None, help="suite directory (default: suites/ of the checkout)")
    r.add_argument("--cache-dir", default=None, help="build/image cache (default: ~/.cache/kmatrix)")
    r.add_argument("--list", action="store_true", help="list the selected hosts and cases, run nothing")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress lines")

    pr = sub.add_parser("probe", help="print each host's BPF capabilities (kfuncs, PMUs, JIT...)")
    _host_selection(pr)
    pr.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pr.add_argument("--trust-on-first-use", action="store_true",
                    help="record an unknown host key instead of refusing it")
    pr.add_argument("--cache-dir", default=None,
                    help="build/image cache (default: $KMATRIX_CACHE or ~/.cache/kmatrix)")

    rep = sub.add_parser("report", help="merge results.json files into report.md and report.html")
    rep.add_argument("results", nargs="*", help="results.json files or run directories")
    rep.add_argument("--label", action="append", default=[], metavar="NAME=RESULTS",
                     help="a results.json (or run directory) shown as its own column group "
                          "NAME, e.g. 22.03-SP4=a/results.json 24.03-SP1=b/results.json; "
                          "changed cells are marked (repeatable)")
    rep.add_argument("--output", default=".", help="directory for report.md / report.html")

    d = sub.add_parser("diff", help="compare two result sets; exit 1 on regressions")
    d.add_argument("base", help="baseline results.json or run directory")
    d.add_argument("new", help="new results.json or run directory")
    add_diff_arguments(d)

    m = sub.add_parser("merge", help="combine shard outputs into one run (JUnit + results.json)")
    m.add_argument("results", nargs="+", help="results.json files or run directories")
    m.add_argument("--output", required=True, help="directory for the merged run")
    return p


def _find_hosts(arg: Optional[str]) -> Path:
    """--hosts, else $KMATRIX_HOSTS, else ./hosts.yaml, else the checkout's embedded lab
    (said in one line by _say_inventory: a lab run should never come as a surprise)."""
    given = arg or os.environ.get("KMATRIX_HOSTS")
    if given:
        return Path(given)
    p = Path("hosts.yaml")
    if p.exists():
        return p
    return _default_root() / "hosts.yaml"


def _load_hosts(path: Path) -> list[Any]:
    from kmatrix import yamlpos
    from kmatrix.inventory import load_hosts

    # load_hosts reads the whole file: `--hosts /dev/zero` must be refused before that.
    yamlpos.check_file(path)
    return load_hosts(path)


def _writable_dir(path: Path, flag: str) -> None:
    """Create ``path`` if needed and write a scratch file in it, so an unusable
    --output or --cache-dir is one line now, not a traceback after guests booted."""
    fld = flag.lstrip("-")
    try:
        if path.exists() and not path.is_dir():
            raise InputError(flag, None, fld, f"{path} exists and is not a directory")
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise InputError(flag, None, fld, f"cannot write to {path}: {e.strerror or e}") from None


@contextlib.contextmanager
def _dir_lock(path: Path) -> Iterator[None]:
    """flock on the directory itself: nothing is left behind, and a lock-holder that
    dies releases it."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _claim_run_dir(path: Path, flag: str, hint: str) -> None:
    """Make ``path`` ours before anything is written into it: a second run or merge
    would mix its files with the first one's. mkdir without exist_ok, so of two
    commands started together exactly one gets it; an existing empty directory is
    claimed by creating its results.json with O_EXCL (the writer replaces it)."""
    fld = flag.lstrip("-")
    try:
        path.mkdir()
        return
    except FileExistsError:
        if not path.is_dir() or path.is_symlink():
            raise InputError(flag, None, fld, f"{path} exists; {hint}") from None
    except OSError as e:
        raise InputError(flag, None, fld, f"cannot create {path}: {e.strerror or e}") from None
    try:
        os.close(os.open(path / "results.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                         os.O_NOFOLLOW, 0o644))
    except FileExistsError:
        raise InputError(flag, None, fld, f"{path} already holds a run (results.json); "
                         f"{hint}") from None
    except OSError as e:
        raise InputError(flag, None, fld, f"cannot write to {path}: {e.strerror or e}") from None


def _say_inventory(arg: Optional[str]) -> None:
    """One line when the embedded lab is used for want of an inventory; printed once
    the input is known to be good (bad input stays a single line)."""
    if not arg and not os.environ.get("KMATRIX_HOSTS") and not Path("hosts.yaml").exists():
        print(f"kmatrix: no ./hosts.yaml; using the embedded QEMU lab inventory "
              f"{_find_hosts(None)} (give --hosts or KMATRIX_HOSTS to choose)", file=sys.stderr)


def _results_path(arg: str) -> Path:
    p = Path(arg)
    if p.is_dir():
        p = p / "results.json"
    if not p.exists():
        raise InputError(arg, None, "results", "no such results.json")
    return p


def cmd_run(a: argparse.Namespace) -> int:
    from kmatrix.catalog import load_catalog
    from kmatrix.inventory import select_hosts
    from kmatrix.progress import Progress
    from kmatrix.runner import Run, RunOptions, new_run_id, select_cases
    from kmatrix.suite import exit_code, find_suite, load_suite

    root = _default_root()
    cases = load_catalog(Path(a.cases_dir) if a.cases_dir else root / "bpf_cases")
    suite_path = find_suite(a.suite, Path(a.suites_dir) if a.suites_dir else root / "suites")
    suite = load_suite(suite_path, [c.id for c in cases])
    hosts = select_hosts(_load_hosts(_find_hosts(a.hosts)), arch=a.arch, names=a.host or None)
    if not hosts:
        raise InputError(str(_find_hosts(a.hosts)), None, "hosts",
                         f"no host matches --arch {a.arch or '*'} {' '.join(a.host)}".rstrip())
    chosen = select_cases(cases, suite, a.pattern, a.shard)
    if a.list:
        _say_inventory(a.hosts)
        for h in hosts:
            print(f"host {h.name} ({h.arch}{', lab' if h.qemu else ''})")
        for c in chosen:
            print(f"case {c.id}")
        return EXIT_OK
    if not chosen:
        print("kmatrix: no case selected (check --suite, -k and --shard)", file=sys.stderr)
        return EXIT_INFRA
    run_id = a.run_id or new_run_id()
    if not re.fullmatch(r"[A-Za-z0-9._-]+", run_id) or run_id in (".", ".."):
        raise InputError("--run-id", None, "run-id", "use letters, digits, '.', '_' and '-' only")
    health_rules = _health_rules(a.health_rules)
    # Output and cache are checked once every input is known good (so bad input leaves
    # no empty results/ behind) and before anything boots or connects.
    output = Path(a.output)
    out = output / run_id
    if os.path.lexists(out):
        raise InputError("--run-id", None, "run-id",
                         f"{out} exists; choose another --run-id or remove it")
    cache_dir = Path(a.cache_dir) if a.cache_dir else _cache_dir()
    _writable_dir(cache_dir, "--cache-dir")  # first: a cache left behind is harmless
    _writable_dir(output, "--output")
    _claim_run_dir(out, "--run-id", "choose another --run-id or remove it")
    opts = RunOptions(out_dir=out, cache_dir=cache_dir,
                      run_id=run_id, pattern=a.pattern, shard=a.shard,
                      rerun_failures=a.rerun_failures,
                      trust_on_first_use=a.trust_on_first_use,
                      watchdog_grace=a.watchdog_grace,
                      health_rules=health_rules)
    _say_inventory(a.hosts)
    progress = Progress(quiet=a.quiet)
    progress.host("kmatrix", f"run {run_id}: {len(hosts)} host(s), {len(chosen)} case(s), "
                  f"suite {suite.name}, output {out}")
    run = Run(hosts, chosen, suite, opts, progress)
    _install_signal_handlers(opts.stop)
    try:
        result = run.execute()
    finally:
        progress.close()  # stop the live display before the summary is printed
    for w in result.warnings:
        print(f"kmatrix: warning: {printable(w)}", file=sys.stderr)
    _print_summary(result, out)
    if run.abandoned:
        # Host threads may still be stuck in a target's clean-up; the results are
        # written, so leave without joining them.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    if opts.stop.is_set():
        return EXIT_INTERRUPTED
    return exit_code(result)


def _install_signal_handlers(stop: threading.Event) -> None:
    """First Ctrl-C/SIGTERM asks every host to stop and clean up; results are still written."""

    def handler(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        print(f"\nkmatrix: signal {signum}: stopping, cleaning targets, writing partial results"
              " (a second interrupt abandons the clean-up; results are still written)",
              file=sys.stderr, flush=True)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)


def _print_summary(result: object, out: Path) -> None:
    from collections import Counter

    for h in result.hosts:  # type: ignore[attr-defined]
        c = Counter(cr.verdict or cr.state for cr in h.cases)
        counts = ", ".join(f"{v} {k}" for k, v in sorted(c.items())) or "no cases"
        status = f"ERROR: {h.error}" if h.error else counts
        # The kernel string and the error come from the target: escape them.
        print(printable(f"{h.name:20s} {h.arch:8s} {h.kernel:28s} {status}"))
    print(f"results: {out}/results.json, JUnit: {out}/<arch>/junit.xml")


def cmd_probe(a: argparse.Namespace) -> int:
    from kmatrix.inventory import select_hosts
    from kmatrix.probe import probe_hosts

    hosts = select_hosts(_load_hosts(_find_hosts(a.hosts)), arch=a.arch, names=a.host or None)
    _say_inventory(a.hosts)
    return probe_hosts(hosts, as_json=a.json, trust_on_first_use=a.trust_on_first_use,
                       cache_dir=Path(a.cache_dir) if a.cache_dir else _cache_dir())


def _label(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise InputError("--label", None, "label", f"expected NAME=RESULTS, got {text!r}")
    return name.strip(), path.strip()


def cmd_report(a: argparse.Namespace) -> int:
    from kmatrix.report.html import write_html
    from kmatrix.report.jsonout import read_results
    from kmatrix.report.markdown import write_markdown

    runs = [read_results(_results_path(p)) for p in a.results]
    labels: Optional[list[str]] = None
    if a.label:
        # --label NAME=RESULTS: one column group per release, side by side, in order.
        pairs = [_label(x) for x in a.label]
        labels = [""] * len(runs) + [n for n, _ in pairs]
        runs += [read_results(_results_path(p)) for _, p in pairs]
    if not runs:
        raise InputError("report", None, "results", "give results.json files or --label NAME=FILE")
    out = Path(a.output)
    _writable_dir(out, "--output")
    # Two reports into one directory: each writes its pair under the directory's
    # lock, so report.md and report.html always come from the same inputs.
    with _dir_lock(out):
        write_markdown(runs, out / "report.md", labels)
        write_html(runs, out / "report.html", labels)
    print(f"wrote {out / 'report.md'} and {out / 'report.html'}")
    return EXIT_OK


def cmd_diff(a: argparse.Namespace) -> int:
    from kmatrix.report.diff import diff, parse_host_map
    from kmatrix.report.jsonout import read_results

    d = diff([read_results(_results_path(a.base))], [read_results(_results_path(a.new))],
             host_map=parse_host_map(a.map))
    print(printable(d.render(), keep="\n\t"))  # reasons in results.json are the targets' text
    return d.exit_code


def cmd_merge(a: argparse.Namespace) -> int:
    from kmatrix.report.jsonout import read_results, write_results
    from kmatrix.report.junit import write_junit
    from kmatrix.report.merge import merge

    merged = merge([read_results(_results_path(p)) for p in a.results])
    out = Path(a.output)
    _writable_dir(out.parent, "--output")
    _claim_run_dir(out, "--output", "merge into a new directory")
    write_results(merged, out / "results.json")
    write_junit(merged, out)
    print(f"merged {len(a.results)} result set(s) into {out}")
    return EXIT_OK


_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG})


def _internal_error(e: BaseException) -> int:
    """A bug, not bad input: the traceback goes to a 0600 file in $TMPDIR and the
    console gets one line naming it."""
    import traceback

    text = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    path = Path(tempfile.gettempdir()) / f"kmatrix-internal-error-{os.getpid()}.log"
    try:
        try:  # O_EXCL | O_NOFOLLOW: never write through a planted file or symlink
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            fd, name = tempfile.mkstemp(prefix=f"kmatrix-internal-error-{os.getpid()}-",
                                        suffix=".log")
            path = Path(name)
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(f"kmatrix {__version__}\nargv: {sys.argv!r}\n\n{text}")
        where = f"traceback in {path}"
    except OSError as oe:
        where = f"the traceback could not be saved ({oe.strerror or oe})"
    what = one_line(f"{type(e).__name__}: {e}", 200)
    print(f"kmatrix: internal error ({what}); {where}; please report it", file=sys.stderr)
    return EXIT_INFRA


def main(argv: Optional[Sequence[str]] = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        # Text from targets, result files and argv (surrogateescape) may hold what the
        # terminal's encoding cannot: escape it rather than die in print().
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return EXIT_INFRA
        handler = {"run": cmd_run, "probe": cmd_probe, "report": cmd_report,
                   "diff": cmd_diff, "merge": cmd_merge}[args.command]
        return handler(args)
    except KmatrixError as e:
        print(f"kmatrix: {one_line(e, MAX_ERROR_LINE)}", file=sys.stderr)
        return EXIT_INFRA
    except KeyboardInterrupt:
        print("kmatrix: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_FAIL
    except OSError as e:
        if e.errno not in _WRITE_ERRNOS:
            return _internal_error(e)
        # A full or read-only --output is the machine's state, not a bug: one line.
        where = f"{e.filename}: " if e.filename else ""
        print(f"kmatrix: cannot write {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_INFRA
    except Exception as e:  # noqa: BLE001 - anything else is a bug; never a traceback
        return _internal_error(e)


if __name__ == "__main__":
    raise SystemExit(main())
