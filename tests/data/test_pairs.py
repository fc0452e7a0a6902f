"""PatientViewSampler: >=2 views per patient, no cross-patient positives, seeded per epoch, DDP shards."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from ecgimg.data.pairs import PatientViewSampler, patient_codes


def _cohort(counts):
    """patient ids like syn00003 with the given number of ECGs each, shuffled row order."""
    pids = np.concatenate([[f"syn{p:05d}"] * c for p, c in enumerate(counts)])
    return pids[np.random.default_rng(0).permutation(len(pids))]


@settings(max_examples=30, deadline=None)
@given(counts=st.lists(st.integers(1, 6), min_size=2, max_size=40),
       ppb=st.integers(1, 6), views=st.integers(2, 4), seed=st.integers(0, 10),
       policy=st.sampled_from(["skip", "repeat"]))
def test_batches_hold_whole_patients_with_enough_views(counts, ppb, views, seed, policy):
    pids = _cohort(counts)
    codes = patient_codes(pids)
    try:
        sampler = PatientViewSampler(pids, patients_per_batch=ppb, views_per_patient=views, seed=seed,
                                     single_ecg_policy=policy)
    except ValueError:  # no eligible patient at all
        assert policy == "skip" and max(counts) < 2
        return
    batches = list(sampler)
    assert len(batches) == len(sampler)
    for batch in batches:
        positions = [k[0] for k in batch]
        patients = codes[positions]
        assert len(batch) == ppb * views
        # views of one patient are contiguous and exactly `views` of them; no patient twice
        blocks = [patients[i:i + views] for i in range(0, len(batch), views)]
        assert all(len(set(b)) == 1 for b in blocks)
        assert len({b[0] for b in blocks}) == ppb
        for i in range(0, len(batch), views):
            block = batch[i:i + views]
            n_ecgs = int((codes == patients[i]).sum())
            # distinct ECGs whenever the patient has enough; the (ecg, view) pair is always unique
            assert len({k[0] for k in block}) == min(views, n_ecgs)
            assert len({(k[0], k[1]) for k in block}) == views
        if policy == "skip":
            assert all((codes == p).sum() >= 2 for p in patients)


def test_deterministic_per_epoch_and_seed():
    pids = _cohort([3] * 20)
    a = PatientViewSampler(pids, patients_per_batch=4, seed=1)
    b = PatientViewSampler(pids, patients_per_batch=4, seed=1)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    second = list(a)
    assert first != second and all(k[2] == 1 for batch in second for k in batch)
    assert list(PatientViewSampler(pids, patients_per_batch=4, seed=2)) != first


def test_views_prefer_ecgs_far_apart_in_time():
    # one patient, 5 ECGs: days 0, 1, 2, 3, 400 -> two views always include day 400
    pids = ["p"] * 5 + ["q"] * 2
    dates = pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04", "2021-02-04",
                            "2020-01-01", "2020-06-01"])
    sampler = PatientViewSampler(pids, recorded_at=dates, patients_per_batch=2, views_per_patient=2)
    for epoch in range(5):
        sampler.set_epoch(epoch)
        batch = next(iter(sampler))
        p_views = {k[0] for k in batch if k[0] < 5}
        assert 4 in p_views


def test_ddp_ranks_take_disjoint_patients_and_equal_batch_counts():
    pids = _cohort([2] * 37)
    codes = patient_codes(pids)
    shards = [PatientViewSampler(pids, patients_per_batch=3, seed=5, rank=r, world_size=2) for r in range(2)]
    seen = [{int(codes[k[0]]) for batch in s for k in batch} for s in shards]
    assert len(list(shards[0])) == len(list(shards[1])) == len(shards[0]) == 37 // 6
    assert not seen[0] & seen[1]


def test_simclr_mode_one_identity_per_ecg():
    n = 10
    sampler = PatientViewSampler(np.arange(n), patients_per_batch=5, single_ecg_policy="repeat", seed=0)
    for batch in sampler:
        for i in range(0, len(batch), 2):
            assert batch[i][0] == batch[i + 1][0] and batch[i][1] != batch[i + 1][1]


def test_bad_arguments():
    with pytest.raises(ValueError, match="views_per_patient"):
        PatientViewSampler(["a", "a"], views_per_patient=1)
    with pytest.raises(ValueError, match="single_ecg_policy"):
        PatientViewSampler(["a", "a"], single_ecg_policy="drop")
    with pytest.raises(ValueError, match="no patient"):
        PatientViewSampler(["a", "b", "c"])
