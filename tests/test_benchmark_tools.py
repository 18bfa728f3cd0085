"""The benchmark harness's own tools (benchmarks/_common.py), where a bug would skew figures."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import _common as C  # noqa: E402


@pytest.fixture(autouse=True)
def no_settle(monkeypatch):
    monkeypatch.setattr(C, "SETTLE_S", 0.0)


def _job(name, epochs, log, running, fail_at=None):
    def job(epoch_end):
        for epoch in range(1, epochs + 1):
            running.append(name)
            assert len(running) == 1, f"{running} run at once"
            log.append((name, epoch))
            if epoch == fail_at:
                running.remove(name)
                raise RuntimeError(f"{name} failed at epoch {epoch}")
            running.remove(name)
            epoch_end(epoch, {})
        return f"{name} done"

    return job


def test_take_turns_alternates_epochs_one_job_at_a_time():
    log, running = [], []
    jobs = {"a": _job("a", 3, log, running), "b": _job("b", 5, log, running)}
    results = C.take_turns(jobs)
    assert results == {"a": "a done", "b": "b done"}
    # a and b alternate while both run; b finishes its last two epochs alone
    assert log == [("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3), ("b", 3), ("b", 4), ("b", 5)]


def test_take_turns_keeps_going_after_a_failure_and_raises_it():
    log, running = [], []
    jobs = {"a": _job("a", 3, log, running, fail_at=2), "b": _job("b", 3, log, running)}
    with pytest.raises(RuntimeError, match="a failed at epoch 2"):
        C.take_turns(jobs)
    assert log == [("a", 1), ("b", 1), ("a", 2), ("b", 2), ("b", 3)]
    # no job thread left waiting for its turn
    assert not [t for t in threading.enumerate() if t.name in jobs and t.is_alive()]


def test_interleaved_times_each_engine_after_wake_s_of_untimed_calls():
    """After the pause, an engine runs untimed for at least wake_s (glassnet's threads
    need ~0.1 s to come out of idle) before its timed block starts."""
    events = []

    def engine(name):
        def timed():
            events.append((name, "timed", C.time.perf_counter()))

        def wake():
            events.append((name, "wake", C.time.perf_counter()))

        return timed, wake

    fns, wakes = {}, {}
    for name in ("a", "b"):
        fns[name], wakes[name] = engine(name)
    C.interleaved(fns, repeats=3, warmup=0, number=1, settle_s=0.0, wake=wakes, wake_s=0.01)
    blocks = 0
    for i, (name, kind, t) in enumerate(events):
        if kind != "timed":
            continue
        j = i
        while j > 0 and events[j - 1][:2] == (name, "wake"):
            j -= 1
        assert j < i, "a timed block without wake-up calls before it"
        assert t - events[j][2] >= 0.01
        blocks += 1
    assert blocks == 6


def test_results_are_filed_under_the_date_the_run_started(tmp_path, monkeypatch):
    """A run that crosses midnight keeps the date its header shows."""
    import argparse

    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    args = argparse.Namespace(no_save=False, threads=C.available_cores(), quick=False, out=tmp_path)
    C.write_results(args, "demo", {"machine": {"date": "2000-01-02"}}, "# demo")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "2000-01-02-demo.json",
        "2000-01-02-demo.md",
    ]


def test_a_second_run_of_the_day_keeps_the_first_unless_replace(tmp_path, monkeypatch):
    import argparse

    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    args = argparse.Namespace(no_save=False, threads=C.available_cores(), quick=False, out=tmp_path)
    machine = {"machine": {"date": "2000-01-02"}}
    for text in ("# first", "# second", "# third"):
        C.write_results(args, "demo", machine, text)
    names = sorted(p.name for p in tmp_path.iterdir())
    runs = ("", "-2", "-3")
    assert names == sorted(f"2000-01-02-demo{run}.{ext}" for run in runs for ext in ("json", "md"))
    assert (tmp_path / "2000-01-02-demo.md").read_text() == "# first\n"
    assert (tmp_path / "2000-01-02-demo-3.md").read_text() == "# third\n"
    # a lone leftover of either kind counts as a run: its pair is not overwritten either
    (tmp_path / "2000-01-02-demo-4.md").write_text("# orphan\n")
    C.write_results(args, "demo", machine, "# fourth")
    assert (tmp_path / "2000-01-02-demo-4.md").read_text() == "# orphan\n"
    assert (tmp_path / "2000-01-02-demo-5.md").read_text() == "# fourth\n"
    args.replace = True
    C.write_results(args, "demo", machine, "# replaced")
    assert (tmp_path / "2000-01-02-demo.md").read_text() == "# replaced\n"
    assert len(list(tmp_path.iterdir())) == 9  # 3 runs, the orphan, the fourth run


def test_every_benchmark_takes_replace(monkeypatch):
    monkeypatch.setattr("sys.argv", ["bench", "--replace"])
    assert C.parse_args("demo").replace is True
    monkeypatch.setattr("sys.argv", ["bench"])
    assert C.parse_args("demo").replace is False


def test_layers_traces_resnet20s_3x3_convs_and_has_a_row_for_each():
    import layers

    counts = layers.resnet20_convs()
    # ResNet-20: a stem and three stages of three blocks, two 3x3 convs each
    assert sum(counts.values()) == 19
    by_shape = {(k[0], k[1], k[3], k[4]): n for k, n in counts.items()}
    assert by_shape == {
        (3, 16, (1, 1), (32, 32)): 1,
        (16, 16, (1, 1), (32, 32)): 6,
        (16, 32, (2, 2), (32, 32)): 1,
        (32, 32, (1, 1), (16, 16)): 5,
        (32, 64, (2, 2), (16, 16)): 1,
        (64, 64, (1, 1), (8, 8)): 5,
    }
    convs = [c for c in layers.cases() if isinstance(c["layer"], layers.nn.Conv2d)]
    rows = {layers.conv_key(c["layer"], c["shape"]) for c in convs}
    assert set(counts) <= rows


def test_layers_resnet20_total_weighs_rows_by_count_and_their_own_matmul(monkeypatch):
    import layers

    a, b = ("a",), ("b",)
    monkeypatch.setattr(layers, "resnet20_convs", lambda: {a: 3, b: 1})
    rows = [  # a: 1 GFLOP in 10 ms beside a 200 GFLOP/s matmul; b: 2 GFLOP, 40 ms, 100
        dict(conv_key=a, flops_fwd_bwd=1e9, matmul_gflops=200.0, glassnet_s=0.010, torch_s=0.005),
        dict(conv_key=b, flops_fwd_bwd=2e9, matmul_gflops=100.0, glassnet_s=0.040, torch_s=0.020),
        dict(layer="not a conv"),
    ]
    total = layers.resnet20_total(rows)
    assert total["convs"] == 4 and total["flops_fwd_bwd"] == 5e9
    assert total["glassnet_s"] == pytest.approx(0.070)
    assert total["glassnet_gflops"] == pytest.approx(5e9 / 0.070 / 1e9)
    # at matmul speed: 3 * 5 ms + 20 ms = 35 ms of the 70 (glassnet) and 35 (torch) taken
    assert total["glassnet_pct_of_matmul"] == pytest.approx(50.0)
    assert total["torch_pct_of_matmul"] == pytest.approx(100.0)
    assert total["ratio"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="without a benchmark row"):
        layers.resnet20_total(rows[1:])


def test_runs_with_forced_blas_kernels_are_filed_apart(tmp_path, monkeypatch):
    """OPENBLAS_CORETYPE changes NumPy's GEMM speed twofold on some CPUs: such a run must
    not overwrite the day's run with OpenBLAS's own kernels."""
    import argparse

    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    args = argparse.Namespace(no_save=False, threads=C.available_cores(), quick=True, out=tmp_path)
    C.write_results(args, "demo", {"machine": {"date": "2000-01-02"}}, "# demo")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "2000-01-02-demo-coretype-haswell-quick.json",
        "2000-01-02-demo-coretype-haswell-quick.md",
    ]


def test_blas_warning_only_when_the_forced_kernels_differ():
    forced = {
        "env": {"OPENBLAS_CORETYPE": "Haswell"},
        "numpy_blas_kernels": "Haswell",
        "numpy_blas_own_kernels": "SkylakeX",
    }
    warning = C.blas_warning(forced)
    assert "OPENBLAS_CORETYPE=Haswell" in warning and "SkylakeX" in warning
    assert "SkylakeX" in C.header("t", {**_machine(), **forced}, quick=False)
    assert (
        C.blas_warning({"numpy_blas_kernels": "Haswell", "numpy_blas_own_kernels": "haswell"})
        is None
    )
    assert C.blas_warning({"numpy_blas_kernels": "SkylakeX"}) is None


def _machine() -> dict:
    return {
        "date": "2000-01-02",
        "cpu_model": "CPU",
        "cores_available": 2,
        "threads_used": 2,
        "numpy": "2",
        "python": "3",
        "env": {},
    }


def test_blas_own_kernels_asks_a_process_without_the_variable(monkeypatch):
    """The child sees no OPENBLAS_CORETYPE, so it names what OpenBLAS picks itself
    (the same as this process's kernels when the variable is unset here)."""
    from threadpoolctl import threadpool_info

    numpy_blas = [
        p
        for p in threadpool_info()
        if p.get("internal_api") == "openblas" and "numpy" in p.get("filepath", "")
    ]
    if not numpy_blas:
        pytest.skip("NumPy is not linked to OpenBLAS here")
    forced_here = "OPENBLAS_CORETYPE" in os.environ
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Prescott")  # what the child must not see
    own = C.blas_own_kernels()
    assert own and own.lower() != "prescott"
    if not forced_here:
        assert own == numpy_blas[0]["architecture"]


def test_separate_runs_each_engine_in_its_own_process_in_alternating_order(monkeypatch):
    """benchmarks/separate.py: one child process per measurement, the engines' order
    reversed every round, and the figure is the median of the children's medians."""
    import separate

    calls = []

    def fake_child(engine, model_name, batch, mode, threads, quick, before):
        calls.append((engine, mode))
        return {
            "median_s": {"glassnet": 1.0, "torch": 2.0}[engine] + len(calls) * 1e-3,
            "peak_mib": 10.0,
        }

    monkeypatch.setattr(separate, "run_child", fake_child)
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "separate.py",
            "--no-save",
            "--models",
            "lenet5",
            "--modes",
            "loop",
            "fit",
            "--rounds",
            "3",
            "--wait-quiet",
            "0",
        ],
    )
    separate.main()
    loop = [e for e, m in calls if m == "loop"]
    assert loop == ["glassnet", "torch", "torch", "glassnet", "glassnet", "torch"]
    assert [e for e, m in calls if m == "fit"] == ["glassnet"] * 3  # fit: glassnet only


def test_separate_child_times_the_hand_written_loop():
    """A real child process: the README's five-line step on a tiny model."""
    import json
    import subprocess

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "separate.py"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    out = subprocess.run(
        [
            sys.executable,
            str(script),
            "--child",
            "glassnet",
            "digits-baseline",
            "4",
            "loop",
            "1",
            "3",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["median_s"] > 0 and result["peak_mib"] > 0


def test_separate_variants_change_one_setting_in_the_childs_environment(monkeypatch):
    """glassnet:textbook and friends are glassnet run with one environment variable set,
    and an unknown engine is refused before anything runs."""
    import subprocess

    import separate

    seen = {}

    def fake_run(cmd, env, **kwargs):
        seen[cmd[3]] = env
        return subprocess.CompletedProcess(cmd, 0, '{"median_s": 0.001, "peak_mib": 1.0}\n', "")

    monkeypatch.setattr(separate.subprocess, "run", fake_run)
    for engine in ("glassnet", "glassnet:textbook", "glassnet:no-workspace"):
        separate.run_child(engine, "lenet5", 8, "loop", 1, True, None)
    assert seen["glassnet:textbook"]["GLASSNET_KERNELS"] == "textbook"
    assert seen["glassnet:no-workspace"]["GLASSNET_WORKSPACE"] == "0"
    assert "GLASSNET_KERNELS" not in seen["glassnet"] or os.environ.get("GLASSNET_KERNELS")
    monkeypatch.setattr(sys, "argv", ["separate.py", "--no-save", "--engines", "glassnet:fast"])
    with pytest.raises(SystemExit, match="unknown engine"):
        separate.main()


def test_recipe94_tabulates_runs_and_files_other_schedules_apart(tmp_path):
    import recipe94

    from glassnet import io

    folders = []
    for engine, epochs, batch in [("glassnet", 3.5, 512), ("torch", 3.5, 512)]:
        folder = tmp_path / engine
        folder.mkdir()
        io.write_json(folder / "config.json", {"epochs": epochs, "batch_size": batch})
        io.write_json(
            folder / "history.json",
            [{"epoch": 1, "val_accuracy": 0.7, "train_seconds": 300.0}],
        )
        metrics = {"engine": engine, "epochs": epochs, "train_seconds": 1032.0}
        metrics.update(val_accuracy=0.9026, val_noise=0.0042, val_accuracy_no_tta=0.8976)
        metrics.update(test_accuracy=0.912, test_noise=0.009, test_accuracy_no_tta=0.898)
        io.write_json(folder / "metrics.json", metrics)
        folders.append(folder)
    records, text = recipe94.tabulate(folders)
    row = "| glassnet | 3.5 | 512 | relu | 17.2 | 90.26 +- 0.42 | 89.76 | 91.20 +- 0.90 | 89.80 |"
    assert row in text
    assert "- torch: 1: 70.00 (5.0 min)" in text
    # runs saved before the activation knob (no "activation" in config.json) used ReLU
    assert recipe94.results_name(records) == "cifar10-94-3.5ep-b512-relu"
    for r in records:
        r["config"]["activation"] = "gelu"  # the recipe's
    assert recipe94.results_name(records) == "cifar10-94-3.5ep-b512"
    records[1]["config"]["batch_size"] = 1024  # mixed batches: only the schedule is named
    assert recipe94.results_name(records) == "cifar10-94-3.5ep"
    for r in records:
        r["config"].update(epochs=9.9, batch_size=1024)
    assert recipe94.results_name(records) == "cifar10-94"


def test_peers_alternates_libraries_and_drops_one_that_cannot_run(monkeypatch, capsys):
    """benchmarks/peers.py: one process per measurement, the libraries' order reversed
    every round; a library whose child reports it missing is not run again and is
    named in the output; the figure is the median of the children's medians."""
    import peers

    calls = []

    def fake_child(library, python, model_name, batch, threads, quick, check=False):
        calls.append((library, model_name, threads))
        if library == "dezero":
            return {"missing": "ImportError: No module named 'dezero'"}
        base = {"glassnet": 1.0, "mygrad": 2.0, "tinygrad": 3.0}[library]
        return {"median_s": base + len(calls) * 1e-3, "peak_mib": 5.0}

    monkeypatch.setattr(peers, "run_child", fake_child)
    monkeypatch.setattr(peers, "_versions", lambda python: {"mygrad": "2.5.0", "numpy": "2"})
    monkeypatch.setattr(
        sys,
        "argv",
        ["peers.py", "--no-save", "--models", "lenet5", "--rounds", "3", "--wait-quiet", "0"],
    )
    peers.main()
    order = [lib for lib, _, _ in calls]
    rounds = [["glassnet", "mygrad", "dezero", "tinygrad"], ["tinygrad", "mygrad", "glassnet"]]
    rounds.append(["glassnet", "mygrad", "tinygrad"])  # dezero dropped after round one
    assert order == [lib for r in rounds for lib in r]
    assert {threads for _, _, threads in calls} == {1}  # one thread unless asked
    out = capsys.readouterr().out
    assert "dezero: not measured (ImportError" in out
    # mygrad's medians 2.002, 2.006, 2.009 s against glassnet's 1.001, 1.007, 1.008 s
    assert "mygrad 2006.00 ms (1.99x)" in out


def test_peers_glassnet_child_trains_and_times_a_step():
    """A real child: glassnet's MLP step on one batch lowers its loss (the check every
    library's step passes before it is timed), and the timed child reports a median."""
    import json
    import subprocess

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "peers.py"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")

    def child(*args):
        out = subprocess.run(
            [sys.executable, str(script), "--child", "glassnet", "mnist-mlp", "16", *args],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    check = child("check", "30")
    assert check["last_loss"] < 0.5 * check["first_loss"]
    timed = child("2", "3")
    assert timed["median_s"] > 0
