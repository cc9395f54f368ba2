"""XNNPACK's x86 int8 kernel choice, as helpers.speed reads it from gemm-config.c, and the work
the padding study expects."""

from __future__ import annotations

import pytest

from helpers import speed

AVX512 = {"avx512f", "avx512bw", "avx512dq", "avx512vl"}
SAPPHIRE_RAPIDS = {"avx2", "gfni", "avx_vnni", "avx512_vnni", "amx_int8", *AVX512}


@pytest.mark.parametrize(
    ("flags", "permitted", "kernel", "block"),
    [
        (SAPPHIRE_RAPIDS, True, "16x64c4 avx512amx", 64),
        # Linux refused AMX tile data: XNNPACK clears AMX and takes the next branch
        (SAPPHIRE_RAPIDS, False, "7x16c8 avx512vnni", 8),
        # AMX needs GFNI too (use_x86_avx512vnnigfni in hardware-config.c)
        (SAPPHIRE_RAPIDS - {"gfni"}, True, "7x16c8 avx512vnni", 8),
        ({"avx2", "avx512_vnni", *AVX512}, True, "7x16c8 avx512vnni", 8),
        ({"avx2", "avx_vnni", "gfni"}, True, "5x8c8 avxvnni", 8),
        ({"avx2", "avx_vnni"}, True, "3x8c8 avx2", 8),  # AVX-VNNI without GFNI is not used
        ({"avx2", *AVX512}, True, "7x16c8 avx512skx", 8),
        ({"avx2"}, True, "3x8c8 avx2", 8),
    ],
)
def test_expected_kernel_follows_xnnpack_order(flags, permitted, kernel, block):
    chosen = speed.expected_int8_kernel(set(flags), amx_permitted=permitted)
    assert chosen["kernel"].endswith(kernel)
    assert chosen["channel_block"] == block
    assert chosen["kr"] == (4 if "amx" in kernel else 8)


def test_no_x86_int8_kernel_without_avx2():
    assert speed.expected_int8_kernel({"sse4_1", "asimddp"}, amx_permitted=True) is None


def test_amx_permission_is_only_asked_when_the_flags_offer_amx(monkeypatch):
    asked = []
    monkeypatch.setattr(speed, "amx_tile_data_permitted", lambda: asked.append(1) or False)
    assert speed.expected_int8_kernel({"avx2"})["kernel"].endswith("avx2")
    assert not asked
    assert speed.expected_int8_kernel(SAPPHIRE_RAPIDS)["kernel"].endswith("avx512vnni")
    assert asked == [1]


@pytest.mark.parametrize(
    ("block", "channels"),
    [(8, [1, 2, 4, 8, 9, 16]), (64, [1, 2, 16, 32, 64, 65, 128]), (4, [1, 2, 4, 5, 8])],
)
def test_sweep_spans_one_block_and_the_next(block, channels):
    assert speed.sweep_channels(block) == channels


def test_layer_work_pads_to_kr_and_counts_blocks_per_tap():
    import tf_keras as keras

    model = keras.Sequential(
        [
            keras.layers.Input(shape=(5, 5, 1)),
            keras.layers.Conv2D(2, kernel_size=2, name="conv"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(3, name="dense"),
        ]
    )
    amx = {"kr": 4, "channel_block": 64}
    rows = {row["layer"]: row for row in speed.layer_work(model, amx)}
    padded, blocks = (
        "int8 multiply-adds, channels padded to 4",
        "int8 blocks of 64 channels per tap",
    )
    assert rows["conv"]["multiply-adds"] == 4 * 4 * 2 * 4 * 1  # 4x4 outputs, 2 filters, 4 taps
    assert rows["conv"][padded] == 4 * rows["conv"]["multiply-adds"]  # 1 channel padded to 4
    assert rows["conv"][blocks] == 1
    assert rows["dense"]["multiply-adds"] == 32 * 3
    assert rows["dense"][padded] == 32 * 3  # 32 inputs are already a multiple of 4
    assert rows["flatten"][padded] == rows["flatten"][blocks] == 0
    # Without AMX (and off x86, by default) kr and the block are both 8.
    rows = {row["layer"]: row for row in speed.layer_work(model)}
    assert rows["conv"]["int8 multiply-adds, channels padded to 8"] == 8 * 4 * 4 * 2 * 4
    assert rows["dense"]["int8 blocks of 8 channels per tap"] == 4


def test_block_clause_separates_what_is_multiplied_from_what_time_pays_for():
    from helpers import conclusions

    layers = {"slowest_padding_factor": 4.0, "slowest_block_factor": 64.0}
    amx = conclusions._block_clause({"kr": 4, "channel_block": 64}, layers)
    assert "pads to a multiple of 4 (4× its real multiply-adds)" in amx
    assert "blocks of 64 per kernel tap" in amx and "(64× its real channels)" in amx
    eight = conclusions._block_clause(
        None, {"slowest_padding_factor": 8.0, "slowest_block_factor": 8.0}
    )
    assert "pads to a multiple of 8 (8× its real multiply-adds)" in eight
    assert "blocks of" not in eight


def test_between_studies_reads_every_study_that_timed_both_files():
    def study(names, batch, throughput, latency=None):
        variants = {}
        for name, rounds in zip(names, throughput, strict=True):
            variants[name] = {"throughput_rounds": rounds}
            if latency:
                variants[name]["latency_rounds"] = latency[names.index(name)]
        return {"settings": {"batch_size": batch}, "variants": variants}

    plain = study(["int8", "float32"], 256, [[2.0] * 3, [1.0] * 3], [[3.0] * 3, [1.0] * 3])
    kernels = study(
        ["int8, default, 1 thread(s)", "float32, default, 1 thread(s)"],
        256,
        [[1.5] * 3, [1.0] * 3],
    )
    other_batch = study(["int8", "float32"], 8, [[9.0] * 3, [1.0] * 3])
    only_one = study(["int8"], 256, [[1.0] * 3])
    found = speed.between_studies(
        {"a": plain, "kernels": kernels, "b8": other_batch, "one": only_one, "none": None}, 256
    )
    assert found["int8 / float32 throughput"] == {"a": 2.0, "kernels": 1.5}
    assert found["int8 / float32 time at batch 1"] == {"a": 3.0}


def test_fastest_by_batch_calls_files_within_the_margin_tied():
    def variant(ips, rounds):
        return {"throughput_ips": ips, "throughput_rounds": rounds}

    studies = {
        8: {"variants": {"a": variant(100, [100] * 3), "b": variant(98, [98] * 3)}},
        1: {"variants": {"a": variant(50, [50] * 3), "b": variant(80, [80] * 3)}},
    }
    rows = speed.fastest_by_batch(studies, margin=0.05)
    assert [(r["batch"], r["fastest"], r["tied_with"]) for r in rows] == [
        (1, "b", []),
        (8, "a", ["b"]),  # 2% apart: within the margin
    ]
    assert speed.fastest_text(rows) == "batch 1 `b`; batch 8 `a` (tied with `b`)"
