"""The shipped sample dataset and the script that generates it (``python -m
producers.market.data.generate``)."""
