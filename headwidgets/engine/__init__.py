"""The engine: a bound model run through one path (tensors in, tensors out; no xarray).

Modules, from the bottom:

- ``caches.py`` — the one bounded LRU cache every cache of a bound model is
- ``forward.py`` — THE forward, THE greedy-generation loop and THE padder of the package
- ``graphs.py`` — CUDA graphs of batched forwards (captured on second use, replayed)
- ``binding.py`` — ``Binding``: model + tokenizer, head layout, tokens, caches, ``forward``
- ``sites.py`` — ``Sites``: edits and reads at the head output and inside attention
- ``batching.py`` — ``Batching``: N specs as one forward (grown batch, chunks, OOM retry)
- ``core.py`` — ``Engine``: ``run`` and ``generate``
- ``refresh.py`` — ``Refresher``: one prompt re-run under changing edits (static buffers)

``hw.HeadModel`` (``headwidgets/model.py``) is ``Engine`` with the cube-returning ``sweep``
and ``capture``. Nothing in this package imports xarray, the scores or the widgets
(``tests/test_architecture.py`` checks it).
"""
