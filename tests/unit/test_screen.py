"""Real screens: streamed summaries against a direct computation on the cells, clean
errors, and a model's predictions scored between the screen's baselines."""

import subprocess
import sys
from pathlib import Path

import anndata
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from simulator import streams
from simulator.errors import ValidationError
from simulator.evaluation.systematic import systematic_variation
from simulator.model import SimulationParams, log_normalise, simulate_counts
from simulator.screen import read_predictions, summarise_screen

ROOT = Path(__file__).resolve().parents[2]
PARAMS = SimulationParams(n_genes=120, n_perturbations=8, n_cells_per_perturbation=13,
                          n_control_cells=40, control_bias=2.0, deg_fraction=0.1)


@pytest.fixture(scope="module")
def screen(tmp_path_factory):
    """A screen of simulated truth and control cells (the simulator's replicate cells kept
    apart as a model's predicted cells), shuffled so groups interleave; three layouts."""
    cells = simulate_counts(PARAMS, seed=2)
    group = cells.obs["group"].astype(str).to_numpy()
    order = np.random.default_rng(0).permutation(np.flatnonzero(group != "replicate"))
    counts = cells.counts[order].astype(np.float32)
    labels = cells.obs["perturbation"].astype(str).to_numpy()[order]
    obs = pd.DataFrame({"guide": labels}, index=np.arange(len(order)).astype(str))
    var = pd.DataFrame(index=cells.genes.astype(str))
    out = tmp_path_factory.mktemp("screen")
    anndata.AnnData(sparse.csr_matrix(counts), obs=obs, var=var).write_h5ad(out / "sparse.h5ad")
    anndata.AnnData(counts, obs=obs, var=var).write_h5ad(out / "dense.h5ad")
    anndata.AnnData(np.log1p(counts), obs=obs, var=var,
                    layers={"counts": sparse.csr_matrix(counts)}).write_h5ad(out / "layer.h5ad")
    replicate = group == "replicate"
    anndata.AnnData(sparse.csr_matrix(cells.counts[replicate].astype(np.float32)),
                    obs=pd.DataFrame({"guide": cells.obs["perturbation"].astype(str)
                                      .to_numpy()[replicate]},
                                     index=np.arange(replicate.sum()).astype(str)),
                    var=var).write_h5ad(out / "cells_model.h5ad")
    return out, counts, labels, cells.counts[replicate], \
        cells.obs["perturbation"].astype(str).to_numpy()[replicate]


def expected_groups(counts, labels, seed=0):
    """Means and population variances of the control, each truth half and each replicate
    half, computed on the cells, with the documented split: perturbation k's cells (file
    order) permuted by `split_stream(seed, k)`, the first ceil(n/2) its truth."""
    values = log_normalise(counts.astype(np.float64))
    names = sorted(set(labels) - {"control"})
    groups = [np.flatnonzero(labels == "control")]
    halves = []
    for k, name in enumerate(names):
        cells = streams.split_stream(seed, k).permutation(np.flatnonzero(labels == name))
        halves.append((cells[:(len(cells) + 1) // 2], cells[(len(cells) + 1) // 2:]))
    groups += [h[0] for h in halves] + [h[1] for h in halves]
    return (np.stack([values[g].mean(axis=0) for g in groups]),
            np.stack([values[g].var(axis=0) for g in groups]), names)


@pytest.mark.parametrize("layout, options", [("sparse.h5ad", {}), ("dense.h5ad", {}),
                                             ("layer.h5ad", {"layer": "counts"})])
def test_streamed_summaries_equal_the_cells(screen, layout, options):
    out, counts, labels, _, _ = screen
    means, variances, names = expected_groups(counts, labels)
    data = summarise_screen(out / layout, "guide", "control", chunk_cells=17, **options).dataset
    k = len(names)
    assert list(data.perturbations) == names
    np.testing.assert_allclose(data.control_mean, means[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(data.perturbation_means, means[1:1 + k], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(data.replicate_means, means[1 + k:], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(data.perturbation_vars, variances[1:1 + k], atol=1e-10)
    np.testing.assert_allclose(data.control_var, variances[0], atol=1e-10)
    assert (data.affected == data.deg_mask).all() and data.deg_mask.any()


def test_a_screen_refuses_what_it_cannot_read_in_one_line(screen, tmp_path):
    out, counts, labels, _, _ = screen
    with pytest.raises(ValidationError, match=r"label_key must be a column of obs .*"
                                              r"available: guide"):
        summarise_screen(out / "sparse.h5ad", "sgRNA", "control")
    with pytest.raises(ValidationError, match=r"control_label must be a value of obs\['guide'\] "
                                              r"\(got 'NTC'; most frequent: control \(40\)"):
        summarise_screen(out / "sparse.h5ad", "guide", "NTC")
    with pytest.raises(ValidationError, match=r"raw counts.*layer=counts"):
        summarise_screen(out / "layer.h5ad", "guide", "control")  # X holds log values
    few = labels.copy()
    few[(labels != "control") & (labels != "P0000")] = "P0000"
    one = tmp_path / "one.h5ad"
    anndata.AnnData(sparse.csr_matrix(counts), obs=pd.DataFrame(
        {"guide": few}, index=np.arange(len(few)).astype(str))).write_h5ad(one)
    with pytest.raises(ValidationError, match=r"at least 2 perturbations of >= 4 cells"):
        summarise_screen(one, "guide", "control")


def test_predicted_cells_are_pseudobulked_on_the_truth_scale(screen):
    out, _, _, model_counts, model_labels = screen
    genes = np.array([f"{g}" for g in anndata.read_h5ad(out / "sparse.h5ad").var_names])
    name, profiles = read_predictions(f"mine:{out / 'cells_model.h5ad'}", genes, "guide")
    values = log_normalise(model_counts.astype(np.float64))
    expected = pd.DataFrame(values).groupby(model_labels).mean()
    assert name == "mine"
    np.testing.assert_allclose(profiles.loc[expected.index].to_numpy(), expected.to_numpy(),
                               rtol=1e-12)
    with pytest.raises(ValidationError, match=r"lacks 1 of the screen's 121 genes"):
        read_predictions(str(out / "cells_model.h5ad"), np.append(genes, "extra"), "guide")


def median_mse_drf(data, prediction):
    """The mse placement drf computed directly: per perturbation, (mean baseline's MSE -
    the model's) / (mean baseline's MSE - 0), clipped to [-1, 1], then the median."""
    truth = data.perturbation_means
    mean_mse = ((data.pooled_mean - truth) ** 2).mean(axis=1)
    model_mse = ((prediction - truth) ** 2).mean(axis=1)
    return float(np.median(np.clip((mean_mse - model_mse) / mean_mse, -1, 1)))


@pytest.mark.slow
def test_score_places_noisier_models_lower_between_the_baselines(screen, tmp_path):
    out, *_ = screen
    data = summarise_screen(out / "sparse.h5ad", "guide", "control").dataset
    rng = np.random.default_rng(1)
    files, expected = [], {}
    for noise in (0.02, 0.1, 0.4):
        prediction = data.perturbation_means + rng.normal(0, noise, data.perturbation_means.shape)
        path = tmp_path / f"noise_{noise}.csv"
        pd.DataFrame(prediction, index=pd.Index(data.perturbations, name="guide"),
                     columns=data.genes).to_csv(path)
        files.append(f"n{noise}:{path}")
        expected[f"n{noise}"] = median_mse_drf(data, prediction)
    done = subprocess.run([sys.executable, "-m", "experiments.score",
                           f"truth={out / 'sparse.h5ad'}", f"predictions=[{','.join(files)}]",
                           "label_key=guide", "n_splits=1", f"out_dir={tmp_path / 'out'}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    card = pd.read_csv(tmp_path / "out" / "scores.csv")
    for column, value in systematic_variation(data).items():  # the same split (seed 0)
        assert card[column].to_numpy() == pytest.approx(value, rel=1e-12)
    assert "systematic variation: cosine of the shifts to their average" in done.stdout
    mse = card[card["metric"] == "mse"].set_index("predictor")
    for name, drf in expected.items():
        assert mse.loc[name, "drf"] == pytest.approx(drf, abs=1e-9)
    drfs = [mse.loc[name, "drf"] for name in expected]
    assert drfs[0] > drfs[1] > drfs[2]  # more noise, lower on the scale
    # nearly the truth itself: above the technical duplicate, which carries its cells' noise
    # (and which MSE ranks below the mean baseline here: β = 2, 13 cells per perturbation)
    assert drfs[0] > 0.9 > mse.loc["replicate", "drf"]
    assert (tmp_path / "out" / "placement.png").is_file()
    assert any(line.startswith("mse ") for line in done.stdout.splitlines())


@pytest.mark.slow
def test_score_errors_are_one_line(screen, tmp_path):
    out, *_ = screen
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"guide": ["P0000"], "not_a_gene": [1.0]}).to_csv(bad, index=False)
    cases = [([], "error: truth must be the screen's h5ad file"),
             ([f"truth={out / 'sparse.h5ad'}"], "error: predictions must be one model file"),
             ([f"truth={out / 'sparse.h5ad'}", f"predictions=[{bad}]"],
              "error: predictions[bad] lacks 120 of the screen's 120 genes")]
    for overrides, expected in cases:
        done = subprocess.run([sys.executable, "-m", "experiments.score", "label_key=guide",
                               f"out_dir={tmp_path / 'out'}", *overrides], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and done.stderr.startswith(expected), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_screen_beyond_the_available_memory_is_refused_before_it_is_read(screen, tmp_path,
                                                                           monkeypatch):
    from hydra import compose, initialize_config_dir

    import simulator.resources
    from experiments.score import run_score

    out, *_ = screen
    data = summarise_screen(out / "sparse.h5ad", "guide", "control").dataset
    model = tmp_path / "model.csv"
    pd.DataFrame(data.perturbation_means, index=pd.Index(data.perturbations, name="guide"),
                 columns=data.genes).to_csv(model)
    with initialize_config_dir(config_dir=str(ROOT / "conf"),
                               version_base=None):
        cfg = compose("score", [f"truth={out / 'sparse.h5ad'}", f"predictions=[{model}]",
                                "label_key=guide", f"out_dir={tmp_path / 'out'}"])
    monkeypatch.setattr(simulator.resources, "available_memory", lambda: 1e6)
    with pytest.raises(ValidationError, match=r"^this screen \(8 perturbations x 120 genes\) "
                                              r"needs about .* but 1 MB is available"):
        run_score(cfg)
    assert not (tmp_path / "out").exists()
    cfg.force = True
    assert set(run_score(cfg)["predictor"]) >= {"model", "mean", "replicate"}


@pytest.mark.slow
def test_score_averages_the_drf_over_random_splits_and_scores_a_copy_of_the_truth(screen,
                                                                                 tmp_path):
    from hydra import compose, initialize_config_dir

    from experiments.score import run_score

    out, *_ = screen
    first = summarise_screen(out / "sparse.h5ad", "guide", "control").dataset
    model = first.pooled_mean + 0.5 * (first.perturbation_means - first.pooled_mean)
    path = tmp_path / "model.csv"
    pd.DataFrame(model, index=pd.Index(first.perturbations, name="guide"),
                 columns=first.genes).to_csv(path)
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        cfg = compose("score", [f"truth={out / 'sparse.h5ad'}", f"predictions=[{path}]",
                                "label_key=guide", "n_splits=3", "metrics.names=[mse]",
                                f"out_dir={tmp_path / 'out'}"])
    card = run_score(cfg).set_index("predictor")
    # Each split's drf computed here from its own summaries (split r: streams key (8, k, r)).
    drfs = [median_mse_drf(summarise_screen(out / "sparse.h5ad", "guide", "control",
                                            repeat=r).dataset, model) for r in range(3)]
    assert len(set(drfs)) == 3  # the splits differ
    assert card.loc["model", "drf"] == pytest.approx(np.mean(drfs), abs=1e-9)
    assert card.loc["model", "drf_sd"] == pytest.approx(np.std(drfs, ddof=1), abs=1e-9)
    # an exact copy of each split's truth scores the metric's perfect value
    assert card.loc["truth_copy", "value"] == 0.0 and card.loc["truth_copy", "drf"] == 1.0
    assert list(pd.read_csv(tmp_path / "out" / "scores.csv").columns) == [
        "shift_cosine_mean", "shift_cosine_sd", "metric", "predictor", "value", "mean",
        "n_valid", "drf", "drf_sd", "verdict"]
