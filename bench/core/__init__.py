"""The ground floor: the words every other part of the bench shares.

Units and sizes (`units`), paths of the repository and its binaries (`paths`),
targets and the processes serving them (`targets`), profiles (`profiles`),
markdown tables (`tables`), small statistics (`numbers`) and the one poll loop
(`polling`). Nothing here imports another part of the bench, so every package
can import it and imports only go down.
"""
