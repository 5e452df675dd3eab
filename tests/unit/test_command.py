"""command.py: W&B command macros → argv, the trial environment, W&B's config yaml."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st

from sweeprun.config.load import parse_config
from sweeprun.errors import SweepError
from sweeprun.run.argv import (
    MACROS,
    args_json_text,
    build_argv,
    template_problems,
    trial_env,
    uses_args_json_file,
    wandb_config_yaml,
)
from sweeprun.run.request import TrialPlan
from tests.helpers.paths import PROGRAMS

PY = "/opt/py/bin/python3"
PARAMS = {"a": True, "b": False, "c": 1, "d": None, "lr": 1e-05, "name": "x y"}


def build(template: list[str] | None, params: object = PARAMS, **kw: object) -> list[str]:
    kw.setdefault("program", "train.py")
    kw.setdefault("interpreter", PY)
    kw.setdefault("environ", {})
    return build_argv(template, params, **kw)  # type: ignore[arg-type]


def test_default_template_is_interpreter_program_args_and_env_is_dropped() -> None:
    assert build(None, {"lr": 0.1, "epochs": 3}) == [PY, "train.py", "--lr=0.1", "--epochs=3"]


def test_args_matches_wandb_formatting() -> None:
    # the same values as wandb's own test_agent_create_command_args
    assert build(["${args}"]) == [
        "--a=True", "--b=False", "--c=1", "--d=None", "--lr=1e-05", "--name=x y",
    ]  # fmt: skip


def test_args_no_hyphens() -> None:
    assert build(["${args_no_hyphens}"], {"a": True, "c": 1}) == ["a=True", "c=1"]


def test_args_no_boolean_flags() -> None:
    assert build(["${args_no_boolean_flags}"]) == [
        "--a", "--c=1", "--d=None", "--lr=1e-05", "--name=x y",
    ]  # fmt: skip


def test_args_json() -> None:
    (text,) = build(["${args_json}"], {"a": True, "b": False, "c": 1, "d": None})
    assert text == '{"a": true, "b": false, "c": 1, "d": null}'


def test_args_json_file_is_the_given_path_and_text_is_the_json() -> None:
    assert build(["${args_json_file}"], args_json_file="/t/p.json") == ["/t/p.json"]
    assert json.loads(args_json_text({"x": [1, 2]})) == {"x": [1, 2]}
    assert uses_args_json_file(["python", "${args_json_file}"])
    assert not uses_args_json_file(None)


def test_args_json_file_without_a_path_is_an_error() -> None:
    with pytest.raises(SweepError, match="args_json_file"):
        build(["${args_json_file}"])


def test_args_no_equals_gives_two_elements() -> None:
    assert build(["${args_no_equals}"], {"a": True, "n": "x y"}) == ["--a", "True", "--n", "x y"]


def test_hydra_macros() -> None:
    assert build(["${args_append_hydra}"], {"a": 1, "m.x": "s"}) == ["+a=1", "+m.x=s"]
    assert build(["${args_override_hydra}"], {"a": 1}) == ["++a=1"]


def test_nested_params_are_formatted_like_wandb_as_a_python_dict() -> None:
    params = {"batch": 32, "optimizer": {"lr": 0.001, "nadam": {"beta": 0.9}}}
    assert build(["${args}"], params) == [
        "--batch=32", "--optimizer={'lr': 0.001, 'nadam': {'beta': 0.9}}",
    ]  # fmt: skip
    assert json.loads(build(["${args_json}"], params)[0]) == params
    assert build(["${args}"], {"l": [1, 2]}) == ["--l=[1, 2]"]


def test_interpreter_program_and_literals() -> None:
    argv = build(["${interpreter}", "-u", "${program}", "--fixed", "${args}", "tail"], {"k": 2})
    assert argv == [PY, "-u", "train.py", "--fixed", "--k=2", "tail"]


def test_env_is_kept_when_followed_by_an_assignment_or_option() -> None:
    assert build(["${env}", "FOO=1", "python"], {}) == ["/usr/bin/env", "FOO=1", "python"]
    assert build(["${env}", "-i", "python"], {}) == ["/usr/bin/env", "-i", "python"]
    assert build(["${env}", "python", "${args}"], {}) == ["python"]


def test_envvar_is_substituted_inside_elements() -> None:
    env = {"DATA": "/d a/t", "N": "4"}
    argv = build(["${envvar:N}", "--data=${envvar:DATA}/x", "${envvar:N}${envvar:N}"], environ=env)
    assert argv == ["4", "--data=/d a/t/x", "44"]


def test_unset_envvar_is_the_bare_name_like_wandb() -> None:
    # W&B's create_sweep_command: os.environ.get(name, name)
    assert build(["python", "--d=${envvar:NOPE_DIR}/x"], environ={}) == ["python", "--d=NOPE_DIR/x"]
    (found,) = template_problems(["python", "--d=${envvar:NOPE_DIR}"], environ={"HOME"})
    assert (found.path, found.rule) == (("command", 1), "unset-envvar")
    assert "NOPE_DIR" in found.message and "not set" in found.message
    assert found.fix.startswith("export NOPE_DIR=")
    assert template_problems(["--d=${envvar:HOME}"], environ={"HOME"}) == []


def test_unknown_macro_is_dropped_like_wandb_and_suggests_the_close_one() -> None:
    # W&B's Agent._command_run: an element "${...}" not in sweep_vars adds nothing
    assert build(["python", "${arg}", "${a}/${b}", "x"], {}) == ["python", "x"]
    (found,) = template_problems(["python", "${args_jsn}", "${args}"])
    assert (found.path, found.rule) == (("command", 1), "unknown-macro")
    assert found.message.startswith("unknown macro '${args_jsn}'")
    assert found.fix.startswith("did you mean '${args_json}'?")
    (bad,) = template_problems(["${envvar:}"])
    assert bad.rule is None and bad.message == "'${envvar:}' does not name an environment variable"


def test_program_macro_without_program_is_found_before_any_trial() -> None:
    (found,) = template_problems(["python", "${program}"], program=None)
    assert found.rule is None and found.path == ("command", 1) and "no 'program:'" in found.message
    assert template_problems(["python", "${program}"], program="t.py") == []


def test_program_macro_without_program_is_a_clear_error() -> None:
    with pytest.raises(SweepError, match="no 'program:'"):
        build(None, program=None)


def test_macro_inside_a_larger_element_is_left_alone() -> None:
    assert build(["x${args}", "${args} ", "${args}\n", "${program}y"], {"k": 1}) == [
        "x${args}", "${args} ", "${args}\n", "${program}y",
    ]  # fmt: skip


def test_non_string_template_elements_are_stringified() -> None:
    assert build(["python", 1.5, "${args}"], {"k": 1}) == ["python", "1.5", "--k=1"]  # type: ignore[list-item]


def test_trial_env_sets_the_contract_variables_and_ours_win() -> None:
    env = trial_env(
        {"PATH": "/bin", "SWEEPRUN_TRIAL": "old", "KEEP": "1", "OMP_NUM_THREADS": "2",
         "SWEEPRUN_SWEEP": "user"},
        sweep="s1", trial_number=7, trial_dir="/t/7", params={"lr": 0.1},
        run_id="s1-7", launch="abc123", param_path="/t/7/config-s1-7.yaml", cuda_devices="1,3",
    )  # fmt: skip
    assert env["PATH"] == "/bin" and env["KEEP"] == "1" and env["OMP_NUM_THREADS"] == "2"
    assert env["SWEEPRUN_SWEEP"] == "s1" and env["SWEEPRUN_TRIAL"] == "7"
    assert env["SWEEPRUN_TRIAL_DIR"] == "/t/7" and env["SWEEPRUN_LAUNCH"] == "abc123"
    assert json.loads(env["SWEEPRUN_PARAMS"]) == {"lr": 0.1}
    assert "WANDB_SWEEP_ID" not in env and env["WANDB_RUN_ID"] == "s1-7"  # opt-in: tracking
    assert env["WANDB_SWEEP_PARAM_PATH"] == "/t/7/config-s1-7.yaml"
    assert env["CUDA_VISIBLE_DEVICES"] == "1,3"
    no_gpu = trial_env(
        {}, sweep="s", trial_number=0, trial_dir="d", params={}, run_id="r", launch="l",
        param_path="p", cuda_devices=None,
    )  # fmt: skip
    assert "CUDA_VISIBLE_DEVICES" not in no_gpu


def test_trial_plan_layers_the_environment_once_and_each_trial_adds_its_own(
    tmp_path: Path,
) -> None:
    cfg = parse_config(
        {
            "program": "t.py",
            "method": "random",
            "metric": {"name": "loss"},
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
            "trial": {"env": {"OMP_NUM_THREADS": "2", "SWEEPRUN_SWEEP": "user", "KEEP": "t"}},
        }
    )
    environ = {"PATH": "/bin", "KEEP": "agent", "ONLY_AGENT": "1"}
    plan = TrialPlan.build(
        cfg, sweep="s1", root=tmp_path, extra_env={"FROM_CLI": "c"}, extra_args=["--fast"],
        environ=environ,
    )  # fmt: skip
    environ["ONLY_AGENT"] = "changed later"  # the plan took its own copy
    first, second = plan.prepare(0, {"x": 0.25}), plan.prepare(1, {"x": 0.5}, cuda_devices="3")
    env = first.request.env
    assert env["PATH"] == "/bin" and env["ONLY_AGENT"] == "1" and env["FROM_CLI"] == "c"
    assert env["KEEP"] == "t" and env["OMP_NUM_THREADS"] == "2"  # trial.env over the agent's
    assert env["SWEEPRUN_SWEEP"] == "s1" and env["PYTHONUNBUFFERED"] == "1"  # ours win
    assert json.loads(env["SWEEPRUN_PARAMS"]) == {"x": 0.25}
    assert json.loads(second.request.env["SWEEPRUN_PARAMS"]) == {"x": 0.5}
    assert "CUDA_VISIBLE_DEVICES" not in env
    assert second.request.env["CUDA_VISIBLE_DEVICES"] == "3"
    assert first.request.argv[-2:] == ("--x=0.25", "--fast")
    assert first.trial_dir == tmp_path / "s1" / "trial-00000" and first.trial_dir.is_dir()
    assert first.launch != second.launch and first.run_id != second.run_id
    assert env is not second.request.env and "SWEEPRUN_PARAMS" not in plan.base_env


def test_wandb_config_yaml_format() -> None:
    text = wandb_config_yaml({"lr": 0.1, "opt": {"beta": 0.9}, "layers": (1, 2)})
    assert text.startswith("wandb_version: 1\n\nlr:\n  value: 0.1\n")
    assert yaml.safe_load(text) == {
        "wandb_version": 1,
        "lr": {"value": 0.1},
        "opt": {"value": {"beta": 0.9}},
        "layers": {"value": [1, 2]},
    }
    assert wandb_config_yaml({}) == "wandb_version: 1\n"


# --- properties ---------------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.]{0,12}", fullmatch=True)
nasty_text = st.text(
    alphabet=st.sampled_from(list("ab -'\"; \n\t$`\\|&*?{}=é✓")), min_size=0, max_size=20
)
values = st.one_of(st.booleans(), st.none(), st.integers(), st.floats(allow_nan=False), nasty_text)
param_maps = st.dictionaries(names, values, max_size=5)


@given(param_maps, nasty_text)
def test_values_come_through_as_single_elements(params: dict[str, object], lit: str) -> None:
    argv = build(["prog", "${args_no_equals}"], params)
    assert argv == ["prog"] + [x for k, v in params.items() for x in (f"--{k}", str(v))]
    if "${" not in lit:
        assert build([lit], params) == [lit]
    assert build(["p", "${args}"], params) == ["p"] + [f"--{k}={v}" for k, v in params.items()]


@given(param_maps, st.sampled_from(MACROS), st.text(min_size=1, max_size=3))
def test_macro_expands_only_as_a_whole_element(
    params: dict[str, object], macro: str, extra: str
) -> None:
    assume("${" not in extra)
    element = "${" + macro + "}"
    # W&B: an element that starts with "${" and ends with "}" is a macro ("${env}}": unknown)
    assert build([element + extra, "x"], params) == (
        ["x"] if extra.endswith("}") else [element + extra, "x"]
    )
    assert build([extra + element], params) == [extra + element]


def test_argv_reaches_a_real_program_byte_for_byte() -> None:
    params = {"s": "a b; rm -rf / `x` $HOME \"q\" 'q'", "n": "line1\nline2", "d": "--not-a-flag"}
    argv = build(["${interpreter}", "${program}", "${args_no_equals}"], params,
                 interpreter=sys.executable, program=str(PROGRAMS / "print_args.py"))  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["argv"] == [x for k, v in params.items() for x in (f"--{k}", v)]


def test_any_point_fills_every_parameter_as_the_program_receives_it() -> None:
    from sweeprun.commands.start import any_point

    cfg = parse_config(
        {
            "program": "t.py",
            "method": "bayes",
            "metric": {"name": "loss"},
            "parameters": {
                "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
                "layers": {"min": 2, "max": 8},
                "opt": {"values": ["sgd", "adam"]},
                "fixed": {"value": 3},
                "net": {"parameters": {"width": {"values": [64, 128]}}},
            },
        }
    )
    point = any_point(cfg)
    assert point["opt"] == "sgd" and point["fixed"] == 3 and point["net"] == {"width": 64}
    assert point["layers"] == 2 and point["lr"] == pytest.approx(1e-4)
