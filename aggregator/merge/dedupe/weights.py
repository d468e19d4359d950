"""Fellegi–Sunter weights of the comparisons (see compare.py). Generated: do not edit by hand.

Re-estimate with `python -m benchmarks.dedupe_weights` (labelled farm data, tuning seeds only:
101, 102, 103). M[field][level]: share of true duplicate pairs on that level; U: share of
candidate pairs that are different events. WEIGHTS = log2(M/U). PRIOR: share of candidate pairs
that are duplicates. THRESHOLD: the match weight (bits) a pair needs.
"""

import math

M = {
    'title': {'same': 0.963475, 'very_similar': 0.034322, 'similar': 0.001803, 'some': 0.00028, 'different': 0.00012},
    'start': {'exact': 0.889223, 'date_only': 0.00012, 'hours_same_place': 0.098798, 'hours': 0.011859},
    'venue': {'same': 0.912126, 'similar': 0.000601, 'weak': 0.0002, 'different': 8e-05, 'unknown': 0.086993},
    'address': {'same': 0.912527, 'different': 8e-05, 'unknown': 0.087393},
    'link': {'shared': 0.038729, 'different': 0.961071, 'unknown': 0.0002},
    'online': {'both': 8e-05, 'mixed': 2e-05, 'neither': 0.9999},
}
U = {
    'title': {'same': 0.452076, 'very_similar': 0.018166, 'similar': 0.001038, 'some': 0.177163, 'different': 0.351557},
    'start': {'exact': 0.475433, 'date_only': 0.000519, 'hours_same_place': 0.159343, 'hours': 0.364706},
    'venue': {'same': 0.177163, 'similar': 0.001038, 'weak': 0.001557, 'different': 0.743772, 'unknown': 0.076471},
    'address': {'same': 0.177163, 'different': 0.745329, 'unknown': 0.077509},
    'link': {'shared': 5.2e-05, 'different': 0.998962, 'unknown': 0.000986},
    'online': {'both': 0.000311, 'mixed': 0.000208, 'neither': 0.999481},
}
PRIOR = 0.722814
THRESHOLD = 3.5

WEIGHTS = {f: {lv: math.log2(M[f][lv] / U[f][lv]) for lv in M[f]} for f in M}
PRIOR_WEIGHT = math.log2(PRIOR / (1 - PRIOR))
