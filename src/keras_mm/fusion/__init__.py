"""Layers that combine the features of several modalities."""

import keras

from keras_mm.fusion.bilinear_fusion import BilinearFusion
from keras_mm.fusion.concat_fusion import ConcatFusion
from keras_mm.fusion.cross_attention_fusion import CrossAttentionFusion
from keras_mm.fusion.film_fusion import FiLMFusion
from keras_mm.fusion.gated_fusion import GatedFusion
from keras_mm.fusion.late_fusion import LateFusion
from keras_mm.fusion.query_fusion import QueryFusion
from keras_mm.fusion.token_fusion import TokenFusion

_FUSIONS = {
    "bilinear": BilinearFusion,
    "concat": ConcatFusion,
    "cross_attention": CrossAttentionFusion,
    "film": FiLMFusion,
    "gated": GatedFusion,
    "late": LateFusion,
    "query": QueryFusion,
    "tokens": TokenFusion,
}


def get(identifier, **kwargs):
    """Returns a new fusion layer by name, or `identifier` if it is a layer.

    Args:
        identifier: str or `keras.layers.Layer`. One of `"bilinear"`, `"concat"`,
            `"cross_attention"`, `"film"`, `"gated"`, `"late"`, `"query"`,
            `"tokens"`;
            a layer instance is returned as is (`kwargs` are then ignored).
        **kwargs: constructor arguments of the named class, for example
            `hidden_dim`.

    Returns:
        A fusion layer.

    Raises:
        ValueError: for an unknown name.

    Examples:
    >>> layer = keras_mm.fusion.get("gated", hidden_dim=8)
    >>> type(layer).__name__
    'GatedFusion'
    >>> keras_mm.fusion.get("sum", hidden_dim=8)
    Traceback (most recent call last):
    ...
    ValueError: Unknown fusion 'sum'. Expected one of: 'bilinear', 'concat', 'cross_attention', 'film', 'gated', 'late', 'query', 'tokens', or a keras.layers.Layer instance.
    """  # noqa: E501
    if isinstance(identifier, keras.layers.Layer):
        return identifier
    if not isinstance(identifier, str) or identifier not in _FUSIONS:
        expected = ", ".join(repr(key) for key in sorted(_FUSIONS))
        raise ValueError(
            f"Unknown fusion {identifier!r}. Expected one of: {expected}, "
            "or a keras.layers.Layer instance."
        )
    return _FUSIONS[identifier](**kwargs)
