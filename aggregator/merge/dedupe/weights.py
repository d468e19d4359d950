"""Fellegi–Sunter weights of the comparisons (see compare.py). Generated: do not edit by hand.

Re-estimate with `python -m benchmarks.dedupe_weights` (labelled farm data, tuning seeds only:
101, 102, 103). M[field][level]: share of true duplicate pairs on that level; U: share of
candidate pairs that are different events. WEIGHTS = log2(M/U). PRIOR: share of candidate pairs
that are duplicates. THRESHOLD: the match weight (bits) a pair needs.
"""

import math

M = {
    'title': {'same': 0.995545, 'very_similar': 0.00198, 'similar': 0.001485, 'some': 0.000693, 'different': 0.000297},
    'start': {'exact': 0.888991, 'date_only': 0.000297, 'hours_same_place': 0.098568, 'hours': 0.012144},
    'venue': {'same': 0.910279, 'similar': 0.001485, 'weak': 0.000495, 'different': 0.000198, 'unknown': 0.087543},
    'address': {'same': 0.911269, 'different': 0.000198, 'unknown': 0.088533},
    'link': {'shared': 0.039683, 'different': 0.959327, 'unknown': 0.00099},
    'online': {'both': 0.000198, 'mixed': 5e-05, 'neither': 0.999752},
}
U = {
    'title': {'same': 0.469927, 'very_similar': 0.000495, 'similar': 0.00099, 'some': 0.176805, 'different': 0.351783},
    'start': {'exact': 0.475372, 'date_only': 0.000495, 'hours_same_place': 0.159396, 'hours': 0.364737},
    'venue': {'same': 0.1772, 'similar': 0.00099, 'weak': 0.001485, 'different': 0.743914, 'unknown': 0.076411},
    'address': {'same': 0.1772, 'different': 0.745399, 'unknown': 0.077401},
    'link': {'shared': 5e-05, 'different': 0.99896, 'unknown': 0.00099},
    'online': {'both': 0.000297, 'mixed': 0.000198, 'neither': 0.999505},
}
PRIOR = 0.722814
THRESHOLD = 0.5

WEIGHTS = {f: {lv: math.log2(M[f][lv] / U[f][lv]) for lv in M[f]} for f in M}
PRIOR_WEIGHT = math.log2(PRIOR / (1 - PRIOR))
