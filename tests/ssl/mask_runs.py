"""Test helper: lengths of the runs of True in a boolean mask row."""


def true_runs(row) -> list[int]:
    runs, current = [], 0
    for value in list(row.tolist()) + [False]:
        if value:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    return runs
