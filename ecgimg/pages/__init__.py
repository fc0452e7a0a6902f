"""ecgimg.pages: the dataset-driven batch renderer behind `ecg-render` (records -> pages or shards).

`render` stays a pure signal -> page library; this package finds records through `ecgimg.data`,
renders them in worker processes, encodes them fast (`encode`) and writes loose files or
WebDataset shards (`write`, format in `ecgimg.data.shards`).
"""
