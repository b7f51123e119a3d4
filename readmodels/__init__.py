"""Read models: the documents the projector writes and typed queries over them."""
