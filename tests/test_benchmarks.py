"""Smoke test of the benchmark (issue 5): the quick mode still runs and still writes its table.

Nothing here is about time: the numbers depend on the machine and its load. The test checks that
the harness runs end to end on one small tutorial and that the report has its rows.

PyTorch (issue 19) is optional: where it is installed (``pip install -e '.[bench]'``) the quick
run measures it too and checks that its models are the same models
(``torch_models.check_same_model``); where it is not, the tests check the "not installed" path
and say in a warning that the PyTorch path was not run. The translation itself (layer plan,
weight layouts) is checked with NumPy alone, so it is tested everywhere.
"""

import importlib.util
import subprocess
import sys
import warnings

import numpy as np

from benchmarks import report, run, torch_models, workloads

HAS_TORCH = importlib.util.find_spec("torch") is not None


def _warn_pytorch_not_run(what):
    warnings.warn(
        f"PyTorch is not installed here, so {what} did not run (pip install -e '.[bench]').",
        UserWarning,
        stacklevel=2,
    )


def test_flops_per_image_matches_a_hand_count():
    # seminar: conv 28x28x(3x3x1)x32, conv 14x14x(3x3x32)x64, dense 3136x128, dense 128x10.
    conv1, conv2 = 2 * 28 * 28 * 9 * 1 * 32, 2 * 14 * 14 * 9 * 32 * 64
    dense1, dense2 = 2 * 3136 * 128, 2 * 128 * 10
    forward = conv1 + conv2 + dense1 + dense2
    flops = workloads.flops_per_image("seminar")
    assert flops["forward"] == forward
    assert flops["train"] == forward + conv1 + 2 * (conv2 + dense1 + dense2)  # no dx for conv1


def test_flops_of_the_modern_cnn_count_the_strided_same_conv():
    # conv 28x28x(3x3x1)x32 'same'; conv stride 2 'same': 14x14x(3x3x32)x64; GAP; dense 64x10.
    conv1, conv2, dense = 2 * 28 * 28 * 9 * 32, 2 * 14 * 14 * 9 * 32 * 64, 2 * 64 * 10
    flops = workloads.flops_per_image("modern")
    assert flops["forward"] == conv1 + conv2 + dense
    assert flops["train"] == 2 * conv1 + 3 * (conv2 + dense)


def test_quick_run_writes_the_table(tmp_path):
    out = tmp_path / "results.md"
    argv = ["--quick", "--models", "torres", "modern", "--sections", "main", "startup"]
    results = run.main([*argv, "--out", str(out)])
    text = out.read_text()
    assert text == report.render(results)
    assert "## Training throughput" in text
    assert "| torres | 100 |" in text and "| modern | 128 |" in text
    assert "## Roofline" in text
    assert "| scratchnet | cold |" in text and "| scratchnet | warm |" in text
    impls = {"scratchnet", "keras"} | ({"pytorch"} if HAS_TORCH else set())
    for model in ("torres", "modern"):
        for key in ("train", "infer", "predict_ms", "call_ms"):
            assert set(results["main"][model][key]) == impls
            assert all(v > 0 for v in results["main"][model][key].values())
    if not HAS_TORCH:
        assert torch_models.NOT_INSTALLED in text
        _warn_pytorch_not_run("the quick run's PyTorch columns and its same-model check")
        return
    assert torch_models.NOT_INSTALLED not in text
    assert "| scratchnet/PyTorch |" in text and "## PyTorch computes the same model" in text
    for model in ("torres", "modern"):
        check = results["main"][model]["same_model"]
        assert check["forward_max_abs_diff"] <= torch_models.FORWARD_ATOL
        assert check["predict_vs_keras"] <= torch_models.FORWARD_ATOL
        assert check["step_max_rel_diff"] <= torch_models.STEP_RTOL
        assert len(results["main"][model]["train_round_ratios_pytorch"]) == 2


def test_quick_run_without_pytorch_says_so_and_leaves_its_columns_out(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    out = tmp_path / "results.md"
    argv = ["--quick", "--models", "torres", "--sections", "main", "--steps", "2", "--repeats", "1"]
    results = run.main([*argv, "--out", str(out)])
    text = out.read_text()
    assert torch_models.NOT_INSTALLED in capsys.readouterr().err
    assert torch_models.NOT_INSTALLED in text
    assert set(results["main"]["torres"]["train"]) == {"scratchnet", "keras"}
    assert "PyTorch |" not in text and "same model" not in text


def test_the_report_lays_out_pytorch_columns_from_made_up_numbers():
    per_impl = lambda s, k, p: {"scratchnet": s, "keras": k, "pytorch": p}  # noqa: E731
    entry = {
        "batch": 100,
        "train": per_impl(4000.0, 1000.0, 2000.0),
        "train_range": per_impl([3000, 5000], [900, 1100], [1500, 2500]),
        "train_round_ratios": [3.0, 4.0, 5.0],
        "train_round_ratios_pytorch": [1.5, 2.0, 2.5],
        "infer": per_impl(9000.0, 3000.0, 6000.0),
        "predict_ms": per_impl(0.1, 10.0, 0.2),
        "call_ms": per_impl(0.1, 1.0, 0.05),
        "same_model": {
            "params": (7960, 7960),
            "forward_max_abs_diff": 3e-8,
            "predict_vs_keras": 6e-8,
            "step_max_rel_diff": 4e-6,
        },
    }
    config = {"steps": 8, "repeats": 3, "infer_images": 2000, "latency_calls": 5}
    results = {"main": {"torres": entry}, "config": config, "flops": {}}
    summary, main = report.summary_section(results), report.main_section(results)
    assert summary.splitlines()[-1].endswith(
        "| 2.00x (met >= 2.0x; paired 2.00x (1.50-2.50)) | 1.50x |"
    )
    entry["train"]["pytorch"] = 2100.0  # 1.90x: under torres's 2x against PyTorch
    assert "| 1.90x (**missed** >= 2.0x;" in report.summary_section(results)
    entry["train"]["pytorch"] = 2000.0
    train_table = main.split("\n\n")[2].splitlines()
    assert train_table[0].startswith("| model | batch | scratchnet | Keras | scratchnet/Keras |")
    assert train_table[2] == (
        "| torres | 100 | 4,000 | 1,000 | 4.00x | 2,000 | 2.00x | 3,000-5,000 | 900-1,100 "
        "| 1,500-2,500 | 4.00x (3.00-5.00) | 2.00x (1.50-2.50) |"
    )
    assert "| torres | 9,000 | 3,000 | 3.00x | 6,000 | 1.50x |" in main
    assert "| torres | 7,960 (7,960 trainable) | 3.0e-08 | 6.0e-08 | 4.0e-06 |" in (
        report.same_model_section(results)
    )
    del entry["train"]["pytorch"]  # a run without PyTorch: no PyTorch column anywhere
    assert "PyTorch" not in report.summary_section(results)


def test_the_roofline_says_whether_the_big_cnns_reach_70_percent_of_the_peak():
    def results(scratchnet_ips):
        entry = {"train": {"scratchnet": scratchnet_ips, "keras": 1000.0}, "infer": {}}
        return {
            "main": {"hanoi": entry, "torres": dict(entry)},
            "matmul_peak_gflops": 100.0,
            "flops": {m: {"train": 10e6, "forward": 4e6} for m in ("hanoi", "torres")},
        }

    # hanoi: 10 MFLOP per image at 7,000 img/s = 70 GFLOP/s = 70% of the 100 GFLOP/s peak
    rows = report.roofline_section(results(7000.0)).splitlines()
    assert rows[-2].startswith("| hanoi |") and rows[-2].endswith("| met >= 70% |")
    assert rows[-1].startswith("| torres |") and rows[-1].endswith("|  |")  # no such target
    rows = report.roofline_section(results(6900.0)).splitlines()
    assert rows[-2].endswith("| **missed** >= 70% |")


def test_the_pytorch_plan_pads_like_tensorflow_and_flattens_from_nhwc():
    plan = torch_models.layer_plan("modern")
    assert plan[3] == ("ZeroPad2d", {"padding": (0, 1, 0, 1)})  # 28 -> 14, the odd pixel after
    assert plan[4][1]["stride"] == (2, 2) and "padding" not in plan[4][1]
    assert [cls for cls, _ in plan][-3:] == ["AdaptiveAvgPool2d", "Flatten", "Linear"]
    convnet = torch_models.layer_plan("convnet")
    assert convnet[-1] == (
        "Linear",
        {"in_features": 1600, "out_features": 10, "_keras": ("flat_dense", (5, 5, 64))},
    )


def test_the_weight_layouts_compute_the_same_products_and_invert():
    rng = np.random.default_rng(0)
    h, w, c, d_out = 3, 4, 5, 6
    feature_map = rng.standard_normal((h, w, c))  # one image's NHWC map
    kernel, bias = rng.standard_normal((h * w * c, d_out)), rng.standard_normal(d_out)
    how = ("flat_dense", (h, w, c))
    torch_kernel, torch_bias = torch_models._to_torch_layout(how, [kernel, bias])
    nchw_flat = feature_map.transpose(2, 0, 1).reshape(-1)  # what nn.Flatten sees, (C, H, W)
    np.testing.assert_allclose(nchw_flat @ torch_kernel.T, feature_map.reshape(-1) @ kernel)
    back = torch_models._to_keras_layout(how, [torch_kernel, torch_bias])
    assert np.array_equal(back[0], kernel) and np.array_equal(back[1], bias)
    conv = rng.standard_normal((3, 2, c, d_out))  # Keras (KH, KW, C_in, C_out)
    (torch_conv,) = torch_models._to_torch_layout("conv", [conv])
    assert torch_conv.shape == (d_out, c, 3, 2)
    assert torch_conv[4, 1, 2, 0] == conv[2, 0, 1, 4]
    assert np.array_equal(torch_models._to_keras_layout("conv", [torch_conv])[0], conv)


def test_pytorch_models_are_the_keras_models():
    """All six: parameter counts, forward outputs, one SGD step, from the same weights."""
    torch = torch_models.load(2)
    if torch is None:
        assert not HAS_TORCH
        _warn_pytorch_not_run("the same-model check of the six PyTorch models")
        return
    import scratchnet

    (x_train, y_train), _ = workloads.load_mnist()
    for name in workloads.NAMES:
        x, y = workloads.prepare(name, x_train[:32]), y_train[:32]
        check = torch_models.check_same_model(torch, scratchnet, name, x, y)
        assert check["params"][0] == workloads.build_compiled(name, scratchnet).count_params()


def test_spawn_drops_the_variables_it_is_told_to(monkeypatch):
    """The start-up runs drop PYTHONDONTWRITEBYTECODE: Python's default, bytecode cached."""
    from benchmarks import child

    seen = {}

    def run(args, env, **kwargs):
        seen.update(env)
        return subprocess.CompletedProcess(args, 0, stdout='{"ok": 1}\n', stderr="")

    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setattr(child.subprocess, "run", run)
    assert child.spawn("startup", {"A": "1"}, unset=("PYTHONDONTWRITEBYTECODE",)) == {"ok": 1}
    assert seen["A"] == "1" and "PYTHONDONTWRITEBYTECODE" not in seen
    child.spawn("startup")
    assert seen["PYTHONDONTWRITEBYTECODE"] == "1"
