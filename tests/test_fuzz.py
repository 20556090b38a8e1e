"""A short run of benchmarks/fuzz.py: generated bad input ends in clear errors, never in a
traceback, an accepted bad box or output left behind."""

from benchmark_scripts import load_benchmark_script


def test_short_fuzz_campaign_has_no_tracebacks_or_partial_outputs(tmp_path):
    fuzz = load_benchmark_script("fuzz")
    result = fuzz.campaign(seed=0, n=20, work=tmp_path / "fuzz", log=lambda *_: None)
    counts = result["counts"]
    # the campaign has the size it was asked for
    assert sum(counts["info_rows"][o] for o in fuzz.OUTCOMES) == 200
    assert sum(counts["read_film"][o] for o in fuzz.OUTCOMES) == 20
    assert sum(counts["load_coco"][o] for o in fuzz.OUTCOMES) == 20
    assert counts["convert_mias_cmd"] and counts["convert_coco_cmd"] and counts["screen_batch"]
    # it exercised both sides: inputs refused and inputs accepted
    for part in ("info_rows", "read_film", "load_coco"):
        assert counts[part]["clear"] > 0 and counts[part]["ok"] > 0, (part, counts[part])
    bad = {part: (c["traceback"], c["accepted_bad"], c["partial"]) for part, c in counts.items()
           if c["traceback"] or c["accepted_bad"] or c["partial"]}
    assert not bad, (bad, result["examples"])


def test_fuzz_is_seeded():
    fuzz = load_benchmark_script("fuzz")
    import numpy as np

    rows = lambda seed: [fuzz.info_row(np.random.default_rng(seed)) for _ in range(50)]  # noqa: E731
    assert rows(3) == rows(3) and rows(3) != rows(4)
    a = fuzz.odd_image(np.random.default_rng(5), 7)
    b = fuzz.odd_image(np.random.default_rng(5), 7)
    assert a == b
    assert [fuzz.coco_text(np.random.default_rng(9)) for _ in range(3)] == [fuzz.coco_text(np.random.default_rng(9)) for _ in range(3)]
