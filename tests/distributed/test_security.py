"""Security: no shell anywhere (S1), no password in any output (S2), services on loopback unless
told otherwise (S3), no path escapes and private parameter files (S4), no trial forging another
trial's metrics or sweeprun's own output (S5)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sweeprun.run.request import safe_name
from tests.helpers.cli import run_cli
from tests.helpers.paths import PROGRAMS, ROOT, SWEEPRUN
from tests.helpers.services import REQUIRE_SERVICES
from tests.helpers.studies import delete_study, trials_of, unique
from tests.helpers.wait import wait_until

RUN_TRIAL = PROGRAMS / "run_trial.py"
HOSTILE_VALUES = [
    "$(touch PWNED)",
    "`touch PWNED`",
    "; touch PWNED #",
    "a && touch PWNED",
    "| cat /etc/passwd",
    'it\'s "quoted" \\ back',
    "line1\nline2\r\n",
    "-rf",
    "--help",
    "--x=1 --y=2",
    "*",
    "~",
    "$HOME ${HOME} %PATH%",
    " leading and trailing ",
    "ünï 🚀 \u202e",
    "",
]
ARGV_PROGRAM = """\
import json, os, sys
with open(os.path.join(os.environ["SWEEPRUN_TRIAL_DIR"], "argv.json"), "w") as fh:
    json.dump(sys.argv[1:], fh)
print("loss=0.5")
"""


# ---- S1: values reach the program byte for byte, never through a shell --------------------
@pytest.mark.parametrize(
    "macro", ["${args}", "${args_no_equals}", pytest.param("${args_json}", marks=pytest.mark.chaos)]
)
def test_s1_hostile_values_reach_argv_byte_for_byte(
    tmp_path: Path, _private_sweeprun_dir: Path, macro: str
) -> None:
    prog = tmp_path / "argv.py"
    prog.write_text(ARGV_PROGRAM)
    name = unique("s1")
    sweep = tmp_path / "s1.yaml"
    sweep.write_text(
        json.dumps(
            {
                "name": name,
                "program": str(prog),
                "command": ["${interpreter}", "${program}", macro],
                "method": "grid",
                "metric": {"name": "loss"},
                "parameters": {"v": {"values": HOSTILE_VALUES}},
            }
        )
    )
    run_cli("start", str(sweep), "--jobs", "2", cwd=tmp_path).assert_code(0)
    trials = trials_of(str(_private_sweeprun_dir / "journal.log"), name)
    assert len(trials) == len(HOSTILE_VALUES)
    for t in trials:
        value = t.user_attrs["sweeprun.params"]["v"]
        argv = json.loads(Path(t.user_attrs["sweeprun.log_dir"], "argv.json").read_text())
        expected = {
            "${args}": [f"--v={value}"],
            "${args_no_equals}": ["--v", value],
            "${args_json}": [json.dumps({"v": value})],
        }[macro]
        assert argv == expected
        assert t.user_attrs["sweeprun.argv"][2:] == expected  # recorded as run
    assert not list(tmp_path.rglob("PWNED")) and not Path("PWNED").exists()


def test_s1_no_shell_anywhere_in_the_package() -> None:
    pattern = re.compile(r"shell\s*=\s*True|os\.system\s*\(|os\.popen\s*\(|commands\.getoutput")
    offenders = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in sorted((ROOT / "sweeprun").rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


# ---- S2: passwords never appear ------------------------------------------------------------
PASSWORD = "s3cretpw"


def test_s2_password_of_a_reachable_storage_appears_nowhere(
    tmp_path: Path, _private_sweeprun_dir: Path, postgres_url: str
) -> None:
    url = postgres_url.replace("postgres@", f"postgres:{PASSWORD}@")
    name = unique("s2")
    sweep = tmp_path / "s2.yaml"
    sweep.write_text(
        f"name: {name}\nprogram: {RUN_TRIAL}\nmethod: random\nmetric: {{name: loss}}\n"
        "run_cap: 2\nparameters:\n  x: {min: 0.0, max: 2.0}\n  mode: {values: [ok, fail]}\n"
    )
    outputs: list[str] = []
    try:
        res = run_cli("start", str(sweep), "--storage", url, cwd=tmp_path)
        assert res.returncode in (0, 1), res.describe()
        outputs += [res.stdout, res.stderr]
        for args in (
            ["status", "--json"],
            ["status", name],
            ["trials", name, "--json"],
            ["best", name, "--json"],
            ["export", name, "--format", "json"],
            ["agent", "no-such-sweep"],
        ):
            r = run_cli(*args, "--storage", url, cwd=tmp_path)
            assert "Traceback" not in r.stderr, r.describe()
            outputs += [r.stdout, r.stderr]
        assert ":***@" in "\n".join(outputs)  # the URL is shown, masked
        study = trials_of(url, name)
        attrs = json.dumps([t.user_attrs for t in study], default=str)
        from tests.helpers.studies import open_study

        attrs += json.dumps(open_study(url, name).user_attrs, default=str)
        outputs.append(attrs)
        for path in [*_private_sweeprun_dir.rglob("*"), *tmp_path.rglob("*")]:
            if path.is_file():
                outputs.append(path.read_bytes().decode(errors="replace"))
        leaks = [o[max(0, o.find(PASSWORD) - 200) :][:400] for o in outputs if PASSWORD in o]
        assert leaks == []
    finally:
        delete_study(postgres_url, name)


def test_s2_password_masked_in_errors_of_unreachable_storages(tmp_path: Path) -> None:
    url = f"postgresql://user:{PASSWORD}@127.0.0.1:1/db"
    for args in (["status"], ["export", "x"], ["stop", "x"]):
        res = run_cli(*args, "--storage", url, cwd=tmp_path)
        res.assert_code(2)
        assert PASSWORD not in res.stdout + res.stderr
        assert "user:***@127.0.0.1:1" in res.stderr
    # a password containing URL-escaped characters is masked in both forms
    url = "postgresql://user:p%40ss%3Aw0rd@127.0.0.1:1/db"
    res = run_cli("status", "--storage", url, cwd=tmp_path)
    res.assert_code(2)
    assert "p%40ss" not in res.stderr and "p@ss:w0rd" not in res.stderr


# ---- S3: services bind loopback by default --------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listeners(port: int) -> set[str]:
    """Local addresses listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            addr, hexport = fields[1].rsplit(":", 1)
            if int(hexport, 16) == port and fields[3] == "0A":  # LISTEN
                if len(addr) == 8:
                    found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(addr)[::-1]))
                else:
                    raw = bytes.fromhex(addr)
                    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                    shown = socket.inet_ntop(socket.AF_INET6, words)
                    found.add(shown.removeprefix("::ffff:"))  # IPv4-mapped
    return found


def _service_extra(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        if REQUIRE_SERVICES:
            pytest.fail(f"{module} is not installed (SWEEPRUN_REQUIRE_SERVICES=1)")
        pytest.skip(f"{module} is not installed")


def _serve(tmp: Path, command: str, storage: str, *extra: str) -> tuple[set[str], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [SWEEPRUN, command, "--storage", storage, "--port", str(port), *extra],
        cwd=tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        addrs = wait_until(lambda: _listeners(port) or proc.poll() is not None, 60, "listening")
        assert proc.poll() is None, proc.communicate()
        assert isinstance(addrs, set)  # the listeners, not the exit
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    return set(addrs), out + err


@pytest.mark.parametrize(
    ("command", "module"), [("serve", "grpc"), ("dashboard", "optuna_dashboard")]
)
def test_s3_services_bind_loopback_and_warn_when_exposed(
    tmp_path: Path, command: str, module: str
) -> None:
    _service_extra(module)
    storage = f"sqlite:///{tmp_path / 'db.sqlite'}"
    addrs, text = _serve(tmp_path, command, storage)
    assert addrs == {"127.0.0.1"}, addrs
    assert "warning" not in text
    addrs, text = _serve(tmp_path, command, storage, "--host", "0.0.0.0")
    assert addrs and addrs <= {"0.0.0.0", "::"}, addrs
    assert "warning" in text and "reachable from other machines" in text


# ---- S4: no escape from .sweeprun/, private parameter files ---------------------------------
@pytest.mark.parametrize("name", ["../../escape", "/etc/cron.d/x", "..", "x" * 180])
def test_s4_sweep_names_stay_inside_the_sweeprun_dir(
    tmp_path: Path, _private_sweeprun_dir: Path, name: str
) -> None:
    sweep = tmp_path / "work" / "s.yaml"
    sweep.parent.mkdir()
    sweep.write_text(
        f"program: {RUN_TRIAL}\nmethod: random\nmetric: {{name: loss}}\nrun_cap: 1\n"
        "command: ['${interpreter}', '${program}', '${args_json_file}']\n"
        "parameters:\n  x: {value: 1.0}\n"
    )
    before = {p for p in tmp_path.rglob("*")}
    res = run_cli("start", str(sweep), "--name", name, cwd=sweep.parent)
    res.assert_code(0)
    created = {p for p in tmp_path.rglob("*")} - before
    outside = [p for p in created if _private_sweeprun_dir not in (p, *p.parents)]
    assert outside == []
    (trial_dir,) = [p for p in created if p.name == "trial-00000"]
    assert trial_dir.parent.parent == _private_sweeprun_dir
    assert len(trial_dir.parent.name) <= 100 and "/" not in trial_dir.parent.name
    # parameter files are private (they may carry paths and tokens)
    for f in [trial_dir / "params.json", *trial_dir.glob("config-*.yaml")]:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


@pytest.mark.parametrize("name", ["a\x00b", "", "x" * 201, "tab\tname", "new\nline"])
def test_s4_unusable_names_are_refused(tmp_path: Path, name: str) -> None:
    from sweeprun.commands.start import check_name
    from sweeprun.errors import SweepError

    with pytest.raises(SweepError, match="invalid sweep name"):
        check_name(name)


def test_s4_safe_name_properties() -> None:
    for name in ["../x", "/abs", "a\x00b", "..", "ü" * 300, "a/b\\c", "." * 5]:
        safe = safe_name(name)
        assert safe and "/" not in safe and "\x00" not in safe and safe not in (".", "..")
        assert len(safe) <= 100
    assert safe_name("a" * 150) != safe_name("a" * 151)  # long names stay distinct


# ---- S5: a trial cannot forge another trial's metrics or sweeprun's output -----------------
FORGER = """\
import json, os, sys, time
import sweeprun
me = int(os.environ["SWEEPRUN_TRIAL"])
role = sys.argv[1].split("=", 1)[1]
DONE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "forger-done")
if role == "forger":
    # look like sweeprun itself on stdout, and aim at the other trial's channels
    print(json.dumps({"event": "finished", "trial": 1 - me, "state": "COMPLETE", "values": [-1e9]}))
    print(f"trial {1 - me} COMPLETE value=-1000000000")
    print(json.dumps({"event": "summary", "counts": {"COMPLETE": 99}}))
    os.environ["SWEEPRUN_REPORT_FD"] = "3"  # an fd number that is not this trial's pipe
    sweeprun.report(loss=-5.0)
    print(json.dumps({"loss": 2.0}), flush=True)
    open(DONE, "w").close()
else:  # reports only after the forger has tried everything, while this trial ran
    end = time.monotonic() + 60
    while not os.path.exists(DONE) and time.monotonic() < end:
        time.sleep(0.02)  # a poll on the forger's file (a wait_until in a trial program)
    sweeprun.report(loss=1.0)
"""


def test_s5_stdout_lookalikes_and_foreign_fds_forge_nothing(tmp_path: Path) -> None:
    prog = tmp_path / "forger.py"
    prog.write_text(FORGER)
    name = unique("s5")
    sweep = tmp_path / "s5.yaml"
    sweep.write_text(
        f"name: {name}\nprogram: {prog}\nmethod: grid\nmetric: {{name: loss}}\n"
        "parameters:\n  role: {values: [forger, honest]}\n"
    )
    res = run_cli("start", str(sweep), "--jobs", "2", "--json", cwd=tmp_path)
    res.assert_code(0)
    events = [json.loads(line) for line in res.stdout.splitlines()]
    assert [e["event"] for e in events].count("finished") == 2
    assert events[-1]["event"] == "summary" and events[-1]["counts"] == {"COMPLETE": 2}
    trials = {t.user_attrs["sweeprun.params"]["role"]: t for t in _trials(name)}
    assert trials["honest"].value == 1.0  # nothing of the forger reached it
    assert trials["honest"].intermediate_values == {0: 1.0}
    # the forger's own stdout metric counts for itself; the bogus report did not leak anywhere
    assert trials["forger"].value in (2.0, -5.0)


def _trials(name: str) -> list[Any]:
    return trials_of(str(Path(os.environ["SWEEPRUN_DIR"]) / "journal.log"), name)


def test_s5_an_inherited_report_channel_is_never_used(tmp_path: Path) -> None:
    """sweeprun started from inside a trial (or a shell with SWEEPRUN_REPORT_* set) gives each
    of its trials a fresh channel: the outer file receives nothing."""
    outer = tmp_path / "outer-report.jsonl"
    name = unique("s5b")
    sweep = tmp_path / "s5b.yaml"
    sweep.write_text(
        f"name: {name}\nprogram: {RUN_TRIAL}\nmethod: grid\nmetric: {{name: loss}}\n"
        "parameters:\n  mode: {value: client}\n  x: {value: 1.0}\n"
    )
    env = {
        "SWEEPRUN_REPORT_FILE": str(outer),
        "SWEEPRUN_REPORT_FD": "1",
        "SWEEPRUN_REPORT_PIPE": "0:0",
    }
    run_cli("start", str(sweep), cwd=tmp_path, env=env).assert_code(0)
    assert not outer.exists()
    (t,) = _trials(name)
    assert t.value == pytest.approx(0.0) and len(t.intermediate_values) == 3


def test_s5_a_trial_cannot_write_into_another_trials_report_file(tmp_path: Path) -> None:
    """The report-file fallback used to sit at a predictable path (trial-N/report-file.jsonl):
    a trial could append metrics to its neighbour's. Its name is unguessable now. (A same-uid
    process can still find it through /proc or by listing the directory: this stops crosstalk,
    it is not isolation.)"""
    prog = tmp_path / "cross.py"
    prog.write_text(
        "import json, os, sys, time\n"
        "role = sys.argv[1].split('=', 1)[1]\n"
        "me = int(os.environ['SWEEPRUN_TRIAL'])\n"
        "other = os.environ['SWEEPRUN_REPORT_FILE'].replace(f'trial-{me:05d}', f'trial-{1 - me:05d}')\n"
        "done = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'forger-done')\n"
        "def until(cond):  # a wait_until in the trial program\n"
        "    end = time.monotonic() + 60\n"
        "    while not cond() and time.monotonic() < end:\n"
        "        time.sleep(0.02)\n"
        "if role == 'forger':  # once the other trial has started\n"
        "    until(lambda: os.path.isdir(os.path.dirname(other)))\n"
        "    with open(other, 'a') as fh:\n"
        "        fh.write(json.dumps({'loss': -1e9}) + '\\n')\n"
        "    open(done, 'w').close()\n"
        "    print('loss=3')\n"
        "else:  # ends only after the forger's attempt\n"
        "    until(lambda: os.path.exists(done))\n"
        "    print('loss=1')\n"
    )
    name = unique("s5c")
    sweep = tmp_path / "s5c.yaml"
    sweep.write_text(
        f"name: {name}\nprogram: {prog}\nmethod: grid\nmetric: {{name: loss}}\n"
        "parameters:\n  role: {values: [forger, honest]}\n"
    )
    run_cli("start", str(sweep), "--jobs", "2", cwd=tmp_path).assert_code(0)
    trials = {t.user_attrs["sweeprun.params"]["role"]: t for t in _trials(name)}
    assert trials["honest"].value == 1.0
