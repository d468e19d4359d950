"""The variant farm: the benchmark farm's second generator, with realistic variation.

Where `benchmarks/farm.py` writes every copy of an event with a handful of known edits, this
generator gives every source an *author* drawn from a catalogue of how real sources write the
same event (benchmarks/variants/catalogue.py, documented with where each class was seen in
benchmarks/VARIATION.md). Each event's copies are rendered by differently-behaving authors;
the truth keeps which records are the same real event, each event's exact start, end,
all-day flag, status and place, and which posts are not events at all.

    python -m benchmarks.run --variants --seed 1001          # generate, serve, run, score
    python -m benchmarks.variants.generate OUT_DIR --seed 1  # only write a farm (files, farm.json, truth.json)

Tuning seeds and held-out seeds: see benchmarks/README.md ("The variant farm").
"""
