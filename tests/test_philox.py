import numpy as np
import pytest
from scipy import stats

from nwb_biornn.model import philox

RANDOM123_KNOWN_ANSWERS = [  # Random123's kat_vectors for Philox4x32-10: counter, key, output
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]
NUMPY_NORMAL_KI_FLOAT = [0x007799EC, 0x00000000, 0x006045F5, 0x006D1AA8, 0x00728FB4, 0x007592AF, 0x00777A5C]
"""The first entries of ``ki_float`` in numpy's ``ziggurat_constants.h``."""


@pytest.fixture(scope="module")
def draws():
    """2 million standard normals and log-uniforms: 40 steps x 100 trials x 500 neurons of one run."""
    noise, log_uniforms = np.empty((40, 100, 500)), np.empty((40, 100, 500))
    philox.fill_(noise, log_uniforms, seed=2024, run=1, first_step=0, first_trial=0)
    return noise.ravel(), log_uniforms.ravel()


@pytest.mark.parametrize("counter, key, expected", RANDOM123_KNOWN_ANSWERS)
def test_philox4x32_10_gives_random123s_known_answers(counter, key, expected):
    assert tuple(int(word) for word in philox.philox4x32_10(*counter, *key)) == expected


@pytest.mark.parametrize("tables, edge, area", [(philox.NORMAL, philox.NORMAL_EDGE, philox.NORMAL_AREA),
                                                (philox.EXPONENTIAL, philox.EXPONENTIAL_EDGE, philox.EXPONENTIAL_AREA)])
def test_ziggurat_layers_have_equal_areas(tables, edge, area):
    k, w, f = tables
    x = w / w[-1] * edge  # the layers' right edges; the base layer's box is x[0] wide
    assert np.allclose(x[1:] * (f[:-1] - f[1:]), area, rtol=1e-6) and x[0] * f[-1] == pytest.approx(area)
    assert (np.diff(x[1:]) > 0).all() and (np.diff(f) < 0).all() and k[1] == 0


def test_normal_ziggurat_tables_are_numpys():
    assert philox.NORMAL[0][:len(NUMPY_NORMAL_KI_FLOAT)].tolist() == NUMPY_NORMAL_KI_FLOAT


def test_noise_is_standard_normal_tails_included(draws):
    noise, _ = draws
    assert stats.kstest(noise, "norm").pvalue > 1e-3
    assert abs(noise.mean()) < 4 / np.sqrt(noise.size) and abs(noise.var() - 1) < 4 * np.sqrt(2 / noise.size)
    beyond = np.abs(noise) > philox.NORMAL_EDGE  # drawn by Marsaglia's tail method
    expected = 2 * stats.norm.sf(philox.NORMAL_EDGE) * noise.size
    assert abs(beyond.sum() - expected) < 4 * np.sqrt(expected) and noise.max() > philox.NORMAL_EDGE + 0.5
    assert (noise > 0).mean() == pytest.approx(0.5, abs=2e-3)


def test_log_uniforms_are_minus_standard_exponentials_tails_included(draws):
    _, log_uniforms = draws
    exponentials = -log_uniforms
    assert (exponentials >= 0).all() and stats.kstest(exponentials, "expon").pvalue > 1e-3
    beyond = exponentials > philox.EXPONENTIAL_EDGE
    expected = np.exp(-philox.EXPONENTIAL_EDGE) * exponentials.size
    assert abs(beyond.sum() - expected) < 4 * np.sqrt(expected)
    uniforms = np.exp(log_uniforms)
    assert stats.kstest(uniforms, "uniform").pvalue > 1e-3


def test_neighbouring_draws_are_uncorrelated(draws):
    noise, log_uniforms = draws
    rows = noise.reshape(-1, 500)
    bound = 4 / np.sqrt(noise.size)
    for a, b in ((noise[:-1], noise[1:]), (rows[:-1], rows[1:]), (noise, log_uniforms), (noise[:-1], log_uniforms[1:])):
        assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < bound


@pytest.mark.parametrize("n_neurons", [6, 7])
def test_a_rows_draws_depend_only_on_seed_run_step_and_trial(n_neurons):
    whole = np.empty((5, 4, n_neurons)), np.empty((5, 4, n_neurons))
    philox.fill_(*whole, seed=-3, run=2, first_step=10, first_trial=20)
    part = np.empty((2, 4, n_neurons)), np.empty((2, 4, n_neurons))  # a strided window: steps 12-13, trials 21-22
    philox.fill_(part[0][:, 1:3], part[1][:, 1:3], seed=-3, run=2, first_step=12, first_trial=21)
    assert np.array_equal(part[0][:, 1:3], whole[0][2:4, 1:3]) and np.array_equal(part[1][:, 1:3], whole[1][2:4, 1:3])
    single = np.empty((5, 4, n_neurons), np.float32), np.empty((5, 4, n_neurons), np.float32)
    philox.fill_(*single, seed=2 ** 64 - 3, run=2, first_step=10, first_trial=20)  # the same seed modulo 2**64
    assert np.array_equal(single[0], whole[0].astype(np.float32))
    other = np.empty((5, 4, n_neurons)), np.empty((0, 0, 0))
    philox.fill_(*other, seed=-3, run=3, first_step=10, first_trial=20)
    assert not np.isin(other[0], whole[0]).any()


def test_the_normal_and_the_log_uniform_of_a_neuron_come_from_its_philox_block():
    noise, log_uniforms = np.empty((1, 1, 2)), np.empty((1, 1, 2))
    philox.fill_(noise, log_uniforms, seed=5, run=1, first_step=3, first_trial=4)
    words = [int(word) for word in philox.philox4x32_10(0, 3, 4, 1, 5, 0)]  # block 0 of step 3, trial 4, run 1
    (k, w, _), (k_e, w_e, _) = philox.NORMAL, philox.EXPONENTIAL
    for j in range(2):  # this seed's four draws are all accepted at once
        layer, negative, mantissa = words[j] & 0xFF, (words[j] >> 8) & 1, words[j] >> 9
        assert mantissa < k[layer] and noise[0, 0, j] == (-1) ** negative * mantissa * w[layer]
        layer, mantissa = words[2 + j] & 0xFF, words[2 + j] >> 8
        assert mantissa < k_e[layer] and log_uniforms[0, 0, j] == -(mantissa * w_e[layer])
