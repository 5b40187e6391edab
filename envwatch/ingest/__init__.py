"""The jobs of an ingest run, one module each; `envwatch.pipeline` puts them together.

- `files`: local files and folders, read safely (regular files only, never through a link)
- `window`: which days a windowed source fetches, from the ledger
- `fetch`: the payloads of a run, fetched lazily (a day, a page or a file at a time)
- `normalise`: canonical units and times; future-dated and implausible values rejected
- `run`: one run's walk over its payloads (archive, read, normalise, upsert, derive)
- `withdraw`: take a bad payload's values back out
"""
