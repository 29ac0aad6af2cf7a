"""Exact random variates in compiled code, all drawn from SplitMix64 streams.

Counter-based uniforms, normals, gammas and Poisson counts.

A stream's state is a one-element uint64 array (`bits` advances it); a counter-based
uniform is SplitMix64's output function applied to key + n·GOLDEN, the n-th output of the
stream seeded with key, computed without a state.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = [
    "GOLDEN",
    "gamma_constants",
    "gamma_variate",
    "mix",
    "next_uniform",
    "normal",
    "poisson",
    "unit",
]

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 2.0**-53


def _ziggurat_tables(n_layers: int = 128, right: float = 3.442619855899,
                     area: float = 9.91256303526217e-3) -> tuple[np.ndarray, np.ndarray]:
    """Layer edges x and acceptance ratios x[i+1]/x[i] of the normal ziggurat.

    Marsaglia & Tsang (2000), in Doornik's 2005 formulation.
    """
    x = np.zeros(n_layers + 1)
    f = math.exp(-0.5 * right * right)
    x[0], x[1] = area / f, right
    for i in range(2, n_layers):
        x[i] = math.sqrt(-2.0 * math.log(area / x[i - 1] + f))
        f = math.exp(-0.5 * x[i] * x[i])
    return x, x[1:] / x[:-1]


_ZIG_X, _ZIG_RATIO = _ziggurat_tables()
_ZIG_RIGHT = _ZIG_X[1]


@numba.njit(inline="always")
def mix(z: np.uint64) -> np.uint64:
    """SplitMix64's output function."""
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@numba.njit(inline="always")
def unit(z: np.uint64) -> float:
    """53 random bits as a double in the open interval (0, 1)."""
    return (float(z >> np.uint64(11)) + 0.5) * _TO_UNIT


@numba.njit(inline="always")
def bits(stream: np.ndarray) -> np.uint64:
    """The next 64 bits of a sequential SplitMix64 stream (state in stream[0])."""
    stream[0] += GOLDEN
    return mix(stream[0])


@numba.njit(inline="always")
def next_uniform(stream: np.ndarray) -> float:
    """The next uniform in (0, 1) of a sequential stream."""
    return unit(bits(stream))


@numba.njit
def normal(stream: np.ndarray) -> float:
    """A standard normal by the ziggurat: one 64-bit draw in about 99% of calls.

    The layer comes from the draw's low 7 bits, the position from its top 53.
    """
    while True:
        z = bits(stream)
        i = int(z & np.uint64(127))
        u = 2.0 * unit(z) - 1.0
        if abs(u) < _ZIG_RATIO[i]:
            return u * _ZIG_X[i]
        if i == 0:  # the tail beyond the last layer
            while True:
                x = math.log(next_uniform(stream)) / _ZIG_RIGHT
                if -2.0 * math.log(next_uniform(stream)) >= x * x:
                    return x - _ZIG_RIGHT if u < 0.0 else _ZIG_RIGHT - x
        x = u * _ZIG_X[i]
        f0 = math.exp(-0.5 * (_ZIG_X[i] * _ZIG_X[i] - x * x))
        f1 = math.exp(-0.5 * (_ZIG_X[i + 1] * _ZIG_X[i + 1] - x * x))
        if f1 + next_uniform(stream) * (f0 - f1) < 1.0:
            return x


def gamma_constants(shape: np.ndarray) -> np.ndarray:
    """Per shape, what `gamma_variate` needs: (d, c, 1/shape if shape < 1 else 0).

    d = s - 1/3 and c = 1/sqrt(9 d) for s = shape (or shape + 1 below 1).
    """
    boosted = np.where(shape < 1.0, shape + 1.0, shape)
    d = boosted - 1.0 / 3.0
    return np.stack([d, 1.0 / np.sqrt(9.0 * d), np.where(shape < 1.0, 1.0 / shape, 0.0)],
                    axis=1)


@numba.njit
def gamma_variate(d: float, c: float, inverse: float, stream: np.ndarray) -> float:
    """Gamma(shape, 1) by Marsaglia & Tsang (2000), from `gamma_constants` of the shape.

    A shape below 1 through Gamma(shape + 1) · U^(1/shape).
    """
    boost = next_uniform(stream) ** inverse if inverse > 0.0 else 1.0
    while True:
        x = normal(stream)
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        u = next_uniform(stream)
        if u < 1.0 - 0.0331 * x * x * x * x:
            return d * v * boost
        if math.log(u) < 0.5 * x * x + d * (1.0 - v + math.log(v)):
            return d * v * boost


@numba.njit
def poisson(lam: float, stream: np.ndarray) -> int:
    """Poisson(lam): inversion below 10, Hörmann's PTRS (1993) above (as numpy does)."""
    if lam <= 0.0:
        return 0
    if lam < 10.0:
        p = math.exp(-lam)
        cdf, u, x = p, next_uniform(stream), 0
        while u > cdf and x < 1000:
            x += 1
            p *= lam / x
            cdf += p
        return x
    slam, loglam = math.sqrt(lam), math.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2.0)
    while True:
        u = next_uniform(stream) - 0.5
        v = next_uniform(stream)
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= vr:
            return int(k)
        if k < 0 or (us < 0.013 and v > us):
            continue
        if (math.log(v) + math.log(invalpha) - math.log(a / (us * us) + b)
                <= -lam + k * loglam - math.lgamma(k + 1.0)):
            return int(k)
