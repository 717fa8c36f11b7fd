"""AttentionView: the query × key attention pattern of selected heads on one prompt."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import traitlets

from headwidgets.interventions import Intervention, check_spec
from headwidgets.vocab import check_heads
from headwidgets.widgets._base import LiveWidget
from headwidgets.widgets._common import css, esm, float32_buffer
from headwidgets.widgets.live import LiveRun

if TYPE_CHECKING:
    from headwidgets.model import HeadModel


class AttentionView(LiveWidget):
    """Attention patterns (query × key) of the selected heads, with token labels on both axes.

    Hover a query token to see what it attends to. With an :attr:`intervention` set, the
    patterns come from the intervened run (``run="intervened"``, the default): edits in
    early layers change the patterns of later heads, and edits inside attention (sink,
    temperature, mix, window) change the edited head's own pattern. ``run="both"`` draws the
    baseline pattern beside the intervened one.

    Parameters
    ----------
    hm
        A bound model.
    prompt
        The prompt text.
    heads
        Heads to show, ``[(layer, head), ...]``; one tab each.
    run
        ``"intervened"``, ``"baseline"`` or ``"both"`` (baseline left, intervened right).
    intervention
        The edits of the intervened run (default none).
    live
        A :class:`~headwidgets.widgets.LiveRun` of the same prompt to share with other views
        (one forward per change for all of them; what Explorer does).

    Example
    -------
    >>> view = AttentionView(hm, "a b c d a b c d", heads=[(1, 0), (1, 3)])   # doctest: +SKIP
    >>> view.pattern(1, 0).shape                                             # doctest: +SKIP
    (8, 8)
    """

    _esm = esm("attentionview.js")
    _css = css()

    prompt = traitlets.Unicode(help="The prompt text (str).").tag(sync=True)
    heads = traitlets.List(
        traitlets.List(traitlets.Int(), minlen=2, maxlen=2),
        help="Heads shown, [[layer, head], ...]. Default [].",
    ).tag(sync=True)
    active = traitlets.Int(0, help="Index into heads of the pattern shown (int, default 0).").tag(
        sync=True
    )
    run = traitlets.Enum(
        ("intervened", "baseline", "both"),
        default_value="intervened",
        help="Which run's patterns: 'intervened' (default), 'baseline' or 'both' side by side.",
    ).tag(sync=True)
    intervention = traitlets.Instance(
        Intervention, help="The edits of the intervened run (Intervention). Not synced."
    )
    error = traitlets.Unicode("", help="The last error ('' = none).").tag(sync=True)
    _tokens = traitlets.List(traitlets.Unicode(), help="Text of each position.").tag(sync=True)
    _patterns = traitlets.Bytes(help="float32 (n_heads, T, T) patterns of `heads`.").tag(sync=True)
    _baseline = traitlets.Bytes(
        help="With run 'both': float32 (n_heads, T, T) baseline patterns of `heads`, else empty."
    ).tag(sync=True)
    _shape = traitlets.List(traitlets.Int(), help="[n_heads, T, T].").tag(sync=True)

    def __init__(
        self,
        hm: HeadModel,
        prompt: str,
        *,
        heads: Iterable[Any] = (),
        run: str = "intervened",
        intervention: Intervention | None = None,
        live: LiveRun | None = None,
    ) -> None:
        self.hm = hm
        self._live = live
        self._ready = False
        super().__init__(
            prompt=prompt,
            heads=list(heads),
            run=run,
            intervention=intervention if intervention is not None else Intervention(),
        )
        self._ready = True
        self.refresh()

    @traitlets.validate("heads")
    def _check_heads(self, proposal: Any) -> list[list[int]]:
        return [list(h) for h in check_heads(proposal["value"], self.hm.n_layers, self.hm.n_heads)]

    @traitlets.validate("intervention")
    def _check_intervention(self, proposal: Any) -> Intervention:

        check_spec(proposal["value"], self.hm.n_layers, self.hm.n_heads)
        return proposal["value"]

    @traitlets.observe("prompt", "heads", "run", "intervention")
    def _changed(self, change: Any) -> None:
        if self._ready:
            self.refresh()

    @property
    def live(self) -> LiveRun:
        """The cached runs of this prompt."""
        if self._live is None or self._live.prompt != self.prompt:
            self._live = LiveRun(self.hm, self.prompt)
        return self._live

    def _all_patterns(self, baseline: bool = False) -> Any:
        """(L, H, T, T) patterns of the chosen run (a torch tensor, cached by the run)."""
        spec = None if baseline or self.run == "baseline" else self.intervention
        out = self.live.outputs(spec or None, patterns=True)
        assert out.patterns is not None
        return out.patterns

    def patterns(self, baseline: bool = False) -> np.ndarray:
        """Patterns of :attr:`heads`: float32 (n_heads, T, T) of the chosen run (``"both"``:
        the intervened one), or of the baseline run with ``baseline=True``."""
        if not self.heads:
            n_tokens = len(self.live)
            return np.zeros((0, n_tokens, n_tokens), dtype=np.float32)
        layers = [h[0] for h in self.heads]
        heads = [h[1] for h in self.heads]
        return self._all_patterns(baseline)[layers, heads].numpy().astype(np.float32)

    def pattern(self, layer: int, head: int) -> np.ndarray:
        """The (query, key) pattern of one head in the chosen run."""
        return self._all_patterns()[layer, head].numpy()

    def refresh(self) -> None:
        """Recompute and send the patterns; errors are shown in the widget and raised."""
        with self._showing_errors():
            data, shape = float32_buffer(self.patterns())
            base = float32_buffer(self.patterns(baseline=True))[0] if self.run == "both" else b""
            tokens = self.live.tokens
        with self.hold_sync():
            self.error = ""
            self._tokens = tokens
            self._shape = shape
            self._patterns = data
            self._baseline = base
            if self.active >= max(1, len(self.heads)):
                self.active = max(0, len(self.heads) - 1)
