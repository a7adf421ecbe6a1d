"""Counter-based random numbers: Philox4x32-10 bits turned into standard normals and exponentials (numba, CPU).

Philox4x32-10 (Salmon, Moraes, Dror & Shaw 2011, "Parallel random numbers: as easy as 1, 2, 3"; as in cuRAND and
TensorFlow) maps a counter of four 32-bit words and a key of two to four random 32-bit words: any draw is a pure
function of where it is, so threads need no shared state and draw the same numbers however the work is split between
them. :func:`fill_` keys each row of a run's draws by (step, trial, run) and its seed, and turns the words into
standard normals and standard exponentials (written negated: log-uniforms) with Marsaglia & Tsang's (2000) ziggurat,
with 256 layers and the index, sign and mantissa from separate bits of one word, as numpy's single-precision
``standard_normal`` and ``standard_exponential`` do. Nearly every draw takes one word, a table look-up and a
multiplication; about 1.5 % of normals and 2.2 % of exponentials fall outside the inner boxes and are decided with
further words, drawn from counters past the row's first ones.

Examples
--------
>>> [hex(word) for word in philox4x32_10(0, 0, 0, 0, 0, 0)]  # Random123's known answer
['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
>>> noise, log_uniforms = np.empty((2, 3, 4)), np.empty((2, 3, 4))
>>> fill_(noise, log_uniforms, seed=7, run=1, first_step=0, first_trial=0)
>>> later = np.empty((1, 1, 4)), np.empty((1, 1, 4))
>>> fill_(*later, seed=7, run=1, first_step=1, first_trial=2)
>>> bool((later[0][0, 0] == noise[1, 2]).all() and (log_uniforms < 0).all())
True
"""
from __future__ import annotations

import math

import numba
import numpy as np

_MULTIPLIERS = (np.uint64(0xD2511F53), np.uint64(0xCD9E8D57))
_KEY_STEPS = (np.uint64(0x9E3779B9), np.uint64(0xBB67AE85))
_LOW = np.uint64(0xFFFFFFFF)
_32 = np.uint64(32)

LAYERS = 256
"""Layers of each ziggurat."""
NORMAL_EDGE = 3.6541528853610088
"""Where the normal ziggurat's base layer meets its tail (256 layers)."""
NORMAL_AREA = 0.00492867323399
"""The area of each layer of the normal ziggurat, under ``exp(-x^2 / 2)``."""
EXPONENTIAL_EDGE = 7.697117470131487
"""Where the exponential ziggurat's base layer meets its tail (256 layers)."""
EXPONENTIAL_AREA = 0.0039496598225815571993
"""The area of each layer of the exponential ziggurat, under ``exp(-x)``."""
_NORMAL_BITS, _EXPONENTIAL_BITS = 23, 24


@numba.njit(inline="always")
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """The four 32-bit words (as uint64) of Philox4x32-10 at counter ``(c0, c1, c2, c3)`` and key ``(k0, k1)``."""
    c0, c1, c2, c3 = np.uint64(c0), np.uint64(c1), np.uint64(c2), np.uint64(c3)
    k0, k1 = np.uint64(k0), np.uint64(k1)
    for _ in range(10):
        p0, p1 = _MULTIPLIERS[0] * c0, _MULTIPLIERS[1] * c2
        c0, c1, c2, c3 = (p1 >> _32) ^ c1 ^ k0, p1 & _LOW, (p0 >> _32) ^ c3 ^ k1, p0 & _LOW
        k0, k1 = (k0 + _KEY_STEPS[0]) & _LOW, (k1 + _KEY_STEPS[1]) & _LOW
    return c0, c1, c2, c3


def ziggurat(density, inverse, edge: float, area: float, bits: int) -> tuple:
    """The tables ``(k, w, f)`` of a ziggurat of :data:`LAYERS` layers of ``area`` each under the decreasing
    ``density`` (``inverse`` its inverse), whose base layer ends at ``edge``, for ``bits``-bit mantissas.

    Layer ``i > 0`` spans ``[0, x_i]`` (``x`` rising with ``i`` to ``x_255 = edge``) between heights
    ``f_i = density(x_i)`` and ``f_{i-1}`` (``f_0 = 1``); ``w_i = x_i / 2^bits`` turns a mantissa into a point of
    the layer, accepted at once below ``k_i = 2^bits x_{i-1} / x_i`` (rounded, as numpy's tables). The base layer
    is the box ``[0, q]`` under ``f_255`` with ``q f_255 = area``, accepted at once below the edge
    (``k_0 = 2^bits edge / q``).

    >>> k, w, f = ziggurat(lambda x: np.exp(-x), lambda y: -np.log(y), EXPONENTIAL_EDGE, EXPONENTIAL_AREA, 24)
    >>> bool(np.allclose(w[1:] * 2 ** 24 * (f[:-1] - f[1:]), EXPONENTIAL_AREA))  # equal areas
    True
    """
    scale = 2.0 ** bits
    x = np.zeros(LAYERS)
    x[-1] = edge
    for i in range(LAYERS - 2, 0, -1):
        x[i] = inverse(area / x[i + 1] + density(x[i + 1]))
    f = density(x)
    f[0] = 1.0
    base = area / density(edge)
    w = x / scale
    w[0] = base / scale
    k = np.zeros(LAYERS, dtype=np.uint64)
    k[0] = round(edge / base * scale)
    k[2:] = np.rint(x[1:-1] / x[2:] * scale).astype(np.uint64)
    return k, w, f


NORMAL = ziggurat(lambda x: np.exp(-0.5 * np.square(x)), lambda y: math.sqrt(-2 * math.log(y)), NORMAL_EDGE,
                  NORMAL_AREA, _NORMAL_BITS)
"""The normal ziggurat's tables (of ``exp(-x^2 / 2)``; :func:`ziggurat`)."""
EXPONENTIAL = ziggurat(lambda x: np.exp(-np.asarray(x)), lambda y: -math.log(y), EXPONENTIAL_EDGE, EXPONENTIAL_AREA,
                       _EXPONENTIAL_BITS)
"""The exponential ziggurat's tables (of ``exp(-x)``; :func:`ziggurat`)."""


@numba.njit(inline="always")
def _uniform(word):
    """A uniform draw in [0, 1) from the top 24 bits of a 32-bit ``word``."""
    return (word >> np.uint64(8)) * (1.0 / 16777216.0)


@numba.njit(inline="always")
def _normal_box(word, k, w):
    """The normal ziggurat's first try with ``word``: the draw, and whether it is accepted at once."""
    layer, negative, mantissa = word & np.uint64(0xFF), (word >> np.uint64(8)) & np.uint64(1), word >> np.uint64(9)
    x = mantissa * w[layer]
    return -x if negative else x, mantissa < k[layer]


@numba.njit(inline="always")
def _exponential_box(word, k, w):
    """The exponential ziggurat's first try with ``word``, as :func:`_normal_box`."""
    layer, mantissa = word & np.uint64(0xFF), word >> np.uint64(8)
    x = mantissa * w[layer]
    return x, mantissa < k[layer]


@numba.njit
def _beyond_box(word, normal, extra, step, trial, run, k0, k1, k, w, f):
    """A standard normal (if ``normal``, else a standard exponential) from ``word``, which the ziggurat's box did
    not accept at once (:func:`_normal_box`, :func:`_exponential_box`): decided, or tried again, with the words of
    blocks ``extra, extra + 1, ...`` of the row. Returns the draw and the next unused block."""
    while True:
        x, inside = _normal_box(word, k, w) if normal else _exponential_box(word, k, w)
        if inside:
            return x, extra
        layer = word & np.uint64(0xFF)
        u0, u1, _, _ = philox4x32_10(extra, step, trial, run, k0, k1)
        extra += np.uint64(1)
        if layer == 0 and not normal:  # beyond the edge the exponential starts afresh
            return EXPONENTIAL_EDGE - math.log1p(-_uniform(u0)), extra
        while layer == 0:  # beyond the normal's edge: Marsaglia's (1964) tail method
            tail = -math.log1p(-_uniform(u0)) / NORMAL_EDGE
            if -2 * math.log1p(-_uniform(u1)) > tail * tail:
                return math.copysign(NORMAL_EDGE + tail, x), extra
            u0, u1, _, _ = philox4x32_10(extra, step, trial, run, k0, k1)
            extra += np.uint64(1)
        density = math.exp(-0.5 * x * x) if normal else math.exp(-x)
        if f[layer] + _uniform(u0) * (f[layer - 1] - f[layer]) < density:
            return x, extra
        word = u1


@numba.njit(nogil=True, cache=True)
def _fill(noise, log_uniforms, k0, k1, run, first_step, first_trial, kn, wn, fn, ke, we, fe):
    n_steps, n_trials, n_neurons = noise.shape
    blocks = (n_neurons + 1) // 2
    words = np.empty((blocks, 4), dtype=np.uint64)
    for s in range(n_steps):
        step = np.uint64(first_step + s)
        for t in range(n_trials):
            trial = np.uint64(first_trial + t)
            for b in range(blocks):
                words[b, 0], words[b, 1], words[b, 2], words[b, 3] = philox4x32_10(b, step, trial, run, k0, k1)
            extra = np.uint64(blocks)
            for j in range(n_neurons):
                word = words[j >> 1, j & 1]
                x, inside = _normal_box(word, kn, wn)
                if not inside:
                    x, extra = _beyond_box(word, True, extra, step, trial, run, k0, k1, kn, wn, fn)
                noise[s, t, j] = x
            if log_uniforms.shape[0]:
                for j in range(n_neurons):
                    word = words[j >> 1, 2 + (j & 1)]
                    x, inside = _exponential_box(word, ke, we)
                    if not inside:
                        x, extra = _beyond_box(word, False, extra, step, trial, run, k0, k1, ke, we, fe)
                    log_uniforms[s, t, j] = -x


def fill_(noise: np.ndarray, log_uniforms: np.ndarray, seed: int, run: int, first_step: int,
          first_trial: int) -> None:
    """Fill ``noise`` (S, K, N) with standard normals and ``log_uniforms`` (S, K, N, or with no rows: none) with
    minus standard exponentials (distributed as the log of a uniform draw in (0, 1)): those of steps
    ``first_step, ...`` and trials ``first_trial, ...`` of run ``run`` of a simulation seeded by ``seed`` (any
    integer, taken modulo 2**64). Releases the GIL.

    The draws of step ``s`` and trial ``t`` come from the Philox blocks at counters ``(b, s, t, run)`` keyed by
    the seed: block ``b < ceil(N / 2)`` gives the normals of neurons ``2b`` and ``2b + 1`` (its first two words)
    and their log-uniforms (its last two); rejections take the blocks after those.
    """
    seed %= 2 ** 64
    _fill(noise, log_uniforms, np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32), np.uint64(run),
          first_step, first_trial, *NORMAL, *EXPONENTIAL)
