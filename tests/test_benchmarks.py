"""Smoke test of the benchmark (issue 5): the quick mode still runs and still writes its table.

Nothing here is about time: the numbers depend on the machine and its load. The test checks that
the harness runs end to end on one small tutorial and that the report has its rows.
"""

from benchmarks import report, run, workloads


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
    for model in ("torres", "modern"):
        for key in ("train", "infer", "predict_ms", "call_ms"):
            assert set(results["main"][model][key]) == {"scratchnet", "keras"}
            assert all(v > 0 for v in results["main"][model][key].values())
